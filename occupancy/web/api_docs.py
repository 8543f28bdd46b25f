"""The API's documentation page (Swagger UI) with its script served by the app itself: FastAPI's
own page loads it from a CDN, which leaves ``/docs`` blank without internet. The files come from
the ``fastapi-offline`` package (Swagger UI 5). No ReDoc page: its bundle loads a logo from a CDN."""

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from occupancy.accounts.permissions import Public, declare_open

ASSETS_URL = "/static-docs"
_ASSETS = Path(fastapi_offline.__file__).parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(_: Public) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="occupancy API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png")


def install(app: FastAPI) -> None:
    """The pages, and their files: open to all, like the OpenAPI description they show."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=_ASSETS), name="docs-assets")
    declare_open(app.routes[-1])
