"""HTML routes of the live pages: login, manager dashboard, door screen, door display, city view.

The routes only check who may see a page and render a template; the numbers arrive from the
WebSockets (``docs/live-protocol.md``) and the controls call the JSON API from the browser.
The credential is an operator-issued token pasted once on ``/login`` and kept in an HttpOnly,
SameSite=Strict cookie that the page's fetches and sockets send along (same origin); the login
and logout forms refuse posts from other sites.
"""

import time
from datetime import datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from occupancy.accounts import login_attempts, users
from occupancy.accounts.guard import COOKIE as TOKEN_COOKIE
from occupancy.accounts.permissions import (
    DoorStaffPage,
    HealthOfficialPage,
    OfficialPage,
    PageRefused,
    Public,
    VenueWatcherPage,
)
from occupancy.accounts.service import Principal, end_session, open_session
from occupancy.bookings.pages import booking_page
from occupancy.deps import ServicesDep, venue_by_signed_code
from occupancy.errors import Unauthorized
from occupancy.params import SignedCode, VenueId
from occupancy.services import Services
from occupancy.stats.calendar import local_date
from occupancy.venues import signing
from occupancy.venues.errors import ForgedVenueCode, UnknownVenue
from occupancy.venues.service import VenueInfo
from occupancy.web import language, render, texts

router = APIRouter(include_in_schema=False)

# A page session lasts a working day (and never longer than the token it was opened with).
_SESSION_HOURS = 12
_MAX_FORM_BYTES = 2048

# Every page here is a staff page: its templates, texts and headers are web.render.STAFF's.
_render = render.STAFF.render
_language = language.choose


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site may follow a login (no open redirect to another host)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    return target


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


def _forbidden(request: Request) -> HTMLResponse:
    return _render(request, "forbidden.html", {"next": request.url.path}, status_code=403)


async def refused(request: Request, exc: PageRefused) -> Response:
    """A page's permission refused (``accounts.permissions``): the login page without a usable
    cookie, the error page for a venue code that names none, else the forbidden page."""
    if isinstance(exc.error, Unauthorized):
        return _to_login(request)
    if isinstance(exc.error, (ForgedVenueCode, UnknownVenue)):
        return _not_found(request, exc.error)
    return _forbidden(request)


def _not_found(request: Request, exc: ForgedVenueCode | UnknownVenue) -> HTMLResponse:
    return _render(request, "error.html", {"error": exc.code}, status_code=404)


def _venue_page_data(venue: VenueInfo, signed_code: str) -> dict:
    return {"venue": {"id": venue.id, "code": venue.code, "name": venue.name,
                      "signed_code": signed_code, "capacity": venue.capacity,
                      "paused": venue.paused}}


# --- login -------------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, _: Public) -> HTMLResponse:
    return _render(request, "login.html", {"next": _safe_next(request.query_params.get("next"))})


async def _home_of(svc: Services, principal: Principal) -> str:
    if principal.may_see_city():
        return "/city"
    if principal.role == "manager" and principal.venue_id is not None:
        return f"/manage/venues/{principal.venue_id}"
    venue = await svc.venues.by_id(principal.venue_id)
    return f"/door/{signing.sign(svc.settings.secret_key, venue.code)}"


def _from_another_site(request: Request) -> bool:
    """A form posted to us by another site's page. Browsers say where a request comes from in
    Sec-Fetch-Site, older ones only in Origin ("null" from sandboxed frames and data: pages, so
    refused). Clients that send neither, such as curl, are not riding on anyone's cookie."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    here = f"{request.url.scheme}://{request.headers.get('host', '')}"
    public = urlsplit(request.app.state.settings.public_url)
    return origin.lower() not in (here.lower(), f"{public.scheme}://{public.netloc}".lower())


def _cross_site_refusal(request: Request) -> Response:
    return _render(request, "login.html", {"next": "", "error": "login_cross_site"}, status_code=403)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, svc: ServicesDep, _: Public) -> Response:
    # Another site must not sign a visitor in with a token of its choosing (login CSRF).
    if _from_another_site(request):
        return _cross_site_refusal(request)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:  # a token form is tiny; read no further
            break
    form = parse_qs(body[:_MAX_FORM_BYTES].decode("utf-8", "replace"))
    field = lambda name: (form.get(name) or [""])[0]  # noqa: E731
    token, username, password = field("token").strip(), field("username").strip(), field("password")
    target = _safe_next(field("next"))
    address = request.client.host if request.client else ""
    who = [address, *([f"user:{username}"] if username else [])]  # slowed per address and account
    if (wait := await login_attempts.wait_seconds(svc.redis, *who)) > 0:
        refused = _render(request, "login.html", {"next": target, "error": "login_too_many"},
                          status_code=429)
        refused.headers["Retry-After"] = str(wait)
        return refused
    async with svc.sessionmaker() as session:
        if username:
            cookie = await users.sign_in(session, username, password, _SESSION_HOURS)
        else:
            cookie = await open_session(session, token, _SESSION_HOURS) if token else None
    principal = await svc.tokens.principal(cookie) if cookie else None
    if principal is None:
        await login_attempts.failed(svc.redis, *who)
        error = "login_invalid" if token or username else "login_missing"
        return _render(request, "login.html", {"next": target, "error": error}, status_code=401)
    if principal.role == "monitor":
        return _render(request, "login.html", {"next": target, "error": "login_no_pages"},
                       status_code=403)
    response = RedirectResponse(target or await _home_of(svc, principal), status_code=303)
    # The cookie holds a session of its own, never the token: logout ends it on the server.
    response.set_cookie(
        TOKEN_COOKIE, cookie, max_age=_SESSION_HOURS * 3600, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, svc: ServicesDep, _: Public) -> Response:
    if _from_another_site(request):
        return _cross_site_refusal(request)
    if cookie := request.cookies.get(TOKEN_COOKIE):
        async with svc.sessionmaker() as session:
            await end_session(session, cookie)
        svc.tokens.forget(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- the pages ---------------------------------------------------------------------------------

@router.get("/manage/venues/{venue_id}", response_class=HTMLResponse)
async def manager_dashboard(
    venue_id: VenueId, request: Request, svc: ServicesDep, principal: VenueWatcherPage
) -> Response:
    try:
        venue = await svc.venues.by_id(venue_id)
    except UnknownVenue as exc:
        return _not_found(request, exc)
    signed_code = signing.sign(svc.settings.secret_key, venue.code)
    page = _venue_page_data(venue, signed_code)
    page["may_manage"] = principal.may_manage(venue_id)
    # The history's quick ranges, in the city's days (not the browser's).
    tz = ZoneInfo(request.app.state.settings.timezone)
    today = local_date(time.time(), tz)
    page["days"] = {"today": today.isoformat(), "yesterday": (today - timedelta(days=1)).isoformat(),
                    "tomorrow": (today + timedelta(days=1)).isoformat(),
                    "week_ago": (today - timedelta(days=6)).isoformat()}
    offset = datetime.now(tz).strftime("%z")  # a time picked on the page is the city's
    page["utc_offset"] = f"{offset[:3]}:{offset[3:]}"
    return _render(request, "manage.html", {
        "venue": venue, "signed_code": signed_code, "may_manage": page["may_manage"],
        "may_staff": principal.may_staff(venue_id),
        "may_export": principal.may_manage(venue_id) or principal.may_see_city(),
        "category": texts.categories(_language(request)).get(venue.category, venue.category),
        "page": page,
    })


@router.get("/door/{signed_code}", response_class=HTMLResponse)
async def door_screen(signed_code: SignedCode, request: Request, venue: DoorStaffPage,
                      svc: ServicesDep) -> Response:
    return _render(request, "door.html", {
        "venue": venue, "page": _venue_page_data(venue, signed_code),
        # Only a venue run by time slots gets the button for a typed booking code.
        "takes_bookings": await booking_page(svc, venue.id, venue.max_party) is not None,
    })


@router.get("/display/{signed_code}", response_class=HTMLResponse)
async def door_display(
    signed_code: SignedCode, request: Request, svc: ServicesDep, _: Public
) -> Response:
    """Public: a screen at the entrance. Shows the venue's name and its live numbers only."""
    try:
        venue = await venue_by_signed_code(svc, signed_code)
    except (ForgedVenueCode, UnknownVenue) as exc:
        return _not_found(request, exc)
    return _render(request, "display.html", {
        "venue_name": venue.name,
        "page": {"signed_code": signed_code, "capacity": venue.capacity, "venue_id": venue.id,
                 "door_code_required": venue.door_code_required},
    })


@router.get("/tracing", response_class=HTMLResponse)
async def tracing_page(request: Request, _: HealthOfficialPage) -> Response:
    """Contact tracing for health officials: the form posts to the API with the private key
    (read from a file in the browser, sent in the body, kept nowhere)."""
    today = local_date(time.time(), ZoneInfo(request.app.state.settings.timezone))
    return _render(request, "tracing.html", {"page": {
        "from": (today - timedelta(days=13)).isoformat(), "to": today.isoformat()}})


@router.get("/city", response_class=HTMLResponse)
async def city_view(request: Request, _: OfficialPage) -> Response:
    lang = _language(request)
    # The history's default range, the last seven days, in the city's days (as the history API
    # reads them), not the browser's.
    today = local_date(time.time(), ZoneInfo(request.app.state.settings.timezone))
    return _render(request, "city.html", {"city_name": request.app.state.settings.city_name, "page": {
        "categories": texts.categories(lang),
        "history_from": (today - timedelta(days=6)).isoformat(), "history_to": today.isoformat(),
    }})
