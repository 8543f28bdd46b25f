"""The routes a crowd hits, check-in and check-out, served before FastAPI's own machinery.

Routing, the dependency solver and the middleware stack took about a quarter of a worker's CPU
on a check-in (docs/benchmarks/history/2026-11.md); the middleware stack alone about 5 % after
that. Here those paths are matched by the routes' own compiled patterns and go to the very endpoints of the
FastAPI routes, which stay registered for the OpenAPI description. Answers, errors and the
latency metric are the same as through the stack (``OccupancyApp`` in ``occupancy.app`` calls this).

The endpoints' dependencies (the services, who may) are the ones their signatures declare:
``plan`` reads them from the route once, at start-up, and refuses to start on one it cannot call
the way FastAPI would, so that no dependency added to these routes is silently skipped here.
"""

import time
from asyncio import iscoroutinefunction

from fastapi.dependencies.models import Dependant
from starlette.requests import Request

from occupancy import metrics
from occupancy.errors import as_domain_error, error_response
from occupancy.visits import endpoints

# By the router's own path templates: their compiled patterns and parameter names are used here.
HOT_PATHS = ("/api/venues/{code}/check-ins", "/api/check-outs", "/api/tickets/{ticket}/check-out")


class Unplannable(RuntimeError):
    """A hot route declares something that only FastAPI's solver knows how to provide."""


def plan(route, dependant: Dependant | None = None, steps: list | None = None,
         done: dict | None = None) -> list:
    """The calls that serve ``route``: its dependencies first, in FastAPI's order and each once
    (as FastAPI caches them in a request), then its endpoint. Only what the hot routes can give as
    FastAPI would is allowed: the request, string path parameters as sent, and async dependencies
    of those. Each call is (function, arguments); an argument is (name, index) in the values of
    a request: the request, then the path's parameters, then each call's answer in turn."""
    dependant = route.dependant if dependant is None else dependant
    steps = [] if steps is None else steps
    done = {} if done is None else done
    values_before = 1 + route.path_regex.groups  # the request and the path's parameters
    where = f"hot route dependency {getattr(dependant.call, '__qualname__', dependant.call)}"
    if (dependant.query_params or dependant.header_params or dependant.cookie_params
            or dependant.body_params or dependant.websocket_param_name
            or dependant.response_param_name or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name or dependant.own_oauth_scopes
            or getattr(dependant, "concurrency", None) is not None):
        raise Unplannable(f"{where}: only the request, path parameters and dependencies are served")
    if not iscoroutinefunction(dependant.call):
        raise Unplannable(f"{where}: must be an async def (not a generator, nor run in a thread)")
    args = []
    for sub in dependant.dependencies:
        if not sub.use_cache:
            raise Unplannable(f"{where}: a dependency that is not cached per request")
        if sub.call not in done:
            plan(route, sub, steps, done)
            done[sub.call] = values_before + len(steps) - 1
        if sub.name is not None:
            args.append((sub.name, done[sub.call]))
    for field in dependant.path_params:
        # FastAPI would validate and convert it; here it is passed as sent (see occupancy.params).
        if field.field_info.annotation is not str or field.field_info.metadata:
            raise Unplannable(f"{where}: path parameter {field.name} must be a plain str")
        args.append((field.name, route.path_regex.groupindex[field.alias]))
    for name in (dependant.request_param_name, dependant.http_connection_param_name):
        if name is not None:
            args.append((name, 0))
    steps.append((dependant.call, tuple(args)))
    return steps


async def run(steps: list, request: Request, path_values: tuple[str, ...]):
    """Makes the planned calls; the last one's answer (the endpoint's response) is returned."""
    values = [request, *path_values]
    for call, args in steps:
        kwargs = {}
        for name, index in args:
            kwargs[name] = values[index]
        values.append(await call(**kwargs))
    return values[-1]


class HotRoutes:
    def __init__(self) -> None:
        # (the router's route: its pattern, and its template labels the metric; its planned calls)
        self._hot = [(route, plan(route), metrics.REQUEST_SECONDS.labels("POST", route.path))
                     for route in endpoints.router.routes if getattr(route, "path", None) in HOT_PATHS]
        if len(self._hot) != len(HOT_PATHS):
            raise RuntimeError("a hot route is no longer in the visits router")

    def match(self, scope) -> tuple | None:
        """(route, planned calls, timer, path parameters) if ``scope`` is a hot POST, else None."""
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for route, steps, timer in self._hot:
                if match := route.path_regex.match(path):
                    return route, steps, timer, match.groups()
        return None

    @staticmethod
    async def serve(scope, receive, send, route, steps, timer, path_values: tuple[str, ...]) -> None:
        start = time.perf_counter()
        scope["route"] = route
        try:
            try:
                response = await run(steps, Request(scope, receive), path_values)
            except Exception as exc:  # as the app's exception handlers would answer it
                response = error_response(as_domain_error(exc, f"POST {route.path}"))
            await response(scope, receive, send)
        finally:
            timer.observe(time.perf_counter() - start)
