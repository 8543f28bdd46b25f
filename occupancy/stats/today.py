"""Read a venue's live state and today's statistics from Redis, several venues in one round trip.

The check-in and check-out scripts keep these counters (see ``redis_keys.stats_keys``); nothing
here scans visits in SQL.
"""

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import msgspec
from redis.asyncio import Redis

from occupancy import redis_keys as keys
from occupancy.stats.calendar import day_of, day_start, local_date, minute_of
from occupancy.visits.reasons import CheckOutReason

RECENT_EVENTS = 20
SERIES_CHUNK = 200  # venues per Redis round trip when the city's series is built
_decode = msgspec.json.Decoder().decode
PER_MINUTE_WINDOW = 60
# A check-in counts in the minute its request began, which may end while it runs: the current
# and the previous minute can still change; older ones no longer do.
FRESH_MINUTES = 2


@dataclass(slots=True)
class DayTotals:
    entries: int = 0
    exits: int = 0
    visitors_in: int = 0
    visitors_out: int = 0
    refused_full: int = 0
    refused_fever: int = 0
    stay_seconds: int = 0
    stays: int = 0

    @classmethod
    def from_hash(cls, values: dict) -> "DayTotals":
        def get(name: str) -> int:
            return int(values.get(name.encode(), 0))

        return cls(
            entries=get("entries"), exits=get("exits"), visitors_in=get("visitors_in"),
            visitors_out=get("visitors_out"), refused_full=get("refused_full"),
            refused_fever=get("refused_fever"), stay_seconds=get("stay_s"), stays=get("stays"),
        )

    @property
    def avg_stay_minutes(self) -> float | None:
        return round(self.stay_seconds / self.stays / 60, 1) if self.stays else None


@dataclass(frozen=True, slots=True)
class LineLive:
    """A venue's waiting line as the dashboards and the door display show it (occupancy.line)."""

    waiting: int = 0  # parties waiting
    offered: int = 0  # places offered to parties and not claimed yet: taken for walk-ins
    since: float | None = None  # when the head of the line joined (epoch s)

    def longest_wait(self, now: float) -> int:
        return max(0, round(now - self.since)) if self.since is not None else 0


NO_LINE = LineLive()


@dataclass(slots=True)
class VenueLive:
    """What a dashboard shows of one venue: the count now and today so far."""

    venue_id: int
    count: int
    capacity: int | None
    paused: bool
    today: DayTotals
    per_minute: list[list[int]]  # [minute, entries, exits] for the last 60 minutes
    recent: list[dict]  # newest first: {"at", "event", "party"}
    series: list[list[int]] = field(default_factory=list)  # [minute, count at its end], today
    minute: int = 0
    line: LineLive = NO_LINE

    @property
    def point(self) -> list[int]:
        return [self.minute, self.count]


def event_name(event: dict) -> str:
    """What a dashboard calls a published event: in, walkin, out, fever, full or undo."""
    if event.get("e") == "in" and event.get("k") == "walkin":
        return "walkin"
    if event.get("e") == "out" and event.get("r") == CheckOutReason.FEVER:
        return "fever"
    return event.get("e", "")


def recent_item(event: dict) -> dict:
    """Party size and time only: the published events carry nothing personal anyway."""
    return {"at": event.get("t"), "event": event_name(event), "party": event.get("n")}


def dense_series(points: dict[int, int], until: int) -> list[list[int]]:
    """Fill the minutes without a change with the count before them, up to ``until``."""
    if not points:
        return []
    series = []
    minute, last = min(points), 0
    while minute <= until:
        last = points.get(minute, last)
        series.append([minute, last])
        minute += 60
    return series


def minute_counts(values: dict) -> dict[int, int]:
    return {int(minute): int(count) for minute, count in values.items()}


def count_at_midnight(count: int, arrived: int, left: int) -> int:
    """A venue's count when the day began: its count now less today's arrivals plus today's
    departures (people there since yesterday, at a station or a hospital, count from midnight)."""
    return max(0, count - arrived + left)


def _queue_line(pipe, venue_id: int) -> None:
    pipe.zcard(keys.line(venue_id))
    pipe.hget(keys.line_meta(venue_id), "offered")
    pipe.zrange(keys.line(venue_id), 0, 0)


def _line_reply(replies) -> tuple[int, int, bytes | None]:
    """(parties waiting, places offered, the head's entry hash) from ``_queue_line``'s replies."""
    waiting, offered, head = next(replies), next(replies), next(replies)
    return int(waiting or 0), int(offered or 0), head[0] if head else None


class TodayReader:
    def __init__(self, redis: Redis, tz: ZoneInfo) -> None:
        self.redis = redis
        self.tz = tz

    async def venues(
        self, venue_ids: list[int], now: float, *, series: bool = False,
        minutes: int = PER_MINUTE_WINDOW, recent: bool = True,
    ) -> dict[int, VenueLive]:
        """Several venues' live state in one round trip.

        ``minutes``: how many of the last minutes' figures to read (60 for a snapshot; the live
        hub's updates carry only the ``FRESH_MINUTES`` that can still change). ``recent``: read
        the last events too (the hub has them from the published events instead).
        """
        minute = minute_of(now)
        today = day_of(now, self.tz)
        midnight = self.midnight(now) if series else 0
        window = [minute - 60 * i for i in range(minutes - 1, -1, -1)]
        by_day = self._minutes_by_day(window)
        pipe = self.redis.pipeline(transaction=False)
        for venue_id in venue_ids:
            pipe.get(keys.count(venue_id))
            pipe.hmget(keys.config(venue_id), "capacity", "paused")
            pipe.hgetall(keys.day_stats(venue_id, today))
            for day, day_minutes in by_day.items():
                fields = [f"{m}:{f}" for m in day_minutes for f in ("e", "x")]
                pipe.hmget(keys.minute_stats(venue_id, day), fields)
            if recent:
                pipe.lrange(keys.recent(venue_id), 0, RECENT_EVENTS - 1)
            if series:
                pipe.hgetall(keys.minute_counts(venue_id, today))
            _queue_line(pipe, venue_id)
        replies = iter(await pipe.execute())
        result, heads = {}, {}
        for venue_id in venue_ids:
            count = int(next(replies) or 0)
            capacity, paused = next(replies)
            totals = DayTotals.from_hash(next(replies))
            per_minute = []
            for day_minutes in by_day.values():
                values = next(replies)
                for i, m in enumerate(day_minutes):
                    per_minute.append([m, int(values[2 * i] or 0), int(values[2 * i + 1] or 0)])
            live = VenueLive(
                venue_id=venue_id, count=count,
                capacity=int(capacity) if capacity is not None else None,
                paused=paused == b"1", today=totals, per_minute=per_minute,
                recent=[recent_item(_decode(raw)) for raw in next(replies)] if recent else [],
                minute=minute,
            )
            if series:
                points = minute_counts(next(replies))
                if opening := count_at_midnight(count, totals.visitors_in, totals.visitors_out):
                    points.setdefault(midnight, opening)
                live.series = dense_series(points, minute)
            heads[venue_id] = _line_reply(replies)
            result[venue_id] = live
        for venue_id, line in (await self._line_heads(heads)).items():
            result[venue_id].line = line
        return result

    async def lines(self, venue_ids: list[int]) -> dict[int, LineLive]:
        """The waiting lines of several venues: one round trip, and one more for the heads'
        joining times where parties wait."""
        pipe = self.redis.pipeline(transaction=False)
        for venue_id in venue_ids:
            _queue_line(pipe, venue_id)
        replies = iter(await pipe.execute() if venue_ids else [])
        return await self._line_heads({venue_id: _line_reply(replies) for venue_id in venue_ids})

    async def _line_heads(self, heads: dict[int, tuple[int, int, bytes | None]]
                          ) -> dict[int, LineLive]:
        waiting = [(venue_id, head) for venue_id, (_, _, head) in heads.items() if head]
        joined = {}
        if waiting:
            pipe = self.redis.pipeline(transaction=False)
            for venue_id, head in waiting:
                pipe.hget(keys.line_entries(venue_id), head)
            for (venue_id, _), raw in zip(waiting, await pipe.execute(), strict=True):
                joined[venue_id] = float(_decode(raw)["j"]) if raw else None
        return {venue_id: LineLive(n, offered, joined.get(venue_id))
                for venue_id, (n, offered, _) in heads.items()}

    def midnight(self, now: float) -> int:
        """The first minute of the local day of ``now`` (epoch seconds)."""
        return int(day_start(local_date(now, self.tz), self.tz).timestamp())

    def _minutes_by_day(self, minutes: list[int]) -> dict[str, list[int]]:
        by_day: dict[str, list[int]] = defaultdict(list)
        for m in minutes:
            by_day[day_of(m, self.tz)].append(m)
        return by_day

    async def venue(self, venue_id: int, now: float, *, series: bool = False) -> VenueLive:
        return (await self.venues([venue_id], now, series=series))[venue_id]

    async def counts(self, venue_ids: list[int]) -> dict[int, tuple[int, int | None, bool]]:
        """Count, capacity and paused of many venues (for the city view)."""
        pipe = self.redis.pipeline(transaction=False)
        for venue_id in venue_ids:
            pipe.get(keys.count(venue_id))
            pipe.hmget(keys.config(venue_id), "capacity", "paused")
        replies = iter(await pipe.execute() if venue_ids else [])
        result = {}
        for venue_id in venue_ids:
            count = int(next(replies) or 0)
            capacity, paused = next(replies)
            result[venue_id] = (count, int(capacity) if capacity is not None else None, paused == b"1")
        return result

    async def city_series(self, counts: dict[int, tuple[int, int | None, bool]],
                          now: float) -> dict[int, int]:
        """The city's total at the end of each minute today (each venue's count carried forward),
        from midnight (see ``count_at_midnight``), given every venue's count now as ``counts``
        reads it. Venues are read a chunk at a time, and the loop serves requests between (a city
        has 10,000)."""
        today = day_of(now, self.tz)
        changes: dict[int, int] = defaultdict(int)
        running = 0
        venue_ids = list(counts)
        for i in range(0, len(venue_ids), SERIES_CHUNK):
            chunk = venue_ids[i:i + SERIES_CHUNK]
            pipe = self.redis.pipeline(transaction=False)
            for venue_id in chunk:
                pipe.hmget(keys.day_stats(venue_id, today), "visitors_in", "visitors_out")
                pipe.hgetall(keys.minute_counts(venue_id, today))
            replies = iter(await pipe.execute())
            for venue_id in chunk:
                arrived, left = (int(value or 0) for value in next(replies))
                points = minute_counts(next(replies))
                last = count_at_midnight(counts[venue_id][0], arrived, left)
                running += last
                for m in sorted(points):
                    changes[m] += points[m] - last
                    last = points[m]
            await asyncio.sleep(0)
        totals = {self.midnight(now): running} if running else {}
        for m in sorted(changes):
            running += changes[m]
            totals[m] = running
        return totals
