"""The two routes a crowd hits, check-in and check-out, served before FastAPI's own machinery.

Routing, the dependency solver and the middleware stack took about a quarter of a worker's CPU
on a check-in (docs/benchmarks.md); the middleware stack alone about 5 % after that. Here those
two paths are matched by the routes' own compiled patterns and go to the very handlers of the
FastAPI routes, which stay registered for the OpenAPI description. Answers, errors and the
latency metric are the same as through the stack (``OccupancyApp`` in ``occupancy.app`` calls this).
"""

import time

from starlette.requests import Request

from occupancy import metrics
from occupancy.accounts.guard import principal_or_none
from occupancy.errors import as_domain_error, error_response
from occupancy.visits import endpoints


async def _check_in(request: Request, code: str):
    return await endpoints.check_in(code, request)


async def _check_out(request: Request, ticket: str):
    return await endpoints.check_out(ticket, request, await principal_or_none(request))


# By the router's own path templates: their compiled patterns and parameter names are used here.
HANDLERS = {"/api/venues/{code}/check-ins": _check_in, "/api/tickets/{ticket}/check-out": _check_out}


class HotRoutes:
    def __init__(self) -> None:
        # (the router's route: its pattern, and its template labels the metric; our handler)
        self._hot = [(route, HANDLERS[route.path], metrics.REQUEST_SECONDS.labels("POST", route.path))
                     for route in endpoints.router.routes if getattr(route, "path", None) in HANDLERS]
        if len(self._hot) != len(HANDLERS):
            raise RuntimeError("a hot route is no longer in the visits router")

    def match(self, scope) -> tuple | None:
        """(route, handler, timer, path parameters) if ``scope`` is a hot POST, else None."""
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for route, handler, timer in self._hot:
                if match := route.path_regex.match(path):
                    return route, handler, timer, match.groupdict()
        return None

    @staticmethod
    async def serve(scope, receive, send, route, handler, timer, params: dict[str, str]) -> None:
        start = time.perf_counter()
        scope["route"] = route
        try:
            try:
                response = await handler(Request(scope, receive), **params)
            except Exception as exc:  # as the app's exception handlers would answer it
                response = error_response(as_domain_error(exc, f"POST {route.path}"))
            await response(scope, receive, send)
        finally:
            timer.observe(time.perf_counter() - start)
