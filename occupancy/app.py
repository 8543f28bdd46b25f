"""The ASGI application: routers, error mapping and the lifespan that owns the services."""

import contextlib
import gc
import logging

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from occupancy import ops
from occupancy.accounts import permissions
from occupancy.bookings import endpoints as booking_endpoints
from occupancy.city import endpoints as city_endpoints
from occupancy.errors import install_error_handlers
from occupancy.hot_routes import HotRoutes
from occupancy.kit import logs
from occupancy.kit.limits import BodyLimit
from occupancy.line import endpoints as line_endpoints
from occupancy.live import pages as live_pages
from occupancy.live import sockets as live_sockets
from occupancy.metrics import LatencyMiddleware
from occupancy.privacy import endpoints as tracing_endpoints
from occupancy.services import Services
from occupancy.settings import Settings, get_settings, refuse_unsafe_start
from occupancy.venues import endpoints as venue_endpoints
from occupancy.venues import manage as venue_manage
from occupancy.visits import endpoints as visit_endpoints
from occupancy.visits import pages as visit_pages
from occupancy.web import api_docs

log = logging.getLogger(__name__)


class OccupancyApp(FastAPI):
    """FastAPI, with check-in and check-out served before its middleware stack (see hot_routes)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hot_routes = HotRoutes()

    async def __call__(self, scope, receive, send) -> None:
        if (hot := self.hot_routes.match(scope)) is not None:
            scope["app"] = self
            await self.hot_routes.serve(scope, receive, send, *hot)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        refuse_unsafe_start(settings)
        app.state.services = await Services.start(settings)
        # What start-up made lives as long as the process: keep it out of every GC pass,
        # which shortens the pauses that show up in the check-in's tail latency.
        gc.freeze()
        # The youngest generation is collected every 10,000 allocations instead of 700: most of a
        # request's objects are gone by then, so far fewer reach the oldest generation, whose
        # full passes took 40-70 ms each with 1,000 dashboards open (docs/benchmarks/history/2026-11.md).
        gc.set_threshold(10_000, 10, 10)
        try:
            yield
        finally:
            await app.state.services.stop()

    app = OccupancyApp(
        title="occupancy",
        summary="Real-time venue occupancy and check-in for a city",
        version="0.1.0",
        lifespan=lifespan,
        # Prometheus is the metrics here; FastAPI's OpenTelemetry hooks would be checked per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None, redoc_url=None,  # /docs is served by web.api_docs, without a CDN
    )
    app.state.settings = settings
    install_error_handlers(app)
    # A page's or socket's permission refuses with a page or a close code, not JSON.
    app.add_exception_handler(permissions.PageRefused, live_pages.refused)
    app.add_exception_handler(permissions.SocketRefused, live_sockets.refused)
    app.include_router(visit_endpoints.router)
    app.include_router(venue_endpoints.router)
    app.include_router(venue_manage.router)
    app.include_router(booking_endpoints.router)
    app.include_router(booking_endpoints.cancellations)
    app.include_router(line_endpoints.router)
    app.include_router(city_endpoints.router)
    app.include_router(tracing_endpoints.router)
    app.include_router(live_sockets.router)
    app.include_router(ops.router)
    app.include_router(live_pages.router)
    app.include_router(visit_pages.router)
    api_docs.install(app)
    static = settings.web_dir / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")
    # Every route declares who may call it (accounts.permissions); these take no dependencies:
    # the static files and FastAPI's own OpenAPI description and its viewers are open.
    for route in app.routes:
        if getattr(route, "path", None) in ("/static", app.openapi_url, app.docs_url, app.redoc_url,
                          app.swagger_ui_oauth2_redirect_url):
            permissions.declare_open(route)
    # The hot routes are served before this stack and bound their own bodies (kit.http.read_json).
    app.add_middleware(BodyLimit, max_bytes=settings.max_other_body_bytes)
    app.add_middleware(LatencyMiddleware)
    return app
