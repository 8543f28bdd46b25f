"""Thin routes for a venue's manager and door staff: walk-ins, today's snapshot, the visits CSV."""

import time
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from occupancy.accounts.guard import require_principal
from occupancy.accounts.service import Principal
from occupancy.errors import Forbidden, InvalidInput
from occupancy.kit.downloads import csv_response
from occupancy.kit.http import json_response
from occupancy.live import snapshots
from occupancy.params import VenueId
from occupancy.services import Services
from occupancy.stats.calendar import local_date
from occupancy.visits import export

router = APIRouter(prefix="/api/venues", tags=["venue dashboard"])

Who = Annotated[Principal, Depends(require_principal)]


class WalkIn(BaseModel):
    delta: Literal[1, -1]


def _services(request: Request) -> Services:
    return request.app.state.services


@router.post("/{venue_id}/walk-ins", summary="Count a walk-in without a phone in (+1) or out (-1)",
             responses={409: {"description": "venue_full, venue_paused or no_walk_in"}})
async def walk_ins(venue_id: VenueId, body: WalkIn, request: Request, principal: Who) -> Response:
    if not principal.may_staff(venue_id):
        raise Forbidden("Only door staff or the manager of this venue may count walk-ins.")
    svc = _services(request)
    venue = await svc.venues.by_id(venue_id)
    if body.delta == 1:
        visit = await svc.walkins.count_in(venue)
    else:
        visit = await svc.walkins.count_out(venue)
    return json_response({"delta": body.delta, "visit_id": visit.visit_id,
                          "occupancy": {"count": visit.count, "capacity": visit.capacity}})


@router.get("/{venue_id}/today", summary="The venue's live state and today's statistics "
            "(the dashboard snapshot)")
async def today(venue_id: VenueId, request: Request, principal: Who) -> Response:
    if not (principal.may_staff(venue_id) or principal.may_see_city()):
        raise Forbidden()
    svc = _services(request)
    venue = await svc.venues.by_id(venue_id)
    return json_response(await snapshots.venue_snapshot(svc.today, venue, svc.settings.secret_key))


@router.get("/{venue_id}/visits.csv", summary="A day's visits as CSV: times, party size, reason, "
            "temperature (no personal data)")
async def visits_csv(
    venue_id: VenueId, request: Request, principal: Who,
    day: Annotated[str | None, Query(alias="date", max_length=10,
                                          description="YYYY-MM-DD; today by default")] = None,
) -> Response:
    if not (principal.may_manage(venue_id) or principal.may_see_city()):
        raise Forbidden("Only the manager of this venue, officials and operators may export visits.")
    svc = _services(request)
    tz = ZoneInfo(svc.settings.timezone)
    try:
        wanted = date.fromisoformat(day) if day else local_date(time.time(), tz)
    except ValueError as exc:
        raise InvalidInput("The date is written YYYY-MM-DD, e.g. 2026-11-23.", field="date") from exc
    venue = await svc.venues.by_id(venue_id)
    async with svc.sessionmaker() as session:
        rows = await export.visits_of_day(session, venue.id, wanted, tz)
    return csv_response(rows, export.COLUMNS, f"visits-{venue.code}-{wanted.isoformat()}.csv")
