"""Thin routes for officials and operators: the city now, today's bookings, the waiting lines
now, and its history from SQL (visits, bookings and lines)."""

import time
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response

from occupancy.accounts.permissions import Official
from occupancy.city import booking_history, bookings, districts, line, line_history
from occupancy.deps import ServicesDep
from occupancy.kit.downloads import csv_response
from occupancy.kit.http import json_response
from occupancy.live import snapshots
from occupancy.params import By, Day, From, To, day_or_today
from occupancy.services import Services
from occupancy.stats import history
from occupancy.stats.calendar import local_date

router = APIRouter(prefix="/api/city", tags=["city"])


@router.get("/now", summary="Every venue's count now, totals per district and category")
async def now(svc: ServicesDep, _: Official) -> Response:
    if svc.hub is not None:
        return json_response(await svc.hub.city_snapshot())
    return json_response(await snapshots.city_snapshot(svc.sessionmaker, svc.today))


@router.get("/bookings", summary="A day's bookings at the venues run by time slots: places booked, "
            "claimed and no-shows, per venue, district and category, from SQL",
            responses={422: {"description": "invalid_input"}})
async def city_bookings(
    svc: ServicesDep, _: Official,
    day: Day = None,
) -> Response:
    tz = ZoneInfo(svc.settings.timezone)
    wanted = day_or_today(day, tz)
    async with svc.sessionmaker() as session:
        return json_response(await bookings.day_figures(session, svc.venues, wanted))


@router.get("/line", summary="The waiting lines now: parties waiting and places offered, per "
            "district and category and at each venue with a line, from Redis")
async def city_line(svc: ServicesDep, _: Official) -> Response:
    async with svc.sessionmaker() as session:
        return json_response(await line.line_figures(session, svc.redis))


@router.get("/map", summary="The city's districts, a GeoJSON FeatureCollection (each feature's name "
            "and shape), for the officials' map", response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}})
async def city_map(svc: ServicesDep, _: Official) -> Response:
    return Response(districts.encoded(svc.settings.city_map), media_type="application/geo+json")


async def _history(svc: Services, start: str | None, end: str | None, by: str, city: bool = True):
    tz = ZoneInfo(svc.settings.timezone)
    period = history.parse_period(start, end, by, local_date(time.time(), tz))
    async with svc.sessionmaker() as session:
        rows = await history.venue_hours(session, period, tz)
        city_rows = await history.city_hours(session, period, tz) if city else []
    return rows, city_rows, period, tz


@router.get("/history", summary="City totals by hour or day and per-venue compliance, from SQL")
async def city_history(svc: ServicesDep, _: Official, start: From = None, end: To = None,
                       by: By = "hour") -> Response:
    rows, city, period, tz = await _history(svc, start, end, by)
    return json_response(history.city_history(rows, city, period, tz))


@router.get("/history.csv", summary="History per venue and hour or day, as CSV")
async def city_history_csv(svc: ServicesDep, _: Official, start: From = None, end: To = None,
                           by: By = "hour") -> Response:
    rows, _, period, tz = await _history(svc, start, end, by, city=False)
    return csv_response(history.venue_history_rows(rows, period, tz), history.CSV_COLUMNS,
                        f"city-{period.by}-{period.start.isoformat()}-{period.end.isoformat()}.csv")


def _days(svc: Services, start: str | None, end: str | None) -> tuple[history.Period, ZoneInfo]:
    """A period of local days, refused as the visits' history refuses one."""
    tz = ZoneInfo(svc.settings.timezone)
    return history.parse_period(start, end, "day", local_date(time.time(), tz)), tz


@router.get("/bookings/history", summary="Bookings per local day of the slot, district and "
            "category: places booked, claimed, no-shows and cancelled, and the no-show rate, "
            "from SQL", responses={422: {"description": "invalid_input"}})
async def city_bookings_history(svc: ServicesDep, _: Official, start: From = None,
                                end: To = None) -> Response:
    period, _tz = _days(svc, start, end)
    async with svc.sessionmaker() as session:
        found = await booking_history.cells(session, period)
    return json_response(booking_history.history(found, period))


@router.get("/bookings/history.csv", summary="Bookings per day, district and category, as CSV "
            "(no personal data)", responses={422: {"description": "invalid_input"}})
async def city_bookings_history_csv(svc: ServicesDep, _: Official, start: From = None,
                                    end: To = None) -> Response:
    period, _tz = _days(svc, start, end)
    async with svc.sessionmaker() as session:
        found = await booking_history.cells(session, period)
    return csv_response(booking_history.csv_rows(found), booking_history.CSV_COLUMNS,
                        f"city-bookings-{period.start.isoformat()}-{period.end.isoformat()}.csv")


@router.get("/line/history", summary="Waiting lines per local day, district and category: "
            "parties joined, offered, claimed, passed and left, the longest and median wait, "
            "the longest line, from SQL", responses={422: {"description": "invalid_input"}})
async def city_line_history(svc: ServicesDep, _: Official, start: From = None,
                            end: To = None) -> Response:
    period, tz = _days(svc, start, end)
    async with svc.sessionmaker() as session:
        found = await line_history.cells(session, period, tz)
    return json_response(line_history.history(found, period))


@router.get("/line/history.csv", summary="Waiting lines per day, district and category, as CSV "
            "(no personal data)", responses={422: {"description": "invalid_input"}})
async def city_line_history_csv(svc: ServicesDep, _: Official, start: From = None,
                                end: To = None) -> Response:
    period, tz = _days(svc, start, end)
    async with svc.sessionmaker() as session:
        found = await line_history.cells(session, period, tz)
    return csv_response(line_history.csv_rows(found), line_history.CSV_COLUMNS,
                        f"city-line-{period.start.isoformat()}-{period.end.isoformat()}.csv")
