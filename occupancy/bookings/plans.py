"""A venue's slot plan in SQL: read, set (validated) and removed, by the API and the CLI alike."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.bookings import schedule
from occupancy.bookings.errors import NoSlots
from occupancy.bookings.models import SlotPlan
from occupancy.bookings.schedule import Plan, Slot, invalid
from occupancy.errors import InvalidInput
from occupancy.stats.calendar import local_date


@dataclass(frozen=True, slots=True)
class PlanChange:
    """A whole plan as a manager or operator gives it: ``ranges``, or ``starts`` with
    ``slot_minutes``."""

    capacity: int
    ranges: list[str] | None = None
    starts: list[str] | None = None
    slot_minutes: int | None = None
    advance_percent: int = 100
    hold_minutes: int = 15
    weekdays: list[int] | None = None
    days_ahead: int = 7
    per_phone: int = 1


def _checked(change: PlanChange, venue_capacity: int) -> dict:
    if (change.ranges is None) == (change.starts is None):
        raise invalid("Give either ranges (07:00-09:00, ...) or starts with slot_minutes.", "ranges")
    if change.starts is not None:
        if change.slot_minutes is None:
            raise invalid("Slots given by their starts need slot_minutes, their length.",
                          "slot_minutes")
        ranges = schedule.ranges_from_starts(change.starts, change.slot_minutes)
    else:
        ranges = schedule.parse_ranges(change.ranges)
    ranges = schedule.checked_ranges(ranges)
    if not 1 <= change.capacity <= venue_capacity:
        raise invalid(f"A slot holds between 1 and the venue's capacity ({venue_capacity}) places.",
                      "capacity")
    if not 0 <= change.advance_percent <= 100:
        raise invalid("The share bookable in advance is 0 to 100 percent.", "advance_percent")
    # At least a minute: a booking is claimed between its slot's start and the end of its hold.
    if not 1 <= change.hold_minutes <= schedule.MAX_HOLD_MINUTES:
        raise invalid(f"A booking is held 1 to {schedule.MAX_HOLD_MINUTES} minutes after its slot "
                      "starts.", "hold_minutes")
    shortest = min((e.hour * 60 + e.minute) - (s.hour * 60 + s.minute) for s, e in ranges)
    if change.hold_minutes > shortest:
        raise invalid(f"A booking cannot be held longer than a slot lasts ({shortest} minutes).",
                      "hold_minutes")
    if not 0 <= change.days_ahead <= schedule.MAX_DAYS_AHEAD:
        raise invalid(f"Slots are booked 0 to {schedule.MAX_DAYS_AHEAD} days ahead.", "days_ahead")
    if not 1 <= change.per_phone <= schedule.MAX_PER_PHONE:
        raise invalid(f"One phone may hold 1 to {schedule.MAX_PER_PHONE} bookings a day here.",
                      "per_phone")
    return dict(
        ranges=schedule.format_ranges(ranges),
        weekdays=schedule.parse_weekdays(
            list(range(1, 8)) if change.weekdays is None else change.weekdays),
        capacity=change.capacity, advance_percent=change.advance_percent,
        hold_minutes=change.hold_minutes, days_ahead=change.days_ahead,
        per_phone=change.per_phone,
    )


async def get_plan(session: AsyncSession, venue_id: int) -> Plan:
    row = await session.get(SlotPlan, venue_id)
    if row is None:
        raise NoSlots()
    return Plan.of(row)


async def set_plan(session: AsyncSession, venue_id: int, venue_capacity: int,
                   change: PlanChange) -> Plan:
    """Run the venue by this plan from now on (a new plan replaces the old one whole)."""
    values = _checked(change, venue_capacity)
    row = await session.get(SlotPlan, venue_id)
    if row is None:
        row = SlotPlan(venue_id=venue_id)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    await session.commit()
    return Plan.of(row)


async def remove_plan(session: AsyncSession, venue_id: int) -> None:
    """The venue is no longer run by slots."""
    removed = await session.execute(delete(SlotPlan).where(SlotPlan.venue_id == venue_id))
    await session.commit()
    if removed.rowcount == 0:
        raise NoSlots()


async def plans(session: AsyncSession) -> list[Plan]:
    return [Plan.of(row) for row in (await session.execute(
        select(SlotPlan).order_by(SlotPlan.venue_id))).scalars()]


def bookable_day(plan: Plan, day: date | None, now: datetime, tz: ZoneInfo) -> date:
    """The day asked for (today by default) if slots of it can be booked: not past, not beyond
    the plan's horizon."""
    today = local_date(now.timestamp(), tz)
    day = day or today
    if day < today:
        raise InvalidInput("This day is past: pick today or a later day.", field="date",
                           code="day_past")
    if day > today + timedelta(days=plan.days_ahead):
        raise InvalidInput(f"Slots are booked at most {plan.days_ahead} days ahead.", field="date",
                           code="day_too_far")
    return day


def open_slots(plan: Plan, day: date, now: datetime, tz: ZoneInfo) -> list[Slot]:
    """The day's slots that can still be booked now."""
    return [slot for slot in plan.slots_of(day, tz) if plan.bookable_until(slot) > now]
