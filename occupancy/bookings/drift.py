"""Booking counts in Redis compared with SQL, for ``occupancy reconcile``: per slot of every day
Redis has loaded (today and ahead), the places booked, and the places held in the slot under way.

The service trusts a loaded day until Redis loses it; this finds drift (a release that never
reached Redis, a hand edit) and, at the operator's word, sets Redis to SQL's figures. Not done
by the service itself: a booking's write in flight would look like drift.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from occupancy import redis_keys as keys
from occupancy.bookings import plans
from occupancy.bookings.models import Booking
from occupancy.bookings.schedule import Plan
from occupancy.bookings.service import Bookings
from occupancy.bookings.store import SET_DAY, day_name, text


@dataclass(frozen=True, slots=True)
class SlotDrift:
    venue_id: int
    slot: str  # <day>-<HHMM>
    what: str  # 'booked' (places booked in the slot) or 'held' (unclaimed, while under way)
    redis: int
    sql: int


class BookingReconciler:
    def __init__(self, bookings: Bookings) -> None:
        self.bookings = bookings

    async def compare(self, now: datetime | None = None) -> list[SlotDrift]:
        now = now or datetime.now(UTC)
        async with self.bookings.sessionmaker() as session:
            venue_plans = await plans.plans(session)
        drift = []
        for plan in venue_plans:
            drift += await self._venue(plan, now)
        return drift

    async def repair(self, now: datetime | None = None) -> list[SlotDrift]:
        """Compare, then set each drifted day to SQL's figures; the drift found."""
        now = now or datetime.now(UTC)
        drift = await self.compare(now)
        for venue_id, day in sorted({(d.venue_id, d.slot[:8]) for d in drift}):
            await self._set_day(venue_id, day, now)
        return drift

    async def _venue(self, plan: Plan, now: datetime) -> list[SlotDrift]:
        today = now.astimezone(self.bookings.tz).date()
        booked, held = await self._sql(plan, now)
        drift = []
        for ahead in range(plan.days_ahead + 1):
            day = day_name(today + timedelta(days=ahead))
            in_redis = await self.bookings.store.day_counts(plan.venue_id, day)
            if in_redis is None:
                continue  # not loaded: it will be loaded from SQL on first use
            for start in sorted(set(in_redis) | {s[9:] for s in booked if s[:8] == day}):
                ours, theirs = in_redis.get(start, 0), booked.get(f"{day}-{start}", 0)
                if ours != theirs:
                    drift.append(SlotDrift(plan.venue_id, f"{day}-{start}", "booked", ours, theirs))
        if held is not None:
            slot, places = held
            ours = int(text(await self.bookings.store.runner.client.hget(
                keys.held(plan.venue_id), slot)) or 0)
            if ours != places and (await self.bookings.store.day_counts(
                    plan.venue_id, slot[:8])) is not None:
                drift.append(SlotDrift(plan.venue_id, slot, "held", ours, places))
        return drift

    async def _sql(self, plan: Plan, now: datetime) -> tuple[dict[str, int], tuple | None]:
        """Places booked per slot from today on; (slot under way, its unclaimed places) or None."""
        today = day_name(now.astimezone(self.bookings.tz).date())
        under_way = self._under_way(plan, now)
        async with self.bookings.sessionmaker() as session:
            booked = dict((await session.execute(
                select(Booking.slot, func.sum(Booking.party_size))
                .where(Booking.venue_id == plan.venue_id, Booking.slot > f"{today}-",
                       Booking.cancelled_at.is_(None))
                .group_by(Booking.slot))).all())
            if under_way is None:
                return booked, None
            unclaimed = (await session.execute(
                select(func.coalesce(func.sum(Booking.party_size), 0))
                .where(Booking.venue_id == plan.venue_id, Booking.slot == under_way.key,
                       Booking.cancelled_at.is_(None), Booking.claimed_at.is_(None),
                       Booking.expired_at.is_(None)))).scalar()
        return booked, (under_way.key, int(unclaimed))

    def _under_way(self, plan: Plan, now: datetime):
        for slot in plan.slots_of(now.astimezone(self.bookings.tz).date(), self.bookings.tz):
            if slot.starts_at <= now < plan.bookable_until(slot):
                return slot
        return None

    async def _set_day(self, venue_id: int, day: str, now: datetime) -> None:
        async with self.bookings.sessionmaker() as session:
            plan = await plans.get_plan(session, venue_id)
        booked, held = await self._sql(plan, now)
        under_way = self._under_way(plan, now)
        args = ["", 0, 0, 0]
        if held is not None and held[0][:8] == day:
            args = [held[0], held[1], under_way.starts_at.timestamp(),
                    plan.bookable_until(under_way).timestamp()]
        in_redis = await self.bookings.store.day_counts(venue_id, day) or {}
        for start in set(in_redis) | {s[9:] for s in booked if s[:8] == day}:
            args += [start, booked.get(f"{day}-{start}", 0)]
        await self.bookings.store.runner.run(
            SET_DAY, (keys.booking_day(venue_id, day), keys.held(venue_id), keys.holds(venue_id)),
            tuple(args))
