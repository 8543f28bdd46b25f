"""Thin HTTP routes for venue management (manager or operator token)."""

import math
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from occupancy.accounts.permissions import VenueManager, VenueStaff, VenueWatcher
from occupancy.deps import ServicesDep
from occupancy.errors import InvalidInput
from occupancy.kit import qr
from occupancy.params import VenueId
from occupancy.venues import door, service, signing
from occupancy.venues.poster import FORMATS, render_poster

router = APIRouter(prefix="/api/venues", tags=["venues"])


class VenueOut(BaseModel):
    id: int
    code: str
    signed_code: str
    name: str
    district: str
    category: str
    capacity: int
    max_party: int
    max_stay_minutes: int
    fever_threshold: float
    paused: bool
    door_code_required: bool
    pause_note: str | None
    reopens_at: datetime | None
    latitude: float | None
    longitude: float | None
    visitor_url: str


class VenueChange(BaseModel):
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    paused: bool | None = None
    door_code_required: bool | None = Field(
        default=None, description="check-ins need the rotating QR code of the door screen")
    pause_note: str | None = Field(default=None, max_length=200,
                                   description="while paused: what the visitors' page says")
    reopens_at: AwareDatetime | None = Field(
        default=None, description="while paused: when entry should reopen (shown to visitors)")
    latitude: float | None = Field(default=None, description=(
        "where the venue is, for the city map: degrees north (-90 to 90), given with longitude; "
        "null for both clears the location"))
    longitude: float | None = Field(default=None, description="degrees east (-180 to 180)")

    @field_validator("pause_note")
    @classmethod
    def _plain_text(cls, note: str | None) -> str | None:
        note = " ".join(note.split()) if note is not None else None
        if note is not None and not note.isprintable():
            raise ValueError("the note is plain text on one line")
        return note or None


def venue_out(venue, settings) -> VenueOut:
    signed = signing.sign(settings.secret_key, venue.code)
    return VenueOut(
        id=venue.id, code=venue.code, signed_code=signed, name=venue.name,
        district=venue.district, category=venue.category, capacity=venue.capacity,
        max_party=venue.max_party, max_stay_minutes=venue.max_stay_minutes,
        fever_threshold=venue.fever_threshold, paused=venue.paused,
        door_code_required=venue.door_code_required,
        pause_note=venue.pause_note, reopens_at=venue.reopens_at,
        latitude=venue.latitude, longitude=venue.longitude,
        visitor_url=f"{settings.public_url.rstrip('/')}/v/{signed}",
    )


@router.get("/{venue_id}", summary="A venue's settings (its manager or staff)")
async def get_venue(venue_id: VenueId, svc: ServicesDep, _: VenueWatcher) -> VenueOut:
    async with svc.sessionmaker() as session:
        return venue_out(await service.get_venue(session, id=venue_id), svc.settings)


@router.patch("/{venue_id}", summary="Change capacity, pause entry or set the location (its manager)",
              responses={422: {"description": "invalid_input, or invalid_location: latitude and "
                                              "longitude out of range or not given together"}})
async def change_venue(
    venue_id: VenueId, change: VenueChange, svc: ServicesDep, _: VenueManager
) -> VenueOut:
    changes = change.model_dump(exclude_none=True)
    # A location sent as null is cleared, not ignored.
    changes |= {name: getattr(change, name)
                for name in ("latitude", "longitude") if name in change.model_fields_set}
    if not changes:
        raise InvalidInput("Give capacity, paused, pause_note, reopens_at, door_code_required "
                           "and/or latitude with longitude to change.")
    async with svc.sessionmaker() as session:
        venue = await service.get_venue(session, id=venue_id)
        venue = await service.update_venue(session, svc.redis, venue, **changes)
        svc.venues.invalidate(venue_id)
        return venue_out(venue, svc.settings)


@router.get("/{venue_id}/door-qr.svg", summary="The door screen's rotating QR code (door staff)",
            response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
async def door_qr(venue_id: VenueId, svc: ServicesDep, _: VenueStaff) -> Response:
    """The visitor URL with the current door code; it changes every 30 s (``X-Door-Code-Seconds-
    Left`` says when). Staff only: anyone able to fetch it from afar could check in from afar."""
    async with svc.sessionmaker() as session:
        venue = await service.get_venue(session, id=venue_id)
    secret = svc.settings.secret_key
    url = door.door_url(signing.visitor_url(svc.settings.public_url, secret, venue.code), secret,
                        venue.id)
    return Response(qr.svg(url, title="Door QR code"), media_type="image/svg+xml", headers={
        "Cache-Control": "no-store", "X-Door-Code-Seconds-Left": str(math.ceil(door.seconds_left()))})


@router.get(
    "/{venue_id}/poster.{fmt}",
    summary="The venue's printable QR poster, A4, as png, svg or pdf (its manager)",
    response_class=Response,
    responses={200: {"content": {media_type: {} for media_type in FORMATS.values()}}},
)
async def get_poster(
    venue_id: VenueId,
    fmt: Literal["png", "svg", "pdf"],
    svc: ServicesDep,
    _: VenueManager,
) -> Response:
    async with svc.sessionmaker() as session:
        venue = service.VenueInfo.of(await service.get_venue(session, id=venue_id))
    url = signing.visitor_url(svc.settings.public_url, svc.settings.secret_key, venue.code)
    body = await run_in_threadpool(render_poster, venue, url, fmt)  # a few dozen ms of drawing
    return Response(body, media_type=FORMATS[fmt], headers={
        "Content-Disposition": f'inline; filename="poster-{venue.code}.{fmt}"'})
