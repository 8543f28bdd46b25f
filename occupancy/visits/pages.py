"""The visitor's HTML pages: the venue page a QR code opens, and a plain landing page.

The pages are server-rendered in the visitor's language and talk to the JSON API from the
browser; a bad or unknown venue code gets a friendly page, not JSON.
"""

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from occupancy.accounts.permissions import Public
from occupancy.bookings.pages import booking_page
from occupancy.deps import ServicesDep, venue_by_signed_code
from occupancy.params import SignedCode
from occupancy.venues.errors import ForgedVenueCode, UnknownVenue
from occupancy.visits.crowd import crowd_level_with_line
from occupancy.web import language, render, texts

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

_render = render.VISITOR.render


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request, _: Public) -> HTMLResponse:
    return _render(request, "landing.html", {})


@router.get("/v/{code}", response_class=HTMLResponse)
async def venue_page(code: SignedCode, request: Request, svc: ServicesDep, _: Public) -> HTMLResponse:
    """What a phone shows after scanning a venue's QR code."""
    try:
        venue = await venue_by_signed_code(svc, code)
    except (ForgedVenueCode, UnknownVenue) as exc:
        return _render(request, "error.html", {"error": exc.code}, status_code=exc.status)
    try:
        live = await svc.visits.occupancy(venue.id)
        count, capacity, paused = live.count, live.capacity, live.paused
        waiting, offered = live.waiting, live.offered
    except Exception as exc:
        # The page still works: its script reads the live numbers as soon as Redis answers.
        log.warning("could not read the occupancy of venue %s (%s)", venue.id, type(exc).__name__)
        count, capacity, paused, waiting, offered = None, venue.capacity, venue.paused, 0, 0
    state = {
        "count": count,
        "capacity": capacity,
        "level": crowd_level_with_line(count, capacity, waiting, offered),
        "paused": paused,
    }
    page = {
        "signed_code": code,
        "venue": {"code": venue.code, "name": venue.name, "max_party": venue.max_party,
                  "max_stay_minutes": venue.max_stay_minutes},
        "occupancy": state,
        "booking": await booking_page(svc, venue.id, venue.max_party),
    }
    return _render(request, "venue.html", {
        "venue": venue,
        "category": texts.category(language.choose(request), venue.category),
        "occupancy": state,
        "page": page,
        "booking": page["booking"],
        "reopens": _reopens(venue.reopens_at, request) if venue.paused else None,
        # Opened from the poster rather than the door screen: say where the check-in happens.
        "door_screen_needed": venue.door_code_required and "door" not in request.query_params,
    })


def _reopens(at, request: Request) -> str | None:
    """When a paused venue expects to reopen, on the city's clock, as the page's language writes
    times (14.00 / 14:00); with the date when it is not within the day."""
    if at is None:
        return None
    local = at.astimezone(ZoneInfo(request.app.state.settings.timezone))
    clock = local.strftime("%H.%M" if language.choose(request) == "id" else "%H:%M")
    soon = local - datetime.now(local.tzinfo) < timedelta(hours=20)
    return clock if soon else f"{local:%d/%m} {clock}"
