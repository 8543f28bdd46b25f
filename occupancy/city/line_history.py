"""The waiting lines of days past (and today so far) for officials: per local day, district and
category and for the city, parties that joined, were offered places, claimed them, let the offer
pass or left; the longest and the median wait (join to offer); and the longest line (most
parties waiting at once in one venue's line). From SQL's line entries, read once in the order
they joined. Counts and times only: nothing personal exists at this level."""

import bisect
import heapq
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.city import grouping
from occupancy.line.models import LineEntry
from occupancy.stats.calendar import day_start
from occupancy.stats.history import Period
from occupancy.venues.models import Venue

EVENTS = ("joined", "offered", "claimed", "passed", "left")
CSV_COLUMNS = ("day", "district", "category", *EVENTS, "longest_wait_minutes",
               "median_wait_minutes", "longest_line")
# Rows fetched per round trip: memory stays bounded however long the period.
BATCH = 2000


@dataclass(slots=True)
class LineDay:
    joined: int = 0
    offered: int = 0
    claimed: int = 0
    passed: int = 0  # its offer ran out unclaimed
    left: int = 0
    waits: list[float] = field(default_factory=list)  # seconds from join to offer
    longest_line: int = 0  # most parties waiting at once in one venue's line

    def add(self, other: "LineDay") -> None:
        for name in EVENTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.waits += other.waits
        self.longest_line = max(self.longest_line, other.longest_line)


def shown(figures: LineDay) -> dict:
    waits = figures.waits
    return {**{name: getattr(figures, name) for name in EVENTS},
            "longest_wait_minutes": round(max(waits) / 60, 1) if waits else None,
            "median_wait_minutes": round(statistics.median(waits) / 60, 1) if waits else None,
            "longest_line": figures.longest_line}


class _Days:
    """The period's local days: which one an instant falls in, and where each begins."""

    def __init__(self, period: Period, tz: ZoneInfo) -> None:
        count = (period.end - period.start).days + 1
        self.names = [(period.start + timedelta(days=i)).isoformat() for i in range(count)]
        self.starts = [day_start(period.start + timedelta(days=i), tz) for i in range(count + 1)]

    def index(self, at: datetime) -> int | None:
        i = bisect.bisect_right(self.starts, at) - 1
        return i if 0 <= i < len(self.names) else None


class _Venue:
    """One venue's line swept in join order: a heap of the times its waiting parties stop
    waiting (offered places or left), so its length is the heap's size."""

    def __init__(self, days: _Days, now: datetime) -> None:
        self.days, self.now, self.waiting = days, now, []
        self.next_day = 0  # the first day start not yet passed
        self.figures: dict[int, LineDay] = {}

    def day(self, i: int) -> LineDay:
        figures = self.figures.get(i)
        if figures is None:  # made once per day, not on every call
            figures = self.figures[i] = LineDay()
        return figures

    def count(self, at: datetime | None, name: str) -> int | None:
        i = self.days.index(at) if at is not None else None
        if i is not None:
            figures = self.day(i)
            setattr(figures, name, getattr(figures, name) + 1)
        return i

    def _length_at(self, at: datetime) -> int:
        while self.waiting and self.waiting[0] <= at:
            heapq.heappop(self.waiting)
        return len(self.waiting)

    def _longest(self, i: int, length: int) -> None:
        if length:
            self.day(i).longest_line = max(self.day(i).longest_line, length)

    def pass_days(self, until: datetime) -> None:
        """Each day begun by ``until`` starts with the parties still waiting at its start."""
        starts = self.days.starts
        while self.next_day < len(self.days.names) and starts[self.next_day] <= until:
            self._longest(self.next_day, self._length_at(starts[self.next_day]))
            self.next_day += 1

    def add(self, row) -> None:
        self.pass_days(row.joined_at)
        stopped = row.offered_at or row.left_at or self.now  # still waiting: until now
        length = self._length_at(row.joined_at) + 1
        heapq.heappush(self.waiting, stopped)
        if (i := self.count(row.joined_at, "joined")) is not None:
            self._longest(i, length)
        if (i := self.count(row.offered_at, "offered")) is not None:
            self.day(i).waits.append((row.offered_at - row.joined_at).total_seconds())
        for name in ("claimed", "passed", "left"):
            self.count(getattr(row, f"{name}_at"), name)

    def finish(self) -> None:
        self.pass_days(self.now)


def _query(period: Period, tz: ZoneInfo):
    """Entries with anything in the period: joined before its end, and not finished before its
    start (a party waiting since the day before makes that day's line longer)."""
    start, end = day_start(period.start, tz), day_start(period.end + timedelta(days=1), tz)
    finished = func.coalesce(LineEntry.claimed_at, LineEntry.left_at, LineEntry.passed_at)
    return (select(LineEntry.venue_id, Venue.district, Venue.category, LineEntry.joined_at,
                   LineEntry.offered_at, LineEntry.claimed_at, LineEntry.left_at,
                   LineEntry.passed_at)
            .join(Venue, Venue.id == LineEntry.venue_id)
            .where(LineEntry.joined_at < end, or_(finished.is_(None), finished >= start))
            .order_by(LineEntry.venue_id, LineEntry.joined_at)
            .execution_options(yield_per=BATCH))


async def cells(session: AsyncSession, period: Period, tz: ZoneInfo,
                now: datetime | None = None) -> list[grouping.Cell]:
    """(day, district, category, figures) for every day and group with anything in its lines."""
    days, now = _Days(period, tz), now or datetime.now(UTC)
    found: dict[tuple[int, str, str], LineDay] = {}
    venue, venue_id, group = None, None, None

    def settle() -> None:
        if venue is None:
            return
        venue.finish()
        for i, figures in venue.figures.items():
            found.setdefault((i, *group), LineDay()).add(figures)

    # Whole batches from the stream: one switch into SQLAlchemy's async bridge per batch, not
    # per row.
    async for rows in (await session.stream(_query(period, tz))).partitions(BATCH):
        for row in rows:
            if row.venue_id != venue_id:
                settle()
                venue, venue_id = _Venue(days, now), row.venue_id
                group = (row.district, row.category)
            venue.add(row)
    settle()
    return [(days.names[i], district, category, figures)
            for (i, district, category), figures in sorted(found.items())]


def history(found: list, period: Period) -> dict:
    return {"from": period.start.isoformat(), "to": period.end.isoformat(),
            **grouping.fold(found, LineDay, shown)}


def csv_rows(found: list) -> list[dict]:
    """One row per day, district and category with anything in its lines."""
    return [{"day": day, "district": district, "category": category, **shown(figures)}
            for day, district, category, figures in found]
