"""Thin routes for officials and operators: the city now, and its history from SQL."""

import time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response

from occupancy.accounts.guard import require_principal
from occupancy.accounts.service import Principal
from occupancy.errors import Forbidden
from occupancy.kit.downloads import csv_response
from occupancy.kit.http import json_response
from occupancy.live import snapshots
from occupancy.services import Services
from occupancy.stats import history
from occupancy.stats.calendar import local_date

router = APIRouter(prefix="/api/city", tags=["city"])


def _official(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    if not principal.may_see_city():
        raise Forbidden("Only officials and operators may see the city view.")
    return principal


Official = Annotated[Principal, Depends(_official)]
From = Annotated[str | None, Query(alias="from", max_length=10,
                                   description="YYYY-MM-DD (local); today by default")]
To = Annotated[str | None, Query(alias="to", max_length=10,
                                 description="YYYY-MM-DD (local, inclusive); 'from' by default")]
By = Annotated[str, Query(max_length=10, description="hour or day")]


def _services(request: Request) -> Services:
    return request.app.state.services


@router.get("/now", summary="Every venue's count now, totals per district and category")
async def now(request: Request, _: Official) -> Response:
    svc = _services(request)
    if svc.hub is not None:
        return json_response(await svc.hub.city_snapshot())
    return json_response(await snapshots.city_snapshot(svc.sessionmaker, svc.today))


async def _history(request: Request, start: str | None, end: str | None, by: str,
                   city: bool = True):
    svc = _services(request)
    tz = ZoneInfo(svc.settings.timezone)
    period = history.parse_period(start, end, by, local_date(time.time(), tz))
    async with svc.sessionmaker() as session:
        rows = await history.venue_hours(session, period, tz)
        city_rows = await history.city_hours(session, period, tz) if city else []
    return rows, city_rows, period, tz


@router.get("/history", summary="City totals by hour or day and per-venue compliance, from SQL")
async def city_history(request: Request, _: Official, start: From = None, end: To = None,
                       by: By = "hour") -> Response:
    rows, city, period, tz = await _history(request, start, end, by)
    return json_response(history.city_history(rows, city, period, tz))


@router.get("/history.csv", summary="History per venue and hour or day, as CSV")
async def city_history_csv(request: Request, _: Official, start: From = None, end: To = None,
                           by: By = "hour") -> Response:
    rows, _, period, tz = await _history(request, start, end, by, city=False)
    return csv_response(history.venue_history_rows(rows, period, tz), history.CSV_COLUMNS,
                        f"city-{period.by}-{period.start.isoformat()}-{period.end.isoformat()}.csv")
