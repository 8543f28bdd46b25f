"""The two routes a crowd hits, check-in and check-out, dispatched before Starlette's router.

Routing, the dependency solver and the middleware stack took about a quarter of a worker's CPU
on a check-in (docs/benchmarks.md). Here those two paths are matched by the routes' own compiled
patterns and go to the very handlers of the FastAPI routes, which stay registered for the
OpenAPI description.
Answers, errors and the latency metric are the same as through the router.
"""

from starlette.requests import Request

from occupancy.accounts.guard import principal_or_none
from occupancy.errors import DomainError, error_response
from occupancy.visits import endpoints


async def _check_in(request: Request, code: str):
    return await endpoints.check_in(code, request)


async def _check_out(request: Request, ticket: str):
    return await endpoints.check_out(ticket, request, await principal_or_none(request))


# By the router's own path templates: their compiled patterns and parameter names are used here.
HANDLERS = {"/api/venues/{code}/check-ins": _check_in, "/api/tickets/{ticket}/check-out": _check_out}


class HotRoutes:
    """Pure ASGI middleware: serves the hot POSTs itself and passes everything else on."""

    def __init__(self, app) -> None:
        self.app = app
        # (the router's route: its pattern, and its template labels the metric; our handler)
        self._hot = [(route, HANDLERS[route.path]) for route in endpoints.router.routes
                     if getattr(route, "path", None) in HANDLERS]
        if len(self._hot) != len(HANDLERS):
            raise RuntimeError("a hot route is no longer in the visits router")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for route, handler in self._hot:
                if match := route.path_regex.match(path):
                    scope["route"] = route
                    await self._serve(scope, receive, send, handler, match.groupdict())
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(scope, receive, send, handler, params: dict[str, str]) -> None:
        request = Request(scope, receive)
        try:
            response = await handler(request, **params)
        except DomainError as exc:
            response = error_response(exc)
        await response(scope, receive, send)
