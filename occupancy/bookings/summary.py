"""What managers and officials see of bookings, read from SQL (the record every booking reached
before it was acknowledged): places per slot by state, and the bookings of a day range as plain
rows for the CSV. Never a name, phone or email: those stay sealed."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.bookings.models import Booking
from occupancy.bookings.schedule import Plan
from occupancy.venues.models import Venue

# Places per slot, each state counted in people (party sizes), as capacity is.
FIGURES = ("bookings", "booked", "claimed", "waiting", "no_shows", "cancelled")
CSV_COLUMNS = ("slot_day", "slot_start", "slot_end", "party_size", "state", "booked_at",
               "claimed_at", "cancelled_at", "expired_at")


def _days(first: date, last: date):
    """Slot names sort by their day: ``YYYYMMDD-HHMM``, and "." sorts after "-"."""
    return Booking.slot > f"{first:%Y%m%d}-", Booking.slot < f"{last:%Y%m%d}.0"


def _places(condition):
    return func.coalesce(func.sum(case((condition, Booking.party_size), else_=0)), 0)


@dataclass(slots=True)
class SlotFigures:
    bookings: int = 0  # parties holding a booking (not cancelled)
    booked: int = 0  # their places: claimed, waiting and no-shows
    claimed: int = 0
    no_shows: int = 0  # expired unclaimed
    cancelled: int = 0

    @property
    def waiting(self) -> int:
        """Booked places neither claimed nor expired yet."""
        return self.booked - self.claimed - self.no_shows

    def add(self, other: "SlotFigures") -> None:
        for name in ("bookings", "booked", "claimed", "no_shows", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in FIGURES}


async def figures(session: AsyncSession, first: date, last: date,
                  venue_ids: Sequence[int]) -> dict[tuple[int, str], SlotFigures]:
    """(venue id, slot name) -> its figures, for the slots of those days at those venues (named,
    so that the index by venue and slot is used: the table keeps every day's rows)."""
    if not venue_ids:
        return {}
    live = Booking.cancelled_at.is_(None)
    query = (select(Booking.venue_id, Booking.slot,
                    func.coalesce(func.sum(case((live, 1), else_=0)), 0),
                    _places(live), _places(Booking.claimed_at.is_not(None)),
                    _places(Booking.expired_at.is_not(None)), _places(~live))
             .where(Booking.venue_id.in_(venue_ids), *_days(first, last))
             .group_by(Booking.venue_id, Booking.slot))
    return {(row[0], row[1]): SlotFigures(*(int(n) for n in row[2:]))
            for row in await session.execute(query)}


async def figures_per_day(session: AsyncSession, first: date,
                          last: date) -> list[tuple[str, str, str, SlotFigures]]:
    """(slot's day as YYYY-MM-DD, district, category, figures) for every venue's bookings of
    those days: summed in SQL per venue and day (in the index's order, so without a sort), then
    per district and category here."""
    live = Booking.cancelled_at.is_(None)
    day = func.substr(Booking.slot, 1, 8)
    query = (select(Booking.venue_id, day,
                    func.coalesce(func.sum(case((live, 1), else_=0)), 0),
                    _places(live), _places(Booking.claimed_at.is_not(None)),
                    _places(Booking.expired_at.is_not(None)), _places(~live))
             # Named venues, so that the index by venue and slot is used.
             .where(Booking.venue_id.in_(select(Venue.id)), *_days(first, last))
             .group_by(Booking.venue_id, day))
    groups = {row.id: (row.district, row.category) for row in
              await session.execute(select(Venue.id, Venue.district, Venue.category))}
    cells: dict[tuple[str, str, str], SlotFigures] = {}
    for venue_id, key, *counts in await session.execute(query):
        if venue_id in groups:  # removed meanwhile
            cell = (f"{key[:4]}-{key[4:6]}-{key[6:8]}", *groups[venue_id])
            cells.setdefault(cell, SlotFigures()).add(SlotFigures(*(int(n) for n in counts)))
    return [(*cell, figures) for cell, figures in cells.items()]


def venue_day(plan: Plan, day: date, tz: ZoneInfo,
              found: dict[tuple[int, str], SlotFigures]) -> list[dict]:
    """The day's slots in order, each with its figures and free places; a slot the plan no longer
    has but bookings still name is listed too (its bookings stand)."""
    slots = {slot.key: slot for slot in plan.slots_of(day, tz)}
    keys = sorted(set(slots) | {name for (_, name) in found})
    rows = []
    for key in keys:
        slot, counts = slots.get(key), found.get((plan.venue_id, key), SlotFigures())
        rows.append({
            "slot": key, "start": f"{key[9:11]}:{key[11:13]}",
            "end": f"{slot.end:%H:%M}" if slot else None,
            "in_plan": slot is not None,
            "capacity": plan.capacity if slot else None,
            "bookable": plan.bookable if slot else None,
            **counts.as_json(),
            "free": max(0, plan.bookable - counts.booked) if slot else 0,
        })
    return rows


def totals(rows: list[dict]) -> dict:
    return {name: sum(row[name] for row in rows) for name in (*FIGURES, "free")}


def _state(row) -> str:
    if row.cancelled_at is not None:
        return "cancelled"
    if row.expired_at is not None:
        return "no_show"
    return "claimed" if row.claimed_at is not None else "booked"


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat(timespec="seconds") if at else ""


async def export_rows(session: AsyncSession, venue_id: int, first: date, last: date,
                      tz: ZoneInfo) -> list[dict]:
    """One row per booking of the days' slots: times, party size and state, nothing personal."""
    query = (select(Booking.slot, Booking.slot_starts_at, Booking.slot_ends_at,
                    Booking.party_size, Booking.booked_at, Booking.claimed_at,
                    Booking.cancelled_at, Booking.expired_at)
             .where(Booking.venue_id == venue_id, *_days(first, last))
             .order_by(Booking.slot, Booking.booked_at))
    return [{
        "slot_day": f"{row.slot[:4]}-{row.slot[4:6]}-{row.slot[6:8]}",
        "slot_start": f"{row.slot_starts_at.astimezone(tz):%H:%M}",
        "slot_end": f"{row.slot_ends_at.astimezone(tz):%H:%M}",
        "party_size": row.party_size, "state": _state(row),
        "booked_at": _local(row.booked_at, tz), "claimed_at": _local(row.claimed_at, tz),
        "cancelled_at": _local(row.cancelled_at, tz), "expired_at": _local(row.expired_at, tz),
    } for row in await session.execute(query)]
