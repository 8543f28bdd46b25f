"""Thin HTTP routes for the waiting line: join, look, leave (anyone holding the line code, the
code in the body, never in a URL), and the line as its venue's staff and manager see and steer it.
Offered places are claimed through the check-in (its ``line`` field, ``visits.endpoints``)."""

import time
from datetime import UTC, datetime

import msgspec
from fastapi import APIRouter, Request, Response

from occupancy.accounts.permissions import Public, VenueManager, VenueStaff
from occupancy.deps import ServicesDep, venue_by_signed_code
from occupancy.kit.http import json_response, openapi_body, read_json
from occupancy.line.service import Place
from occupancy.line.store import Entry, Summary
from occupancy.params import SignedCode, VenueId
from occupancy.visits.schemas import validate_key

router = APIRouter(prefix="/api", tags=["line"])

_CODE_ERRORS = {400: {"description": "malformed_line_code"},
                404: {"description": "unknown_line_entry"}}


class JoinBody(msgspec.Struct, forbid_unknown_fields=True):
    party_size: int
    # Only its keyed hash is kept: one open place in a venue's line per phone.
    phone: str
    idempotency_key: str | None = None


class LineCodeBody(msgspec.Struct, forbid_unknown_fields=True):
    """A line code in a request body: never in a URL, which proxies and servers log."""

    line: str


def entry_out(entry: Entry) -> dict:
    now = time.time()
    offered = entry.state == "offered" and entry.offer_until is not None
    return {
        "state": entry.state, "party_size": entry.party, "turn": entry.turn,
        "joined_at": _iso(entry.joined_at),
        "offer_until": _iso(entry.offer_until) if offered else None,
        "offer_seconds_left": max(0, round(entry.offer_until - now)) if offered else None,
    }


def place_out(place: Place) -> dict:
    return {**entry_out(place.entry), "position": place.position,
            "estimated_wait_seconds": place.estimated_wait_seconds}


def summary_out(venue_id: int, summary: Summary, offer_minutes: float) -> dict:
    head = summary.head
    return {"venue_id": venue_id, "waiting": summary.waiting, "offers_out": summary.offers_out,
            "places_offered": summary.places_offered, "paused": summary.paused,
            "longest_wait_seconds": max(0, round(time.time() - head.joined_at)) if head else 0,
            "offer_minutes": offer_minutes, "offer_minutes_own": summary.offer_seconds is not None}


async def _summary(svc, venue_id: int) -> dict:
    summary = await svc.line.summary(venue_id)
    return summary_out(venue_id, summary, svc.line.offer_minutes(summary))


class OfferMinutesBody(msgspec.Struct, forbid_unknown_fields=True):
    """1 to 30 minutes, or null for the service's default."""

    offer_minutes: int | None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@router.post(
    "/venues/{code}/line", status_code=201,
    summary="Join a full venue's waiting line (idempotent by idempotency key); the answer's line "
    "code follows the party's place", openapi_extra=openapi_body(JoinBody),
    responses={200: {"description": "A retry: the same place as before"},
               409: {"description": "already_in_line: this phone holds a place in the line"},
               422: {"description": "invalid_input: a party larger than the venue allows, or "
                                    "not a phone number"}},
)
async def join(code: SignedCode, request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, JoinBody, svc.settings.max_body_bytes)
    venue = await venue_by_signed_code(svc, code)
    place = await svc.line.join(venue, body.party_size, body.phone, validate_key(
        body.idempotency_key or request.headers.get("idempotency-key")))
    return json_response({"line": place.code, "venue": {"code": venue.code, "name": venue.name},
                          **place_out(place), "replayed": place.replayed},
                         status_code=200 if place.replayed else 201)


@router.post("/line-status", summary="A party's place in the line: its position and estimated "
             "wait, or the places offered to it and until when; the line code in the body",
             openapi_extra=openapi_body(LineCodeBody), responses=_CODE_ERRORS)
async def status(request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, LineCodeBody, svc.settings.max_body_bytes)
    return json_response(place_out(await svc.line.status(body.line)))


@router.post("/line-leaves", summary="Leave the line (idempotent); places offered go to the next "
             "party; the line code in the body", openapi_extra=openapi_body(LineCodeBody),
             responses={**_CODE_ERRORS, 409: {"description": "line_claimed or offer_passed"}})
async def leave(request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, LineCodeBody, svc.settings.max_body_bytes)
    return json_response(entry_out(await svc.line.leave(body.line)))


@router.get("/venues/{venue_id}/line", summary="The venue's line: parties waiting, the longest "
            "wait, offers out, paused (its staff and manager)")
async def summary(venue_id: VenueId, svc: ServicesDep, _: VenueStaff) -> Response:
    return json_response(await _summary(svc, venue_id))


async def _set_paused(svc, venue_id: int, paused: bool) -> Response:
    await svc.venues.by_id(venue_id)  # unknown_venue (404) before anything is written
    await svc.line.set_paused(venue_id, paused)
    return json_response(await _summary(svc, venue_id))


@router.post("/venues/{venue_id}/line/pause", summary="Hold the line's offers back: freed places "
             "stay free, walk-ins still wait behind the line (its manager)")
async def pause(venue_id: VenueId, svc: ServicesDep, _: VenueManager) -> Response:
    return await _set_paused(svc, venue_id, True)


@router.post("/venues/{venue_id}/line/resume", summary="Offer freed places to the line again "
             "(its manager)")
async def resume(venue_id: VenueId, svc: ServicesDep, _: VenueManager) -> Response:
    return await _set_paused(svc, venue_id, False)


@router.post("/venues/{venue_id}/line/offers", summary="Offer the next party in the line the "
             "places free now, by hand, paused or not (its manager)",
             responses={409: {"description": "no_free_places"}})
async def offer_next(venue_id: VenueId, svc: ServicesDep, _: VenueManager) -> Response:
    await svc.venues.by_id(venue_id)
    _, until = await svc.line.offer_next(venue_id)
    return json_response({"offer_until": _iso(until), **await _summary(svc, venue_id)})


@router.put("/venues/{venue_id}/line/offer-minutes", summary="Set how long the head of the line "
            "has to claim the places offered, 1 to 30 minutes (null: the service's default); the "
            "offers made from now on (its manager)", openapi_extra=openapi_body(OfferMinutesBody),
            responses={422: {"description": "invalid_input: not 1 to 30 minutes"}})
async def set_offer_minutes(venue_id: VenueId, request: Request, svc: ServicesDep,
                            _: VenueManager) -> Response:
    body = await read_json(request, OfferMinutesBody, svc.settings.max_body_bytes)
    await svc.venues.by_id(venue_id)  # unknown_venue (404) before anything is written
    await svc.line.set_offer_minutes(venue_id, body.offer_minutes)
    return json_response(await _summary(svc, venue_id))
