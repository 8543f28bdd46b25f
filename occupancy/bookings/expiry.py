"""What time does to bookings, run by one process about every second (``kit.periodic``):
unclaimed bookings expire once their hold ran out, and the visits of a slot are checked out at
its end plus a grace (reason ``slot_end``).

The places of an unclaimed booking stop being held the moment its hold ends (``checkin.lua``
reads only the slot under way), whoever runs this and however late; this job records the expiry
(Redis first, so that a claim that got there first stands, then SQL). Every step is idempotent,
so a second process running it at the same time counts nothing twice.
"""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from occupancy import metrics
from occupancy.bookings import plans
from occupancy.bookings.models import Booking, SlotPlan
from occupancy.bookings.schedule import Plan
from occupancy.bookings.service import Bookings
from occupancy.bookings.writes import BookingExpired
from occupancy.visits.models import Visit
from occupancy.visits.reasons import CheckOutReason
from occupancy.visits.service import Visits

log = logging.getLogger(__name__)
PAGE = 500  # rows read per query


def slot_end_of(plan: Plan, checked_in_at: datetime, tz: ZoneInfo) -> datetime | None:
    """The end of the slot a visit began in, if it began in one."""
    for slot in plan.slots_of(checked_in_at.astimezone(tz).date(), tz):
        if slot.starts_at <= checked_in_at < slot.ends_at:
            return slot.ends_at
    return None


class SlotTimers:
    def __init__(self, bookings: Bookings, visits: Visits, grace: timedelta) -> None:
        self.bookings = bookings
        self.visits = visits
        self.grace = grace

    async def run(self, now: datetime | None = None) -> tuple[int, int]:
        """(bookings expired by this run, visits whose check-out it made or saw through: one a
        concurrent run was closing counts in both)."""
        now = now or datetime.now(UTC)
        expired, ended = await self.expire_unclaimed(now), await self.end_slots(now)
        if expired or ended:
            log.info("expired %d unclaimed bookings, checked out %d visits at their slot's end",
                     expired, ended)
        return expired, ended

    async def expire_unclaimed(self, now: datetime) -> int:
        async with self.bookings.sessionmaker() as session:
            rows = (await session.execute(
                select(Booking.venue_id, Booking.booking_hash, Booking.slot,
                       Booking.slot_starts_at, Booking.party_size, SlotPlan.hold_minutes)
                .join(SlotPlan, SlotPlan.venue_id == Booking.venue_id)
                .where(Booking.claimed_at.is_(None), Booking.cancelled_at.is_(None),
                       Booking.expired_at.is_(None), Booking.slot_starts_at <= now)
                .order_by(Booking.slot_starts_at).limit(PAGE))).all()
        expired = 0
        for row in rows:
            if row.slot_starts_at + timedelta(minutes=row.hold_minutes) <= now:
                expired += await self._expire(row, now)
        return expired

    async def _expire(self, row, now: datetime) -> int:
        await self.bookings.booked(row.venue_id, datetime.strptime(row.slot[:8], "%Y%m%d").date())
        before = await self.bookings.store.expire(row.venue_id, row.booking_hash, now.timestamp())
        if before not in ("booked", "expired", ""):
            return 0  # claimed or being cancelled meanwhile: that write is on its way to SQL
        await self.bookings.journal.write(BookingExpired(row.booking_hash, now))
        if before != "booked":
            return 0
        metrics.BOOKINGS.labels("expired").inc()
        self.bookings.store.notify(row.venue_id, "expired", row.party_size)
        return 1

    async def end_slots(self, now: datetime) -> int:
        async with self.bookings.sessionmaker() as session:
            by_venue = {plan.venue_id: plan for plan in await plans.plans(session)}
        ended, after = 0, ""
        while by_venue:
            async with self.bookings.sessionmaker() as session:
                rows = (await session.execute(
                    select(Visit.id, Visit.venue_id, Visit.ticket_hash, Visit.checked_in_at,
                           Booking.slot_ends_at)
                    .outerjoin(Booking, Booking.id == Visit.id)
                    .where(Visit.checked_out_at.is_(None), Visit.venue_id.in_(by_venue),
                           Visit.checked_in_at < now - self.grace, Visit.id > after)
                    .order_by(Visit.id).limit(PAGE))).all()
            for row in rows:
                # A claimed booking's visit belongs to its booking's slot, any other to the slot
                # it began in.
                ends = row.slot_ends_at or slot_end_of(by_venue[row.venue_id], row.checked_in_at,
                                                       self.bookings.tz)
                if ends is not None and ends + self.grace <= now:
                    done = await self.visits.end_visit(row.venue_id, row.ticket_hash,
                                                       CheckOutReason.SLOT_END)
                    ended += not done.replayed
            if len(rows) < PAGE:
                return ended
            after = rows[-1].id
        return ended
