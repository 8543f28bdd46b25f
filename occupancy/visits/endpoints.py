"""Thin HTTP routes for visits: check in, check out, screen (by ticket or short code), the
ticket's QR code, read occupancy."""

import msgspec
from fastapi import APIRouter, Request, Response

from occupancy.accounts.permissions import Caller, Public, TicketStaff, VenueStaff
from occupancy.deps import ServicesDep, SignedVenue, venue_by_signed_code
from occupancy.kit import qr
from occupancy.kit.http import json_response, openapi_body, read_json, svg_response
from occupancy.params import ShortCode, SignedCode, Ticket, VenueId
from occupancy.services import Services
from occupancy.venues import door, signing
from occupancy.venues import service as venue_service
from occupancy.visits import tickets
from occupancy.visits.crowd import crowd_level, crowd_level_with_line, free_places
from occupancy.visits.errors import TicketOfAnotherVenue
from occupancy.visits.reasons import CheckOutReason
from occupancy.visits.results import CheckedIn
from occupancy.visits.schemas import (
    CheckInBody,
    ScreeningBody,
    TicketBody,
    TicketScreeningBody,
    validate_check_in,
    validate_temperature,
)
from occupancy.visits.service import CheckedOut

router = APIRouter(prefix="/api", tags=["visits"])




@router.post(
    "/venues/{code}/check-ins",
    status_code=201,
    summary="Check a party in (idempotent by idempotency key)",
    openapi_extra=openapi_body(CheckInBody),
    responses={200: {"description": "A retry: the same ticket as before"},
               400: {"description": "malformed_booking"},
               404: {"description": "unknown_booking"},
               409: {"description": "venue_full, venue_paused, line_waiting (others wait in "
                                    "the venue's line: join it) or idempotency_key_reused; with a "
                                    "booking: claim_too_early, booking_expired, "
                                    "booking_cancelled or other_venue; with a line code: "
                                    "line_not_offered, offer_passed, line_left or line_claimed"}},
)
async def check_in(code: SignedCode, request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, CheckInBody, svc.settings.max_body_bytes)
    # The body is read before the code is checked: a bad body is refused as such, whatever the code.
    venue = await venue_by_signed_code(svc, code)
    # A booked party claims its places in its slot: the booking has its name, phone and party.
    if body.line is not None and body.party_size == 0:  # the line knows the party's size
        body = msgspec.structs.replace(body, party_size=1)
    valid = None if body.booking is not None else validate_check_in(
        body, venue.max_party, request.headers.get("idempotency-key"))
    if venue.door_code_required:
        door.check(svc.settings.secret_keys, venue.id, body.door_code)
    address = request.client.host if request.client else ""
    if valid is None:
        visit = await svc.claims.claim(venue, body.booking)
    elif body.line is not None:  # a party of the waiting line takes the places offered to it
        visit = await svc.line.claim(venue, valid, body.line, address)
    else:
        visit = await svc.visits.check_in(venue, valid, address)
    return checked_in(visit)


def checked_in(visit: CheckedIn) -> Response:
    """A check-in's answer (201, or 200 for a retry): the ticket and the venue's count."""
    venue = visit.venue
    return json_response(
        {
            "ticket": visit.ticket,
            "short_code": tickets.short_code(visit.ticket),
            "visit_id": visit.visit_id,
            "venue": {"code": venue.code, "name": venue.name},
            "party_size": visit.party_size,
            "checked_in_at": visit.checked_in_at.isoformat(),
            "open": visit.open,
            "replayed": visit.replayed,
            "occupancy": {"count": visit.count, "capacity": visit.capacity},
        },
        status_code=200 if visit.replayed else 201,
    )


def _checked_out(visit: CheckedOut) -> dict:
    return {
        "visit_id": visit.visit_id,
        "party_size": visit.party_size,
        "checked_in_at": visit.checked_in_at.isoformat(),
        "checked_out_at": visit.checked_out_at.isoformat(),
        "reason": visit.reason,
        "replayed": visit.replayed,
        "occupancy": {"count": visit.count, "capacity": visit.capacity},
    }


@router.post("/check-outs", summary="Check a visit out (idempotent); the ticket in the body",
             openapi_extra=openapi_body(TicketBody))
async def check_out_visit(request: Request, svc: ServicesDep, who: Caller) -> Response:
    body = await read_json(request, TicketBody, svc.settings.max_body_bytes)
    return await _check_out(svc, body.ticket, who)


@router.post("/tickets/{ticket}/check-out", deprecated=True,
             summary="Check a visit out (idempotent); the ticket in the path: use POST /api/check-outs")
async def check_out(ticket: Ticket, svc: ServicesDep, who: Caller) -> Response:
    return await _check_out(svc, ticket, who)


async def _check_out(svc: Services, ticket: str, who) -> Response:
    venue_id = tickets.venue_of(ticket)
    # Anyone holding the ticket may check it out; the venue's staff doing it is recorded as such.
    staff = who is not None and who.may_staff(venue_id)
    visit = await svc.visits.check_out(ticket, CheckOutReason.STAFF if staff else CheckOutReason.VISITOR)
    return json_response(_checked_out(visit))


_DOOR_ERRORS = {
    400: {"description": "malformed_ticket"},
    404: {"description": "unknown_ticket"},
    409: {"description": "other_venue (the ticket is another venue's) or visit_ended"},
}


def _ticket_here(ticket: str, venue_id: int) -> str:
    """The hash of a ticket scanned at this venue's door; another venue's ticket is refused."""
    if tickets.venue_of(ticket) != venue_id:
        raise TicketOfAnotherVenue()
    return tickets.digest(ticket)


@router.post(
    "/venues/{venue_id}/screenings",
    summary="Record a door temperature for a scanned ticket (door staff); a fever ends the visit",
    openapi_extra=openapi_body(TicketScreeningBody), responses=_DOOR_ERRORS,
)
async def screening_at_door(
    venue_id: VenueId, request: Request, svc: ServicesDep, _: VenueStaff,
) -> Response:
    body = await read_json(request, TicketScreeningBody, svc.settings.max_body_bytes)
    return await _screen(svc, venue_id, _ticket_here(body.ticket, venue_id), body.temperature)


@router.post(
    "/venues/{venue_id}/door-check-outs",
    summary="Check a scanned ticket's visit out at this venue's door (door staff; idempotent)",
    openapi_extra=openapi_body(TicketBody), responses=_DOOR_ERRORS,
)
async def check_out_at_door(
    venue_id: VenueId, request: Request, svc: ServicesDep, _: VenueStaff,
) -> Response:
    body = await read_json(request, TicketBody, svc.settings.max_body_bytes)
    visit = await svc.visits.end_visit(venue_id, _ticket_here(body.ticket, venue_id),
                                         CheckOutReason.STAFF)
    return json_response(_checked_out(visit))


@router.post(
    "/tickets/{ticket}/screening", deprecated=True,
    summary="Record a door temperature (door staff); the ticket in the path: use "
            "POST /api/venues/{venue_id}/screenings",
    openapi_extra=openapi_body(ScreeningBody),
)
async def screening(ticket: Ticket, request: Request, svc: ServicesDep, _: TicketStaff) -> Response:
    body = await read_json(request, ScreeningBody, svc.settings.max_body_bytes)
    return await _screen(svc, tickets.venue_of(ticket), tickets.digest(ticket), body.temperature)


async def _screen(svc: Services, venue_id: int, ticket_hash: str, temperature: float) -> Response:
    temperature = validate_temperature(temperature)
    venue = await svc.venues.by_id(venue_id)
    result = await svc.visits.screen(venue, ticket_hash, temperature)
    return json_response({
        "result": "admitted" if result.admitted else "refused_fever",
        "temperature": result.temperature,
        "threshold": result.threshold,
        "visit_id": result.visit_id,
        "occupancy": {"count": result.count, "capacity": result.capacity},
    })


_BY_CODE_ERRORS = {
    400: {"description": "malformed_code"},
    404: {"description": "unknown_ticket: no open visit here has this code"},
    409: {"description": "ambiguous_code (two open visits share it) or visit_ended"},
}


async def _ticket_hash_by_code(svc: Services, venue_id: int, short_code: str) -> str:
    """The open visit a venue's door staff mean by a short code."""
    return await svc.visits.ticket_hash_by_code(venue_id, tickets.hash_prefix(short_code))


@router.post(
    "/venues/{venue_id}/visits/by-code/{short_code}/screening",
    summary="Record a door temperature by the ticket's short code (door staff)",
    openapi_extra=openapi_body(ScreeningBody),
    responses=_BY_CODE_ERRORS,
)
async def screening_by_code(
    venue_id: VenueId, short_code: ShortCode, request: Request, svc: ServicesDep, _: VenueStaff,
) -> Response:
    ticket_hash = await _ticket_hash_by_code(svc, venue_id, short_code)
    body = await read_json(request, ScreeningBody, svc.settings.max_body_bytes)
    return await _screen(svc, venue_id, ticket_hash, body.temperature)


@router.post(
    "/venues/{venue_id}/visits/by-code/{short_code}/check-out",
    summary="Check a visit out by the ticket's short code (door staff; idempotent)",
    responses=_BY_CODE_ERRORS,
)
async def check_out_by_code(
    venue_id: VenueId, short_code: ShortCode, svc: ServicesDep, _: VenueStaff,
) -> Response:
    ticket_hash = await _ticket_hash_by_code(svc, venue_id, short_code)
    visit = await svc.visits.end_visit(venue_id, ticket_hash, CheckOutReason.STAFF)
    return json_response(_checked_out(visit))


@router.post(
    "/ticket-qr",
    summary="The ticket (in the body) as a QR code (SVG), for the visitor's ticket screen",
    response_class=Response, openapi_extra=openapi_body(TicketBody),
    responses={200: {"content": {"image/svg+xml": {}}}, 400: {"description": "malformed_ticket"}},
)
async def ticket_qr(request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, TicketBody, svc.settings.max_body_bytes)
    return _qr_response(body.ticket)


@router.get(
    "/tickets/{ticket}/qr.svg", deprecated=True,
    summary="The ticket as a QR code (SVG); the ticket in the path: use POST /api/ticket-qr",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, 400: {"description": "malformed_ticket"}},
)
async def ticket_qr_code(ticket: Ticket, _: Public) -> Response:
    return _qr_response(ticket)


def _qr_response(ticket: str) -> Response:
    tickets.venue_of(ticket)
    return svg_response(qr.svg(ticket))


@router.get("/venues/{code}/alternatives",
            summary="Venues of the same kind with room now, its district's first (public)")
async def alternatives(venue: SignedVenue, svc: ServicesDep, _: Public) -> Response:
    async with svc.sessionmaker() as session:
        others = await venue_service.same_kind(session, venue)
    counts = await svc.today.counts([v.id for v in others])
    with_room = []
    for other in others:
        count, capacity, paused = counts[other.id]
        capacity = capacity if capacity is not None else other.capacity
        level = crowd_level(count, capacity)
        if paused or level == "full":
            continue
        with_room.append({
            "name": other.name, "district": other.district, "category": other.category,
            "count": count, "capacity": capacity, "level": level,
            "same_district": other.district == venue.district,
            "url": f"/v/{signing.sign(svc.settings.secret_key, other.code)}",
        })
    # The district's first, then the emptiest.
    with_room.sort(key=lambda v: (not v["same_district"], v["count"] / max(v["capacity"], 1)))
    return json_response({"venues": with_room[:5]})


@router.get("/venues/{code}/occupancy", summary="Live headcount of a venue (public)")
async def occupancy(venue: SignedVenue, svc: ServicesDep, _: Public) -> Response:
    live = await svc.visits.occupancy(venue.id)
    capacity = live.capacity
    return json_response({
        "venue": {"code": venue.code, "name": venue.name, "category": venue.category,
                  "district": venue.district},
        "count": live.count,
        "capacity": capacity,
        # As the live frames: offered places are taken, a waiting line makes the venue full.
        "level": crowd_level_with_line(live.count, capacity, live.waiting, live.offered),
        "free": free_places(live.count, capacity, live.waiting, live.offered),
        "line": {"waiting": live.waiting, "offered": live.offered},
        "paused": live.paused,
    })
