"""Thin HTTP routes for time slots: a venue's slot plan (its manager) and a day's free slots
(anyone, like the occupancy count)."""

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from occupancy.accounts.permissions import (
    Public,
    VenueExporter,
    VenueManager,
    VenueStaff,
    VenueWatcher,
)
from occupancy.bookings import codes, plans, summary
from occupancy.bookings.schedule import Plan, Slot
from occupancy.bookings.service import BookingRequest
from occupancy.deps import ServicesDep, SignedVenue, venue_by_signed_code
from occupancy.kit import qr
from occupancy.kit.downloads import csv_response
from occupancy.kit.http import json_response, openapi_body, read_json, svg_response
from occupancy.params import Day, From, SignedCode, To, VenueId, day_or_today, parse_day
from occupancy.stats import history
from occupancy.stats.calendar import local_date
from occupancy.visits.endpoints import checked_in
from occupancy.visits.schemas import validate_email, validate_key, validate_name, validate_phone

router = APIRouter(prefix="/api/venues", tags=["bookings"])

_NO_SLOTS = {404: {"description": "no_slots: the venue is not run by time slots"}}


class PlanBody(BaseModel):
    """A whole slot plan: the slots as ``ranges``, or as ``starts`` with ``slot_minutes``."""

    capacity: int = Field(description="places per slot (at most the venue's capacity)")
    ranges: list[str] | None = Field(default=None, max_length=48,
                                     description='local times, e.g. ["07:00-09:00", "09:00-11:00"]')
    starts: list[str] | None = Field(default=None, max_length=48,
                                     description='local start times, e.g. ["07:00", "09:00"]')
    slot_minutes: int | None = Field(default=None, description="each slot's length, with starts")
    advance_percent: int = Field(default=100, description="share of a slot's places bookable in "
                                 "advance; the rest is kept for walk-ins")
    hold_minutes: int = Field(default=15, description="an unclaimed booking expires this long "
                              "after its slot starts")
    weekdays: list[int] | None = Field(default=None, max_length=7,
                                       description="ISO weekdays open for slots (1 Monday ... 7 "
                                       "Sunday); every day by default")
    days_ahead: int = Field(default=7, description="how many days ahead a slot may be booked")
    per_phone: int = Field(default=1, description="bookings one phone number may hold at the "
                           "venue on one day")


def plan_out(plan: Plan) -> dict:
    return {
        "venue_id": plan.venue_id,
        "ranges": [f"{start:%H:%M}-{end:%H:%M}" for start, end in plan.ranges],
        "weekdays": [int(day) for day in plan.weekdays],
        "capacity": plan.capacity,
        "advance_percent": plan.advance_percent,
        "bookable": plan.bookable,
        "hold_minutes": plan.hold_minutes,
        "days_ahead": plan.days_ahead,
        "per_phone": plan.per_phone,
    }


def slot_out(plan: Plan, slot: Slot, booked: int) -> dict:
    return {
        "slot": slot.key, "start": f"{slot.start:%H:%M}", "end": f"{slot.end:%H:%M}",
        "starts_at": slot.starts_at.isoformat(), "ends_at": slot.ends_at.isoformat(),
        "capacity": plan.capacity, "bookable": plan.bookable,
        "free": max(0, plan.bookable - booked),
    }


@router.get("/{venue_id}/slots", summary="The venue's slot plan (its staff, manager or officials)",
            responses=_NO_SLOTS)
async def get_slots(venue_id: VenueId, svc: ServicesDep, _: VenueWatcher) -> Response:
    async with svc.sessionmaker() as session:
        return json_response(plan_out(await plans.get_plan(session, venue_id)))


@router.put("/{venue_id}/slots", summary="Run the venue by time slots, or change its plan "
            "(its manager)", responses={422: {"description": "invalid_slots"}})
async def put_slots(venue_id: VenueId, body: PlanBody, svc: ServicesDep,
                    _: VenueManager) -> Response:
    venue = await svc.venues.by_id(venue_id)
    plan = await svc.bookings.set_plan(venue.id, venue.capacity,
                                       plans.PlanChange(**body.model_dump()))
    return json_response(plan_out(plan))


@router.delete("/{venue_id}/slots", status_code=204, summary="Stop running the venue by time "
               "slots (its manager)", responses=_NO_SLOTS)
async def delete_slots(venue_id: VenueId, svc: ServicesDep, _: VenueManager) -> Response:
    await svc.bookings.remove_plan(venue_id)
    return Response(status_code=204)


@router.get("/{venue_id}/slot-bookings", summary="A day's bookings per slot: booked, claimed, "
            "waiting, no-shows, cancelled and free places, from SQL (its staff, manager or "
            "officials)", responses={**_NO_SLOTS, 422: {"description": "invalid_input"}})
async def slot_bookings(
    venue_id: VenueId, svc: ServicesDep, _: VenueWatcher,
    day: Day = None,
) -> Response:
    tz = ZoneInfo(svc.settings.timezone)
    wanted = day_or_today(day, tz)
    async with svc.sessionmaker() as session:
        plan = await plans.get_plan(session, venue_id)
        found = await summary.figures(session, wanted, wanted, [venue_id])
    rows = summary.venue_day(plan, wanted, tz, found)
    return json_response({"venue_id": venue_id, "date": wanted.isoformat(),
                          "open": plan.is_open(wanted), "bookable": plan.bookable,
                          "slots": rows, "totals": summary.totals(rows)})


@router.get("/{venue_id}/bookings.csv", summary="The bookings of a day range as CSV: slot, party "
            "size, state and times (no personal data)",
            responses={422: {"description": "invalid_input"}})
async def bookings_csv(venue_id: VenueId, svc: ServicesDep, _: VenueExporter,
                       start: From = None, end: To = None) -> Response:
    tz = ZoneInfo(svc.settings.timezone)
    period = history.parse_period(start, end, "day", local_date(time.time(), tz))
    venue = await svc.venues.by_id(venue_id)
    async with svc.sessionmaker() as session:
        rows = await summary.export_rows(session, venue.id, period.start, period.end, tz)
    return csv_response(rows, summary.CSV_COLUMNS, f"bookings-{venue.code}-"
                        f"{period.start.isoformat()}-{period.end.isoformat()}.csv")


@router.get("/{code}/free-slots", summary="A day's slots that can still be booked, with their "
            "free places (public)", responses={
                **_NO_SLOTS, 422: {"description": "day_past, day_too_far or invalid_input"}})
async def free_slots(
    venue: SignedVenue, svc: ServicesDep, _: Public,
    day: Day = None,
) -> Response:
    tz = ZoneInfo(svc.settings.timezone)
    wanted = parse_day(day) if day else None
    plan = await svc.bookings.plan(venue.id)
    now = datetime.now(UTC)
    wanted = plans.bookable_day(plan, wanted, now, tz)
    slots = plans.open_slots(plan, wanted, now, tz)
    booked = await svc.bookings.booked(venue.id, wanted) if slots else {}
    return json_response({
        "venue": {"code": venue.code, "name": venue.name},
        "date": wanted.isoformat(),
        "open": plan.is_open(wanted),
        "slots": [slot_out(plan, slot, booked.get(f"{slot.start:%H%M}", 0)) for slot in slots],
    })


class BookingBody(msgspec.Struct, forbid_unknown_fields=True):
    slot: str
    name: str
    phone: str
    party_size: int
    email: str | None = None
    idempotency_key: str | None = None


class BookingCodeBody(msgspec.Struct, forbid_unknown_fields=True):
    """A booking code in a request body: never in a URL, which proxies and servers log."""

    booking: str


@router.post(
    "/{code}/bookings", status_code=201, tags=["bookings"],
    summary="Book a party's places in a slot (idempotent by idempotency key)",
    openapi_extra=openapi_body(BookingBody),
    responses={200: {"description": "A retry: the same booking as before"},
               404: {"description": "no_slots or unknown_slot"},
               409: {"description": "slot_full (with next_free: later slots with room), "
                                    "slot_closed, booking_limit or idempotency_key_reused"},
               422: {"description": "invalid_input, day_past or day_too_far"}},
)
async def book(code: SignedCode, request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, BookingBody, svc.settings.max_body_bytes)
    venue = await venue_by_signed_code(svc, code)
    booked = await svc.bookings.book(venue, BookingRequest(
        slot=body.slot, name=validate_name(body.name), phone=validate_phone(body.phone),
        email=validate_email(body.email), party_size=body.party_size,
        idempotency_key=validate_key(body.idempotency_key
                                     or request.headers.get("idempotency-key"))))
    slot = booked.slot
    return json_response({
        "booking": booked.code, "booking_id": booked.booking_id,
        "venue": {"code": venue.code, "name": venue.name},
        "slot": slot.key, "start": f"{slot.start:%H:%M}", "end": f"{slot.end:%H:%M}",
        "starts_at": slot.starts_at.isoformat(), "ends_at": slot.ends_at.isoformat(),
        "party_size": booked.party_size, "booked_at": booked.booked_at.isoformat(),
        "state": booked.state, "replayed": booked.replayed, "free": booked.free,
    }, status_code=200 if booked.replayed else 201)


@router.post(
    "/{venue_id}/booking-claims", tags=["bookings"],
    summary="Let a booked party in at this venue's door, its booking code scanned or typed (door "
    "staff; idempotent); the code in the body", openapi_extra=openapi_body(BookingCodeBody),
    responses={200: {"description": "A retry: the same visit as before"},
               400: {"description": "malformed_booking"},
               404: {"description": "unknown_booking"},
               409: {"description": "claim_too_early, booking_expired, booking_cancelled, "
                                    "other_venue, venue_full or venue_paused"}},
)
async def claim_at_door(venue_id: VenueId, request: Request, svc: ServicesDep,
                        _: VenueStaff) -> Response:
    body = await read_json(request, BookingCodeBody, svc.settings.max_body_bytes)
    venue = await svc.venues.by_id(venue_id)
    return checked_in(await svc.claims.claim(venue, body.booking))


cancellations = APIRouter(prefix="/api", tags=["bookings"])


@cancellations.post(
    "/booking-cancellations", summary="Cancel a booking, giving its places back (idempotent); "
    "the booking code in the body", openapi_extra=openapi_body(BookingCodeBody),
    responses={400: {"description": "malformed_booking"},
               404: {"description": "unknown_booking"},
               409: {"description": "booking_claimed: the booking was used to enter"}},
)
async def cancel(request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, BookingCodeBody, svc.settings.max_body_bytes)
    cancelled = await svc.bookings.cancel(body.booking)
    return json_response({"booking_id": cancelled.booking_id, "slot": cancelled.slot,
                          "state": "cancelled", "replayed": cancelled.replayed})


@cancellations.post(
    "/booking-qr", summary="The booking (its code in the body) as a QR code (SVG), for the "
    "visitor's booking screen", response_class=Response, openapi_extra=openapi_body(BookingCodeBody),
    responses={200: {"content": {"image/svg+xml": {}}}, 400: {"description": "malformed_booking"}},
)
async def booking_qr(request: Request, svc: ServicesDep, _: Public) -> Response:
    body = await read_json(request, BookingCodeBody, svc.settings.max_body_bytes)
    codes.venue_of(body.booking)
    return svg_response(qr.svg(body.booking, title="Booking QR code"))
