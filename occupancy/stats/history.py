"""History from SQL (the hourly rows of the rollup), by hour or by local day, city-wide and per
venue. Counts only: these rows hold no personal data."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.errors import InvalidInput
from occupancy.stats.calendar import day_bounds, day_start
from occupancy.stats.models import CityHour, VenueHour
from occupancy.venues.models import Venue

SUMMED = ("entries", "exits", "visitors_in", "visitors_out", "refused_full", "refused_fever",
          "minutes_full", "stay_seconds", "stays")
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    by: str  # hour | day


def parse_period(start: str | None, end: str | None, by: str, today: date) -> Period:
    if by not in ("hour", "day"):
        raise InvalidInput("'by' must be 'hour' or 'day'.", field="by")
    try:
        first = date.fromisoformat(start) if start else today
        last = date.fromisoformat(end) if end else first
    except ValueError as exc:
        raise InvalidInput("Dates are written YYYY-MM-DD, e.g. 2026-11-23.", field="from") from exc
    if last < first:
        raise InvalidInput("'to' must not be before 'from'.", field="to")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"Ask for at most {MAX_DAYS} days at a time.", field="to")
    return Period(first, last, by)


def _empty() -> dict:
    return {name: 0 for name in SUMMED} | {"peak_count": 0}


def _add(total: dict, row: VenueHour, peak: bool = True) -> None:
    """Add an hour's counts, and take its peak if higher."""
    for name in SUMMED:
        total[name] += getattr(row, name)
    if peak:
        total["peak_count"] = max(total["peak_count"], row.peak_count)


def _finish(total: dict) -> dict:
    stays, stay = total.pop("stays"), total.pop("stay_seconds")
    total["avg_stay_minutes"] = round(stay / stays / 60, 1) if stays else None
    return total


async def venue_hours(session: AsyncSession, period: Period, tz: ZoneInfo,
                      venue_id: int | None = None) -> list[tuple[VenueHour, Venue]]:
    """The hours of every venue in the period, or of one."""
    start, end = _bounds(period, tz)
    query = (
        select(VenueHour, Venue)
        .join(Venue, Venue.id == VenueHour.venue_id)
        .where(VenueHour.hour_start >= start, VenueHour.hour_start < end)
        .order_by(VenueHour.hour_start, Venue.id)
    )
    if venue_id is not None:
        query = query.where(VenueHour.venue_id == venue_id)
    return [(hour, venue) for hour, venue in (await session.execute(query)).all()]


async def city_hours(session: AsyncSession, period: Period, tz: ZoneInfo) -> list[CityHour]:
    start, end = _bounds(period, tz)
    query = select(CityHour).where(CityHour.hour_start >= start, CityHour.hour_start < end)
    return list((await session.execute(query)).scalars())


def _bounds(period: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return day_start(period.start, tz), day_bounds(period.end, tz)[1]


def period_key(hour_start: datetime, by: str, tz: ZoneInfo) -> str:
    """An hour as the city's clock shows it, with its offset (as every CSV writes times)."""
    if by == "hour":
        return hour_start.astimezone(tz).isoformat()
    return hour_start.astimezone(tz).date().isoformat()


def city_history(rows: list[tuple[VenueHour, Venue]], city: list[CityHour], period: Period,
                 tz: ZoneInfo) -> dict:
    """Totals per hour or day (``peak_count``: the most people in all venues at once, from
    ``city``), and per venue over the whole range (compliance: refusals and minutes full)."""
    periods: dict[str, dict] = defaultdict(_empty)
    per_venue: dict[int, dict] = {}
    for hour, venue in rows:
        # A venue's peak is not the city's: the city's own hours give that, below.
        _add(periods[period_key(hour.hour_start, period.by, tz)], hour, peak=False)
        if venue.id not in per_venue:
            per_venue[venue.id] = {"id": venue.id, "code": venue.code, "name": venue.name,
                                   "district": venue.district, "category": venue.category,
                                   "hours_full": 0} | _empty()
        _add(per_venue[venue.id], hour)
        per_venue[venue.id]["hours_full"] += hour.minutes_full >= 60
    for start, peak in _city_peaks(rows, city).items():
        total = periods[period_key(start, period.by, tz)]
        total["peak_count"] = max(total["peak_count"], peak)
    return {
        "from": period.start.isoformat(), "to": period.end.isoformat(), "by": period.by,
        "periods": [{"start": key, **_finish(total)} for key, total in sorted(periods.items())],
        "venues": sorted((_finish(v) for v in per_venue.values()),
                         key=lambda v: (-v["minutes_full"], -v["refused_full"], v["name"])),
    }


def _city_peaks(rows: list[tuple[VenueHour, Venue]], city: list[CityHour]) -> dict[datetime, int]:
    """Each hour's city peak; an hour without its own row (rolled up by a process older than
    revision 0004) gets what the history showed before: the sum of its venues' peaks."""
    summed: dict[datetime, int] = defaultdict(int)
    for hour, _ in rows:
        summed[hour.hour_start] += hour.peak_count
    return summed | {hour.hour_start: hour.peak_count for hour in city}


CSV_COLUMNS = ("period_start", "venue_code", "venue_name", "district", "category", "entries",
               "exits", "visitors_in", "visitors_out", "peak_count", "refused_full",
               "refused_fever", "minutes_full", "avg_stay_minutes")


def venue_history_rows(rows: list[tuple[VenueHour, Venue]], period: Period, tz: ZoneInfo) -> list[dict]:
    """One row per venue and hour or day, for the CSV export."""
    grouped: dict[tuple[str, int], dict] = {}
    for hour, venue in rows:
        key = (period_key(hour.hour_start, period.by, tz), venue.id)
        if key not in grouped:
            grouped[key] = {"period_start": key[0], "venue_code": venue.code,
                            "venue_name": venue.name, "district": venue.district,
                            "category": venue.category} | _empty()
        _add(grouped[key], hour)
    return [_finish(grouped[key]) for key in sorted(grouped)]
