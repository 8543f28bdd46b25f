"""Who may call a route, declared in its signature: ``who: VenueManager``, ``_: Public``.

Each permission is an annotated type whose dependency finds the caller's token, checks it and
hands the route its ``Principal`` (or refuses: 401 without a usable token, 403 when the token
does not allow this). Every dependency that decides who may is registered in ``RULES``, so a test
can walk the app's routes and fail on one that declares none (``tests/test_route_rules.py``).

Where the token comes from follows the client: the JSON API reads ``Authorization: Bearer`` or
the pages' cookie; the pages read their cookie only; the sockets their cookie or a bearer header.
A page is refused with a page (the login page, the forbidden page) and a socket with a close
code: their permissions raise ``PageRefused`` or ``SocketRefused``, answered by those layers.
"""

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, WebSocket

from occupancy.accounts.guard import COOKIE, token_from
from occupancy.accounts.service import Principal
from occupancy.deps import ServicesDep, venue_by_signed_code
from occupancy.errors import DomainError, Forbidden, Unauthorized, close_code
from occupancy.params import SignedCode, Ticket, VenueId
from occupancy.venues.errors import ForgedVenueCode, UnknownVenue
from occupancy.venues.service import VenueInfo
from occupancy.visits import tickets

# Each dependency that decides who may call a route, and the rule's name (see ``rule_of``).
RULES: dict[Callable[..., Any], str] = {}


def rule(name: str):
    """Registers a dependency as the rule ``name`` of the routes that use it."""

    def register(dependency):
        RULES[dependency] = name
        return dependency

    return register


def declare_open(route) -> None:
    """Declares a route that takes no dependencies (a mount, FastAPI's own docs) open to anyone."""
    route.access_rule = "open"


def rule_of(route) -> str | None:
    """The declared rule(s) of a route or WebSocket route, e.g. "venue staff"; None if none is."""
    if declared := getattr(route, "access_rule", None):
        return declared
    names, pending = [], list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:
        dependant = pending.pop()
        if dependant.call in RULES:  # the outermost rule: "venue staff", not also "signed in"
            names.append(RULES[dependant.call])
        else:
            pending.extend(dependant.dependencies)
    return ", ".join(sorted(set(names))) or None


def watches(who: Principal, venue_id: int) -> bool:
    """Sees a venue's live state and today's figures: its staff and manager, officials, operators."""
    return who.may_staff(venue_id) or who.may_see_city()


# --- open routes ---------------------------------------------------------------------------------

@rule("open")
async def public() -> None:
    """Anyone may call the route: no token is read."""


Public = Annotated[None, Depends(public)]


async def _principal(svc, token: str | None) -> Principal | None:
    return await svc.tokens.principal(token) if token else None


@rule("open (reads a token if sent)")
async def caller(request: Request, svc: ServicesDep) -> Principal | None:
    """Anyone may call the route; a bearer token or the pages' cookie, if sent, says who."""
    return await _principal(svc, token_from(request.headers, request.cookies))


Caller = Annotated[Principal | None, Depends(caller)]


# --- the JSON API: 401 without a usable token, 403 when it does not allow this -------------------

@rule("signed in")
async def signed_in(who: Caller) -> Principal:
    if who is None:
        raise Unauthorized()
    return who


SignedIn = Annotated[Principal, Depends(signed_in)]


@rule("venue staff")
async def venue_staff(venue_id: VenueId, who: SignedIn) -> Principal:
    if not who.may_staff(venue_id):
        raise Forbidden("Only door staff or the manager of this venue may act on its visits.")
    return who


@rule("venue staff (of the ticket's venue)")
async def ticket_staff(ticket: Ticket, who: SignedIn) -> Principal:
    if not who.may_staff(tickets.venue_of(ticket)):
        raise Forbidden("Only door staff or the manager of this venue may screen its visitors.")
    return who


@rule("venue manager")
async def venue_manager(venue_id: VenueId, who: SignedIn) -> Principal:
    if not who.may_manage(venue_id):
        raise Forbidden("Only the manager of this venue or an operator may do this.")
    return who


@rule("venue staff or official")
async def venue_watcher(venue_id: VenueId, who: SignedIn) -> Principal:
    if not watches(who, venue_id):
        raise Forbidden()
    return who


@rule("venue manager or official")
async def venue_exporter(venue_id: VenueId, who: SignedIn) -> Principal:
    if not (who.may_manage(venue_id) or who.may_see_city()):
        raise Forbidden("Only the manager of this venue, officials and operators may export visits.")
    return who


@rule("official")
async def official(who: SignedIn) -> Principal:
    if not who.may_see_city():
        raise Forbidden("Only officials and operators may see the city view.")
    return who


@rule("health official")
async def health_official(who: SignedIn) -> Principal:
    """Contact tracing reveals people: officials only (not operators, who run the service)."""
    if who.role != "official":
        raise Forbidden("Only health officials may trace contacts.")
    return who


@rule("audit reader")
async def audit_reader(who: SignedIn) -> Principal:
    if not who.may_see_city():
        raise Forbidden("Only officials and operators may read the tracing audit log.")
    return who


@rule("metrics reader")
async def metrics_reader(who: SignedIn) -> Principal:
    if not who.may_read_metrics():
        raise Forbidden()
    return who


VenueStaff = Annotated[Principal, Depends(venue_staff)]
TicketStaff = Annotated[Principal, Depends(ticket_staff)]
VenueManager = Annotated[Principal, Depends(venue_manager)]
VenueWatcher = Annotated[Principal, Depends(venue_watcher)]
VenueExporter = Annotated[Principal, Depends(venue_exporter)]
Official = Annotated[Principal, Depends(official)]
MetricsReader = Annotated[Principal, Depends(metrics_reader)]
HealthOfficial = Annotated[Principal, Depends(health_official)]
AuditReader = Annotated[Principal, Depends(audit_reader)]


# --- pages: the login page without a usable cookie, the forbidden page when it does not allow ----

class PageRefused(Exception):
    """A page's permission refused: ``live.pages`` answers ``error`` with a page, not JSON."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


# Pages and sockets look the token up inside their permission, not in a dependency of it: then
# a malformed path parameter is refused (422, close 1008) before the token is asked for, as
# FastAPI checks a dependency's own parameters only after solving its dependencies.

async def _page_signed_in(request: Request, svc) -> Principal:
    who = await _principal(svc, request.cookies.get(COOKIE))
    if who is None:
        raise PageRefused(Unauthorized())
    return who


@rule("venue staff or official (page)")
async def venue_watcher_page(venue_id: VenueId, request: Request, svc: ServicesDep) -> Principal:
    who = await _page_signed_in(request, svc)
    if not watches(who, venue_id):
        raise PageRefused(Forbidden())
    return who


@rule("venue staff (page)")
async def door_staff_page(signed_code: SignedCode, request: Request, svc: ServicesDep) -> VenueInfo:
    """The venue of the door screen's signed code, for its own staff (and manager, operators)."""
    who = await _page_signed_in(request, svc)
    try:
        venue = await venue_by_signed_code(svc, signed_code)
    except (ForgedVenueCode, UnknownVenue) as exc:
        raise PageRefused(exc) from exc
    if not who.may_staff(venue.id):
        raise PageRefused(Forbidden())
    return venue


@rule("official (page)")
async def official_page(request: Request, svc: ServicesDep) -> Principal:
    who = await _page_signed_in(request, svc)
    if not who.may_see_city():
        raise PageRefused(Forbidden())
    return who


@rule("health official (page)")
async def health_official_page(request: Request, svc: ServicesDep) -> Principal:
    who = await _page_signed_in(request, svc)
    if who.role != "official":
        raise PageRefused(Forbidden())
    return who


VenueWatcherPage = Annotated[Principal, Depends(venue_watcher_page)]
HealthOfficialPage = Annotated[Principal, Depends(health_official_page)]
DoorStaffPage = Annotated[VenueInfo, Depends(door_staff_page)]
OfficialPage = Annotated[Principal, Depends(official_page)]


# --- sockets: accepted, then closed with 4401 without a usable token, 4403 when it does not allow -

CLOSE_NO_TOKEN = 4401
CLOSE_FORBIDDEN = 4403


class SocketRefused(Exception):
    """A socket's permission refused: ``live.sockets`` accepts, then closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _cross_site(websocket: WebSocket, public_url: str) -> bool:
    """A browser page of another site opening a socket with our cookie (cross-site WebSocket
    hijacking): browsers send Origin on every handshake; other clients send none and must present
    their token themselves."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return False
    host = websocket.headers.get("host", "")
    origin_host = urlsplit(origin).netloc
    return origin_host != host and origin != public_url.rstrip("/")


async def _socket_signed_in(websocket: WebSocket, svc) -> Principal:
    if _cross_site(websocket, svc.settings.public_url):
        raise SocketRefused(CLOSE_FORBIDDEN, "sockets from another site are refused")
    try:
        who = await _principal(svc, token_from(websocket.headers, websocket.cookies))
    except DomainError as exc:  # tokens cannot be checked just now: 1013, try again
        raise SocketRefused(close_code(exc), "service unavailable: reconnect in a moment") from exc
    if who is None:
        raise SocketRefused(CLOSE_NO_TOKEN, "an access token is needed")
    return who


def _socket_forbidden() -> SocketRefused:
    return SocketRefused(CLOSE_FORBIDDEN, "this token does not allow this")


@rule("venue staff or official (socket)")
async def venue_watcher_socket(venue_id: VenueId, websocket: WebSocket, svc: ServicesDep) -> Principal:
    who = await _socket_signed_in(websocket, svc)
    if not watches(who, venue_id):
        raise _socket_forbidden()
    return who


@rule("official (socket)")
async def official_socket(websocket: WebSocket, svc: ServicesDep) -> Principal:
    who = await _socket_signed_in(websocket, svc)
    if not who.may_see_city():
        raise _socket_forbidden()
    return who


VenueWatcherSocket = Annotated[Principal, Depends(venue_watcher_socket)]
OfficialSocket = Annotated[Principal, Depends(official_socket)]
