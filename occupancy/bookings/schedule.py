"""A slot plan as plain values, and the slots it makes on a day (no SQL, no Redis).

Slot times are the city's local time (``Settings.timezone``); a slot is named by its local day and
start, e.g. ``20261207-0700``, which stays its name whatever the plan becomes later.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from occupancy.errors import InvalidInput

MAX_SLOTS = 48
MAX_DAYS_AHEAD = 60
MAX_HOLD_MINUTES = 240
MAX_PER_PHONE = 20
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SLOT_KEY = re.compile(r"^(\d{8})-([01]\d|2[0-3])([0-5]\d)$")


def invalid(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, field=field, code="invalid_slots")


def clock(text: str, field: str) -> time:
    """``"07:30"`` as a time; anything else is refused."""
    match = _CLOCK.match(text.strip())
    if not match:
        raise invalid(f"'{text}' is not a time of day written HH:MM, e.g. 07:30.", field)
    return time(int(match[1]), int(match[2]))


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def _at(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def ranges_from_starts(starts: list[str], length_minutes: int) -> list[tuple[time, time]]:
    """Slots starting at each of ``starts``, each ``length_minutes`` long, within the day."""
    if not 5 <= length_minutes <= 24 * 60:
        raise invalid("A slot lasts between 5 minutes and 24 hours.", "slot_minutes")
    ranges = []
    for text in starts:
        start = _minutes(clock(text, "starts"))
        if start + length_minutes > 24 * 60 - 1:
            raise invalid(f"The slot starting at {text} would end after 23:59.", "starts")
        ranges.append((_at(start), _at(start + length_minutes)))
    return ranges


def parse_ranges(texts: list[str]) -> list[tuple[time, time]]:
    """``["07:00-09:00", ...]`` as (start, end) pairs."""
    ranges = []
    for text in texts:
        start, dash, end = text.partition("-")
        if not dash:
            raise invalid(f"'{text}' is not a slot written HH:MM-HH:MM, e.g. 07:00-09:00.", "ranges")
        ranges.append((clock(start, "ranges"), clock(end, "ranges")))
    return ranges


def checked_ranges(ranges: list[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    """Sorted, each at least 5 minutes long, none overlapping another."""
    if not 1 <= len(ranges) <= MAX_SLOTS:
        raise invalid(f"Give between 1 and {MAX_SLOTS} slots.", "ranges")
    ordered = sorted(ranges)
    for start, end in ordered:
        if _minutes(end) - _minutes(start) < 5:
            raise invalid(f"The slot {start:%H:%M}-{end:%H:%M} must end at least 5 minutes "
                          "after it starts.", "ranges")
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        if start < end:
            raise invalid(f"Slots overlap at {start:%H:%M}: a place belongs to one slot at a time.",
                          "ranges")
    return tuple(ordered)


def format_ranges(ranges: tuple[tuple[time, time], ...]) -> str:
    return ",".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in ranges)


def parse_weekdays(days: list[int]) -> str:
    if not days or any(day not in range(1, 8) for day in days):
        raise invalid("Weekdays are 1 (Monday) to 7 (Sunday), at least one.", "weekdays")
    return "".join(str(day) for day in sorted(set(days)))


@dataclass(frozen=True, slots=True)
class Slot:
    day: date
    start: time
    end: time
    starts_at: datetime  # UTC
    ends_at: datetime

    @property
    def key(self) -> str:
        return f"{self.day:%Y%m%d}-{self.start:%H%M}"


@dataclass(frozen=True, slots=True)
class Plan:
    """A venue's slot plan, as enforced (``SlotPlan`` read from SQL)."""

    venue_id: int
    ranges: tuple[tuple[time, time], ...]
    weekdays: str
    capacity: int
    advance_percent: int
    hold_minutes: int
    days_ahead: int
    per_phone: int = 1

    @classmethod
    def of(cls, row) -> "Plan":
        return cls(row.venue_id, checked_ranges(parse_ranges(row.ranges.split(","))), row.weekdays,
                   row.capacity, row.advance_percent, row.hold_minutes, row.days_ahead,
                   row.per_phone)

    @property
    def bookable(self) -> int:
        """Places of a slot that may be booked in advance; the rest is kept for walk-ins."""
        return self.capacity * self.advance_percent // 100

    def is_open(self, day: date) -> bool:
        return str(day.isoweekday()) in self.weekdays

    def slots_of(self, day: date, tz: ZoneInfo) -> list[Slot]:
        """The day's slots (none on a closed day)."""
        if not self.is_open(day):
            return []
        return [Slot(day, start, end, _utc(day, start, tz), _utc(day, end, tz))
                for start, end in self.ranges]

    def bookable_until(self, slot: Slot) -> datetime:
        """A slot is booked until its hold runs out: a booking must still be claimable."""
        return slot.starts_at + timedelta(minutes=self.hold_minutes)

    def slot(self, key: str, tz: ZoneInfo) -> Slot | None:
        """The slot a key names, if the plan has it on that day."""
        match = _SLOT_KEY.match(key)
        if not match:
            return None
        try:
            day = datetime.strptime(match[1], "%Y%m%d").date()
        except ValueError:
            return None
        start = time(int(match[2]), int(match[3]))
        return next((slot for slot in self.slots_of(day, tz) if slot.start == start), None)


def _utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tz).astimezone(UTC)
