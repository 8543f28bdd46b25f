"""The two routes a crowd hits, check-in and check-out, dispatched before Starlette's router.

Routing, the dependency solver and the middleware stack took about a quarter of a worker's CPU
on a check-in (docs/benchmarks.md). Here those two paths are matched by a regular expression and
call the very handlers of the FastAPI routes, which stay registered for the OpenAPI description.
Answers, errors and the latency metric are the same as through the router.
"""

import re

from starlette.requests import Request

from occupancy.accounts.guard import principal_or_none
from occupancy.errors import DomainError, error_response
from occupancy.visits import endpoints

CHECK_IN_PATH = "/api/venues/{code}/check-ins"
CHECK_OUT_PATH = "/api/tickets/{ticket}/check-out"
_CHECK_IN = re.compile(r"/api/venues/([^/]+)/check-ins")
_CHECK_OUT = re.compile(r"/api/tickets/([^/]+)/check-out")


async def _check_in(request: Request, code: str):
    return await endpoints.check_in(code, request)


async def _check_out(request: Request, ticket: str):
    return await endpoints.check_out(ticket, request, await principal_or_none(request))


class HotRoutes:
    """Pure ASGI middleware: serves the hot POSTs itself and passes everything else on."""

    def __init__(self, app) -> None:
        self.app = app
        by_path = {getattr(route, "path", None): route for route in endpoints.router.routes}
        # (pattern, handler, the router's own route: the metric is labelled by its template)
        self._hot = [(_CHECK_IN, _check_in, by_path[CHECK_IN_PATH]),
                     (_CHECK_OUT, _check_out, by_path[CHECK_OUT_PATH])]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for pattern, handler, route in self._hot:
                if match := pattern.fullmatch(path):
                    scope["route"] = route
                    await self._serve(scope, receive, send, handler, match[1])
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(scope, receive, send, handler, param: str) -> None:
        request = Request(scope, receive)
        try:
            response = await handler(request, param)
        except DomainError as exc:
            response = error_response(exc)
        await response(scope, receive, send)
