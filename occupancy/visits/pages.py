"""The visitor's HTML pages: the venue page a QR code opens, and a plain landing page.

The pages are server-rendered in the visitor's language and talk to the JSON API from the
browser; a bad or unknown venue code gets a friendly page, not JSON.
"""

import logging
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from occupancy import i18n
from occupancy.accounts.permissions import Public
from occupancy.deps import ServicesDep, venue_by_signed_code
from occupancy.kit.security_headers import page_headers
from occupancy.params import SignedCode
from occupancy.venues.errors import ForgedVenueCode, UnknownVenue
from occupancy.visits.endpoints import level

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# The page loads only its own script, style and API; nothing else may run or be framed.
_HEADERS = page_headers("no-cache")
_COOKIE_SECONDS = 365 * 24 * 3600


@lru_cache
def _templates(directory: Path) -> Jinja2Templates:
    return Jinja2Templates(directory=directory)


def _render(request: Request, name: str, lang: str, context: dict, status_code: int = 200) -> HTMLResponse:
    templates = _templates(request.app.state.settings.web_dir / "templates")
    t = i18n.texts(lang)
    response = templates.TemplateResponse(
        request, name, {"t": t, "lang": lang, **context}, status_code=status_code,
        headers=_HEADERS,
    )
    requested = request.query_params.get("lang")
    if requested in i18n.TEXTS and request.cookies.get(i18n.COOKIE) != requested:
        response.set_cookie(i18n.COOKIE, requested, max_age=_COOKIE_SECONDS, samesite="lax")
    return response


def _language(request: Request) -> str:
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE))


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request, _: Public) -> HTMLResponse:
    return _render(request, "visitor/landing.html", _language(request), {})


@router.get("/v/{code}", response_class=HTMLResponse)
async def venue_page(code: SignedCode, request: Request, svc: ServicesDep, _: Public) -> HTMLResponse:
    """What a phone shows after scanning a venue's QR code."""
    lang = _language(request)
    try:
        venue = await venue_by_signed_code(svc, code)
    except (ForgedVenueCode, UnknownVenue) as exc:
        return _render(request, "visitor/error.html", lang, {"error": exc.code}, status_code=exc.status)
    try:
        live = await svc.visits.occupancy(venue.id)
        count, capacity, paused = live.count, live.capacity, live.paused
    except Exception as exc:
        # The page still works: its script reads the live numbers as soon as Redis answers.
        log.warning("could not read the occupancy of venue %s (%s)", venue.id, type(exc).__name__)
        count, capacity, paused = None, venue.capacity, venue.paused
    state = {
        "count": count,
        "capacity": capacity,
        "level": level(count, capacity) if count is not None else "unknown",
        "paused": paused,
    }
    page = {
        "signed_code": code,
        "venue": {"code": venue.code, "name": venue.name, "max_party": venue.max_party,
                  "max_stay_minutes": venue.max_stay_minutes},
        "occupancy": state,
        "lang": lang,
        "timezone": request.app.state.settings.timezone,  # the ticket's times are the city's
        "texts": i18n.js_texts(lang),
    }
    return _render(request, "visitor/venue.html", lang, {
        "venue": venue,
        "category": i18n.category(lang, venue.category),
        "occupancy": state,
        "page": page,
    })
