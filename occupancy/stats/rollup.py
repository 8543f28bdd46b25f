"""Roll today's per-minute counters (Redis) up into one SQL row per venue and hour (history),
and one per hour for the whole city's peak.

Idempotent: an hour is recomputed from the minutes and overwritten, so running it every minute,
from any process or from ``occupancy rollup``, gives the same rows. The periodic task rewrites the
current and the previous hour; ``occupancy rollup`` whole days (Redis keeps two days of minutes).
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import redis_keys as keys
from occupancy.stats.calendar import day_bounds, day_key, local_date
from occupancy.stats.models import CityHour, VenueHour
from occupancy.stats.today import minute_counts
from occupancy.venues.models import Venue

log = logging.getLogger(__name__)

COUNTERS = {"e": "entries", "x": "exits", "vi": "visitors_in", "vo": "visitors_out",
            "rf": "refused_full", "rv": "refused_fever", "s": "stay_seconds"}


@dataclass
class Minutes:
    """One venue's per-minute fields and end-of-minute counts, as read from Redis."""

    fields: dict[int, dict[str, int]]
    counts: dict[int, int]
    carried: int  # the count before the first minute read (0 if unknown)

    def count_before(self, start: int) -> int:
        """The count carried into ``start``: that of the last minute with events before it."""
        earlier = [m for m in self.counts if m < start]
        return self.counts[max(earlier)] if earlier else self.carried

    def busy(self, start: int, stop: int) -> list[int]:
        """The minutes in [start, stop) with events, in order."""
        return sorted(m for m in self.fields.keys() | self.counts.keys() if start <= m < stop)


def _stop(end: int, until: float) -> int:
    """The end of the range, or of the current minute if that comes first."""
    return min(end, int(until // 60 * 60) + 60)


def hours_of(minutes: Minutes, capacity: int, start: int, end: int, until: float) -> list[dict]:
    """Hour rows for [start, end) (epoch seconds on hour boundaries) with any activity.

    Minutes after ``until`` (now) are not counted: they have not happened yet. Only the minutes
    with events are visited; between them the count stays as it was (a busy city has 10,000
    venues, and walking every minute of each took about a second of a worker's CPU).
    """
    if not minutes.fields and not minutes.counts and not minutes.carried:
        return []  # a venue without a single event in those days: most of a big city's
    carried = minutes.count_before(start)
    stop = _stop(end, until)
    busy = minutes.busy(start, stop)
    rows, i = [], 0
    for hour in range(start, end, 3600):
        row = {name: 0 for name in COUNTERS.values()} | {"peak_count": 0, "minutes_full": 0}
        active = carried > 0
        quiet_from, hour_end = hour, min(hour + 3600, stop)
        while i < len(busy) and busy[i] < hour_end:
            minute = busy[i]
            _add_quiet(row, carried, capacity, (minute - quiet_from) // 60)
            f = minutes.fields.get(minute, {})
            for short, name in COUNTERS.items():
                row[name] += f.get(short, 0)
            end_count = minutes.counts.get(minute, carried)
            peak = max(f.get("p", 0), carried, end_count)
            row["peak_count"] = max(row["peak_count"], peak)
            if f.get("f") or peak >= capacity:
                row["minutes_full"] += 1
            active, carried, quiet_from, i = True, end_count, minute + 60, i + 1
        _add_quiet(row, carried, capacity, (hour_end - quiet_from) // 60)
        if active:
            row["stays"] = row["exits"]
            row["hour_start"] = datetime.fromtimestamp(hour, UTC)
            rows.append(row)
    return rows


def city_hours(venues: Iterable[Minutes], start: int, end: int, until: float) -> list[dict]:
    """The city's peak for each hour in [start, end) with people or events: every venue's count
    added up minute by minute, an estimate to the minute. Within a minute the city held at least
    its total at the minute's start and at its end; on the higher of the two goes the largest
    excess of any one venue's own peak over both its ends, so the city's peak is never below a
    venue's (and for one venue it is that venue's, as ``hours_of`` has it). Only the minutes
    with events are visited, as in ``hours_of``."""
    stop = _stop(end, until)
    level = 0  # people in all venues at the end of the last minute visited
    change: dict[int, int] = defaultdict(int)
    excess: dict[int, int] = defaultdict(int)
    for minutes in venues:
        previous = minutes.count_before(start)
        level += previous
        for minute in minutes.busy(start, stop):
            end_count = minutes.counts.get(minute, previous)
            own_peak = minutes.fields.get(minute, {}).get("p", 0)
            change[minute] += end_count - previous
            excess[minute] = max(excess[minute], own_peak - max(previous, end_count))
            previous = end_count
    busy, i, rows = sorted(change), 0, []
    for hour in range(start, min(end, stop), 3600):
        peak, active = level, level > 0
        while i < len(busy) and busy[i] < hour + 3600:
            minute, before = busy[i], level
            level += change[minute]
            peak, active, i = max(peak, max(before, level) + excess[minute]), True, i + 1
        if active:
            rows.append({"hour_start": datetime.fromtimestamp(hour, UTC), "peak_count": peak})
    return rows


def _add_quiet(row: dict, count: int, capacity: int, minutes: int) -> None:
    """Minutes without events: the count stayed ``count`` all along."""
    if minutes > 0:
        row["peak_count"] = max(row["peak_count"], count)
        if count >= capacity:
            row["minutes_full"] += minutes


FIELDS = (*COUNTERS, "p", "f")
_FIELDS = frozenset(name.encode() for name in FIELDS)
# Venues read per Redis round trip. One pipeline for a whole city (10,000 venues, two hours of
# minutes asked field by field) kept Redis and the worker's event loop busy for seconds: check-in
# and check-out calls waiting behind it timed out (docs/benchmarks/history/2026-11.md).
CHUNK_VENUES = 200


def _add_fields(parsed: dict[int, dict[str, int]], stored: dict, start: int, end: int) -> None:
    """The fields of the minutes in [start, end) from one day's hash (``<minute>:<field>``)."""
    for key, value in stored.items():
        minute, _, field = key.partition(b":")
        if field in _FIELDS and start <= (at := int(minute)) < end:
            parsed.setdefault(at, {})[field.decode()] = int(value)


async def read_minutes(
    redis: Redis, venue_ids: list[int], start: int, end: int, tz: ZoneInfo
) -> dict[int, Minutes]:
    """The minutes of [start, end) and every end-of-minute count since the day before ``start``
    (they give the count carried into the range).

    Each day's hash is read whole (HGETALL): it holds only the minutes that had events, so a
    quiet venue costs next to nothing. Venues go in chunks, and the loop serves requests between.
    """
    days = sorted({day_key(local_date(minute, tz)) for minute in range(start, end, 60)})
    first = local_date(start, tz) - timedelta(days=1)
    count_days = [day_key(first + timedelta(days=i))
                  for i in range((local_date(end - 1, tz) - first).days + 1)]
    result = {}
    for i in range(0, len(venue_ids), CHUNK_VENUES):
        chunk = venue_ids[i:i + CHUNK_VENUES]
        pipe = redis.pipeline(transaction=False)
        for venue_id in chunk:
            for day in days:
                pipe.hgetall(keys.minute_stats(venue_id, day))
            for day in count_days:
                pipe.hgetall(keys.minute_counts(venue_id, day))
        replies = iter(await pipe.execute())
        for venue_id in chunk:
            fields: dict[int, dict[str, int]] = {}
            for _ in days:
                _add_fields(fields, next(replies), start, end)
            counts: dict[int, int] = {}
            for _ in count_days:
                counts.update(minute_counts(next(replies)))
            result[venue_id] = Minutes(fields, counts, 0)
        await asyncio.sleep(0)
    return result


async def rollup_range(
    redis: Redis, sessionmaker: async_sessionmaker[AsyncSession], tz: ZoneInfo, start: int,
    end: int, now: float,
) -> int:
    """Write the hours in [start, end) (hour boundaries, epoch seconds) for every venue."""
    end = min(end, (int(now) // 3600 + 1) * 3600)
    if end <= start:
        return 0
    async with sessionmaker() as session:
        # Two columns, not 10,000 ORM objects: this runs every minute in a serving process.
        venues = (await session.execute(select(Venue.id, Venue.capacity).order_by(Venue.id))).all()
        minutes = await read_minutes(redis, [v.id for v in venues], start, end, tz)
        rows = []
        for i, venue in enumerate(venues, start=1):
            for row in hours_of(minutes[venue.id], venue.capacity, start, end, now):
                rows.append({"venue_id": venue.id, **row})
            if i % CHUNK_VENUES == 0:
                await asyncio.sleep(0)  # requests go first
        # About 90 ms for 10,000 busy venues: in a thread, so requests are served meanwhile.
        city = await asyncio.to_thread(city_hours, list(minutes.values()), start, end, now)
        if rows:
            await _upsert(session, VenueHour, ("venue_id", "hour_start"), rows)
        if city:
            await _upsert(session, CityHour, ("hour_start",), city)
        await session.commit()
    return len(rows)


async def rollup_day(
    redis: Redis, sessionmaker: async_sessionmaker[AsyncSession], tz: ZoneInfo, day: date,
    now: float | None = None,
) -> int:
    """Write the hours of a local ``day`` (up to now) for every venue; return the rows written."""
    first, after = day_bounds(day, tz)
    start = int(first.timestamp()) // 3600 * 3600
    end = -(-int(after.timestamp()) // 3600) * 3600
    return await rollup_range(redis, sessionmaker, tz, start, end,
                              now if now is not None else time.time())


async def _upsert(session: AsyncSession, table, key: tuple[str, ...], rows: list[dict]) -> None:
    insert = sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert
    statement = insert(table)
    values = {name: statement.excluded[name] for name in rows[0] if name not in key}
    statement = statement.on_conflict_do_update(index_elements=list(key), set_=values)
    for i in range(0, len(rows), 500):
        await session.execute(statement, rows[i:i + 500])


async def rollup_recent(
    redis: Redis, sessionmaker: async_sessionmaker[AsyncSession], tz: ZoneInfo,
    now: float | None = None,
) -> int:
    """The current hour and the one before (so an hour is final once the next has begun)."""
    now = now if now is not None else time.time()
    hour = int(now) // 3600 * 3600
    return await rollup_range(redis, sessionmaker, tz, hour - 3600, hour + 3600, now)
