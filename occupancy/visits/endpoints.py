"""Thin HTTP routes for visits: check in, check out, screen (by ticket or short code), the
ticket's QR code, read occupancy."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from occupancy.accounts.guard import principal_or_none, require_principal
from occupancy.accounts.service import Principal
from occupancy.errors import Forbidden
from occupancy.kit.http import json_response, openapi_body, read_json
from occupancy.params import ShortCode, SignedCode, Ticket, VenueId
from occupancy.services import Services
from occupancy.venues import signing
from occupancy.visits import ticket_qr, tickets
from occupancy.visits.crowd import crowd_level
from occupancy.visits.schemas import (
    CheckInBody,
    ScreeningBody,
    validate_check_in,
    validate_temperature,
)
from occupancy.visits.service import CheckedOut

router = APIRouter(prefix="/api", tags=["visits"])


def services(request: Request) -> Services:
    return request.app.state.services


@router.post(
    "/venues/{code}/check-ins",
    status_code=201,
    summary="Check a party in (idempotent by idempotency key)",
    openapi_extra=openapi_body(CheckInBody),
    responses={200: {"description": "A retry: the same ticket as before"},
               409: {"description": "venue_full, venue_paused or idempotency_key_reused"}},
)
async def check_in(code: SignedCode, request: Request) -> Response:
    svc = services(request)
    body = await read_json(request, CheckInBody, svc.settings.max_body_bytes)
    venue = await svc.venues.by_code(signing.verify(svc.settings.secret_key, code))
    valid = validate_check_in(body, venue.max_party, request.headers.get("idempotency-key"))
    visit = await svc.visits.check_in(venue, valid)
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


@router.post("/tickets/{ticket}/check-out", summary="Check a visit out (idempotent)")
async def check_out(
    ticket: Ticket, request: Request, principal: Annotated[Principal | None, Depends(principal_or_none)]
) -> Response:
    venue_id = tickets.venue_of(ticket)
    staff = principal is not None and principal.may_staff(venue_id)
    visit = await services(request).visits.check_out(ticket, "staff" if staff else "visitor")
    return json_response(_checked_out(visit))


@router.post(
    "/tickets/{ticket}/screening",
    summary="Record a door temperature (door staff); a fever ends the visit",
    openapi_extra=openapi_body(ScreeningBody),
)
async def screening(
    ticket: Ticket, request: Request, principal: Annotated[Principal, Depends(require_principal)]
) -> Response:
    venue_id = tickets.venue_of(ticket)
    if not principal.may_staff(venue_id):
        raise Forbidden("Only door staff or the manager of this venue may screen its visitors.")
    return await _screen(request, venue_id, tickets.digest(ticket))


async def _screen(request: Request, venue_id: int, ticket_hash: str) -> Response:
    svc = services(request)
    body = await read_json(request, ScreeningBody, svc.settings.max_body_bytes)
    temperature = validate_temperature(body.temperature)
    venue = await svc.venues.by_id(venue_id)
    result = await svc.visits.screen(venue, ticket_hash, temperature)
    return json_response({
        "result": "admitted" if result.admitted else "refused_fever",
        "temperature": result.temperature,
        "threshold": result.threshold,
        "visit_id": result.visit_id,
        "occupancy": {"count": result.count, "capacity": result.capacity},
    })


def _require_staff(principal: Principal, venue_id: int) -> None:
    if not principal.may_staff(venue_id):
        raise Forbidden("Only door staff or the manager of this venue may act on its visits.")


_BY_CODE_ERRORS = {
    400: {"description": "malformed_code"},
    404: {"description": "unknown_ticket: no open visit here has this code"},
    409: {"description": "ambiguous_code (two open visits share it) or visit_ended"},
}


async def _ticket_hash_by_code(
    request: Request, principal: Principal, venue_id: int, short_code: str
) -> str:
    """The open visit a venue's door staff mean by a short code (checks who may, first)."""
    _require_staff(principal, venue_id)
    prefix = tickets.hash_prefix(short_code)
    return await services(request).visits.ticket_hash_by_code(venue_id, prefix)


@router.post(
    "/venues/{venue_id}/visits/by-code/{short_code}/screening",
    summary="Record a door temperature by the ticket's short code (door staff)",
    openapi_extra=openapi_body(ScreeningBody),
    responses=_BY_CODE_ERRORS,
)
async def screening_by_code(
    venue_id: VenueId, short_code: ShortCode, request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
) -> Response:
    ticket_hash = await _ticket_hash_by_code(request, principal, venue_id, short_code)
    return await _screen(request, venue_id, ticket_hash)


@router.post(
    "/venues/{venue_id}/visits/by-code/{short_code}/check-out",
    summary="Check a visit out by the ticket's short code (door staff; idempotent)",
    responses=_BY_CODE_ERRORS,
)
async def check_out_by_code(
    venue_id: VenueId, short_code: ShortCode, request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
) -> Response:
    ticket_hash = await _ticket_hash_by_code(request, principal, venue_id, short_code)
    visit = await services(request).visits.end_visit(venue_id, ticket_hash, "staff")
    return json_response(_checked_out(visit))


@router.get(
    "/tickets/{ticket}/qr.svg",
    summary="The ticket as a QR code (SVG), for the visitor's ticket screen",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, 400: {"description": "malformed_ticket"}},
)
async def ticket_qr_code(ticket: Ticket) -> Response:
    tickets.venue_of(ticket)
    return Response(ticket_qr.svg(ticket), media_type="image/svg+xml", headers={
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })


@router.get("/venues/{code}/occupancy", summary="Live headcount of a venue (public)")
async def occupancy(code: SignedCode, request: Request) -> Response:
    svc = services(request)
    venue = await svc.venues.by_code(signing.verify(svc.settings.secret_key, code))
    live = await svc.visits.occupancy(venue.id)
    capacity = live.capacity
    return json_response({
        "venue": {"code": venue.code, "name": venue.name, "category": venue.category,
                  "district": venue.district},
        "count": live.count,
        "capacity": capacity,
        "level": crowd_level(live.count, capacity),
        "paused": live.paused,
    })
