"""Thin routes for a venue's manager and door staff: walk-ins, today's snapshot, the visits CSV."""

import time
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response
from pydantic import BaseModel

from occupancy.accounts.permissions import VenueExporter, VenueStaff, VenueWatcher
from occupancy.deps import ServicesDep
from occupancy.kit.downloads import csv_response
from occupancy.kit.http import json_response
from occupancy.live import snapshots
from occupancy.params import By, Day, From, To, VenueId, day_or_today
from occupancy.stats import history
from occupancy.stats.calendar import local_date
from occupancy.visits import export

router = APIRouter(prefix="/api/venues", tags=["venue dashboard"])

class WalkIn(BaseModel):
    delta: Literal[1, -1]


@router.post("/{venue_id}/walk-ins", summary="Count a walk-in without a phone in (+1) or out (-1)",
             responses={409: {"description": "venue_full, venue_paused, line_waiting (parties "
                                         "wait in the venue's line) or no_walk_in"}})
async def walk_ins(venue_id: VenueId, body: WalkIn, svc: ServicesDep, _: VenueStaff) -> Response:
    venue = await svc.venues.by_id(venue_id)
    if body.delta == 1:
        visit = await svc.walkins.count_in(venue)
    else:
        visit = await svc.walkins.count_out(venue)
    return json_response({"delta": body.delta, "visit_id": visit.visit_id,
                          "occupancy": {"count": visit.count, "capacity": visit.capacity}})


@router.get("/{venue_id}/today", summary="The venue's live state and today's statistics "
            "(the dashboard snapshot)")
async def today(venue_id: VenueId, svc: ServicesDep, _: VenueWatcher) -> Response:
    venue = await svc.venues.by_id(venue_id)
    return json_response(await snapshots.venue_snapshot(svc.today, venue, svc.settings.secret_key))


@router.get("/{venue_id}/history", summary="The venue's past hours or days (entries, refusals, "
            "peak, minutes full), from SQL; today's hours appear as the rollup writes them")
async def venue_history(
    venue_id: VenueId, svc: ServicesDep, _: VenueWatcher,
    start: From = None, end: To = None, by: By = "day",
) -> Response:
    tz = ZoneInfo(svc.settings.timezone)
    period = history.parse_period(start, end, by, local_date(time.time(), tz))
    venue = await svc.venues.by_id(venue_id)
    async with svc.sessionmaker() as session:
        rows = await history.venue_hours(session, period, tz, venue.id)
    return json_response({"from": period.start.isoformat(), "to": period.end.isoformat(),
                          "by": period.by, "periods": history.venue_history_rows(rows, period, tz)})


@router.get("/{venue_id}/visits.csv", summary="A day's visits as CSV: times, party size, reason, "
            "temperature (no personal data)")
async def visits_csv(
    venue_id: VenueId, svc: ServicesDep, _: VenueExporter,
    day: Day = None,
) -> Response:
    tz = ZoneInfo(svc.settings.timezone)
    wanted = day_or_today(day, tz)
    venue = await svc.venues.by_id(venue_id)
    async with svc.sessionmaker() as session:
        rows = await export.visits_of_day(session, venue.id, wanted, tz)
    return csv_response(rows, export.COLUMNS, f"visits-{venue.code}-{wanted.isoformat()}.csv")
