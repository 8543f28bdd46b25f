"""Book and cancel: Redis decides (one script per operation), SQL records, then the visitor is
answered, as for a check-in (``visits.service``).

A venue's day of bookings is loaded into Redis from SQL on first use (and again after Redis lost
it): until then booking there waits for the load, so the counts Redis enforces are always those
of SQL plus the bookings made since.
"""

import asyncio
import base64
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.bookings import codes, plans
from occupancy.bookings.errors import (
    BookingClaimed,
    BookingExpired,
    NoSlots,
    SlotClosed,
    SlotFull,
    TooManyBookings,
    UnknownBooking,
    UnknownSlot,
    refusals_counted,
)
from occupancy.bookings.models import Booking
from occupancy.bookings.plan_cache import CachedPlan, PlanCache
from occupancy.bookings.schedule import Plan, Slot
from occupancy.bookings.store import BookingStore, LiveBooking, day_name
from occupancy.bookings.writes import BookingCancelled, NewBooking
from occupancy.errors import InvalidInput, ServiceUnavailable
from occupancy.privacy.blind_index import index_key, phone_index
from occupancy.privacy.sealing import Personal, Sealer
from occupancy.venues.service import VenueInfo
from occupancy.visits.errors import IdempotencyKeyReused
from occupancy.visits.journal import Journal, TicketConflict
from occupancy.visits.rebuild import Rebuilder
from occupancy.visits.schemas import validate_party
from occupancy.visits.service import new_visit_id

log = logging.getLogger(__name__)
# Redis keeps a day's bookings until a day after it ends.
KEEP_AFTER_DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class BookingRequest:
    slot: str
    name: str
    phone: str
    email: str | None
    party_size: int
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class Booked:
    code: str
    booking_id: str
    slot: Slot
    party_size: int
    booked_at: datetime
    replayed: bool
    state: str
    free: int


@dataclass(frozen=True, slots=True)
class Cancelled:
    booking_id: str
    slot: str
    replayed: bool
    venue_id: int
    party_size: int


class Bookings:
    def __init__(self, store: BookingStore, journal: Journal,
                 sessionmaker: async_sessionmaker[AsyncSession], rebuilder: Rebuilder,
                 sealer: Sealer, secret: str, tz: ZoneInfo, plans: PlanCache) -> None:
        self.store = store
        self.plans = plans
        self.redis = plans.redis
        self._days_loading: dict[tuple[int, date], asyncio.Future] = {}
        self.journal = journal
        self.sessionmaker = sessionmaker
        self.rebuilder = rebuilder
        self.sealer = sealer
        self.secret = secret
        self.index_key = index_key(secret)
        self.tz = tz

    async def plan(self, venue_id: int) -> Plan:
        """The venue's plan, from this process's cache (NoSlots if it has none)."""
        return (await self.plans.get(venue_id)).required()

    async def set_plan(self, venue_id: int, venue_capacity: int,
                       change: plans.PlanChange) -> Plan:
        """Run the venue by this plan from now on; every process books by it at once."""
        async with self.sessionmaker() as session:
            plan = await plans.set_plan(session, venue_id, venue_capacity, change)
        await self.plan_changed(venue_id)
        return plan

    async def remove_plan(self, venue_id: int) -> None:
        async with self.sessionmaker() as session:
            await plans.remove_plan(session, venue_id)
        await self.plan_changed(venue_id)

    async def plan_changed(self, venue_id: int) -> None:
        """After SQL holds the change: a new version (the booking script refuses plans read at
        the old one), then the push that makes every process drop its copy."""
        await self.redis.set(keys.plan_version(venue_id), os.urandom(12).hex())
        self.plans.invalidate(venue_id)  # this process at once, even without a subscription
        await self.redis.publish(keys.CONFIG_CHANNEL, str(venue_id))

    def bookable_slot(self, plan: Plan, key: str, now: datetime) -> Slot:
        slot = plan.slot(key, self.tz)
        if slot is None:
            raise UnknownSlot()
        plans.bookable_day(plan, slot.day, now, self.tz)
        if plan.bookable_until(slot) <= now:
            raise SlotClosed()
        return slot

    async def book(self, venue: VenueInfo, request: BookingRequest) -> Booked:
        with refusals_counted():
            booked = await self._book(venue, request)
        if not booked.replayed:
            metrics.BOOKINGS.labels("booked").inc()
            self.store.notify(venue.id, "booked", booked.party_size)
        return booked

    async def _book(self, venue: VenueInfo, request: BookingRequest) -> Booked:
        now = datetime.now(UTC)
        random = os.urandom(26)
        booking_id = new_visit_id(random[:10])
        key = request.idempotency_key or base64.urlsafe_b64encode(random[10:]).decode()
        code = codes.derive(self.secret, venue.id, key)
        booking_hash, phone = codes.digest(code), phone_index(self.index_key, request.phone)
        cached = await self.plans.get(venue.id)
        for _ in range(3):  # again while the plan changes under us (rare: changes are pushed)
            cached, slot, party = await self._checked(venue, request, cached, now)
            plan = cached.plan
            live = await self._reserve(venue.id, slot, booking_hash, phone, booking_id, party,
                                       plan, cached.version)
            if live.status != "stale_plan":
                break
            cached = await self.plans.reload(venue.id)
        else:
            raise ServiceUnavailable()
        day = day_name(slot.day)
        if live.status == "full":
            raise SlotFull(next_free=self._next_free(plan, slot, party, now, live.day or {}))
        if live.status == "phone_limit":
            raise TooManyBookings(limit=plan.per_phone)
        if live.status not in ("ok", "replay"):
            raise ServiceUnavailable()
        replayed = live.status == "replay"
        booked_at = datetime.fromtimestamp(live.booked_at, UTC)
        try:
            sealed = await self.sealer.seal(live.booking_id, Personal(
                request.name, request.phone, request.email))
            # A replay writes too (a no-op if the row is there): the answer waits for durability.
            await self.journal.write(NewBooking(
                id=live.booking_id, venue_id=venue.id, booking_hash=booking_hash, slot=slot.key,
                slot_starts_at=slot.starts_at, slot_ends_at=slot.ends_at,
                party_size=live.party_size, booked_at=booked_at, personal=sealed.box,
                personal_key_id=sealed.key_id, phone_index=phone))
        except Exception as exc:
            if not replayed:
                await self._unbook(venue.id, day, booking_hash, phone, live.booking_id)
            if isinstance(exc, TicketConflict):
                raise IdempotencyKeyReused(
                    "This idempotency key belongs to another booking; make a new key for a new "
                    "booking.") from exc
            raise ServiceUnavailable() from exc
        # A replay confirms too: its first attempt may have died before its row was written.
        self.store.confirm(venue.id, booking_hash)
        return Booked(code, live.booking_id, slot, live.party_size, booked_at, replayed, live.state,
                      max(0, plan.bookable - live.booked))

    async def _checked(self, venue: VenueInfo, request: BookingRequest, cached: CachedPlan,
                       now: datetime) -> tuple[CachedPlan, Slot, int]:
        """The slot and party if the plan allows them. A refusal is made by the plan in force:
        a cached plan that refuses is first checked against the current version."""
        try:
            return (cached, *self._allowed(venue, request, cached.required(), now))
        except (NoSlots, UnknownSlot, SlotClosed, InvalidInput):
            current = await self.plans.current(cached, venue.id)
            if current is cached:
                raise
        return (current, *self._allowed(venue, request, current.required(), now))

    def _allowed(self, venue: VenueInfo, request: BookingRequest, plan: Plan,
                 now: datetime) -> tuple[Slot, int]:
        slot = self.bookable_slot(plan, request.slot, now)
        return slot, validate_party(request.party_size, min(venue.max_party, max(plan.bookable, 1)))

    async def _reserve(self, venue_id: int, slot: Slot, booking_hash: str, phone: str,
                       booking_id: str, party: int, plan: Plan, version: str) -> LiveBooking:
        day = day_name(slot.day)
        for _ in range(2):  # a second time once the day is loaded from SQL
            try:
                live = await self.store.book(
                    venue_id, day, f"{slot.start:%H%M}", booking_hash, phone, booking_id, party,
                    plan.bookable, plan.per_phone, time.time(), self._ttl(slot.day),
                    (slot.starts_at.timestamp(), plan.bookable_until(slot).timestamp()), version)
            except Exception as exc:
                # The script may have run: take back this attempt's booking (only its own).
                log.error("Redis booking failed for venue %s: %s", venue_id, type(exc).__name__)
                await self._unbook(venue_id, day, booking_hash, phone, booking_id)
                raise ServiceUnavailable() from exc
            if live.status != "not_loaded":
                return live
            await self.load_day(venue_id, slot.day)
        raise ServiceUnavailable()

    async def _unbook(self, venue_id: int, day: str, booking_hash: str, phone: str,
                      booking_id: str) -> None:
        try:
            await self.store.unbook(venue_id, day, booking_hash, phone, booking_id)
        except Exception:
            log.exception("could not take back a booking in Redis for venue %s", venue_id)

    def _ttl(self, day: date) -> int:
        ends = datetime.combine(day + timedelta(days=1), datetime.min.time(), self.tz)
        return max(60, int(ends.timestamp() - time.time()) + KEEP_AFTER_DAY)

    async def load_day(self, venue_id: int, day: date) -> None:
        """Load a venue's day of bookings from SQL, unless Redis holds it. Not while Redis is
        being rebuilt: the rebuild's grace lets the bookings in flight reach SQL first."""
        # A crowd meeting a day not loaded waits for one load, not one each.
        loading = self._days_loading.get((venue_id, day))
        if loading is None:
            loading = asyncio.ensure_future(self._load_day_when_ready(venue_id, day))
            self._days_loading[(venue_id, day)] = loading
            loading.add_done_callback(lambda _: self._days_loading.pop((venue_id, day), None))
        await asyncio.shield(loading)

    async def _load_day_when_ready(self, venue_id: int, day: date) -> None:
        if not await self.rebuilder.is_ready():
            raise self.rebuilder.refusal(venue_id)
        await self._load_day(venue_id, day)

    async def load_today(self) -> None:
        """Load today's bookings of every venue run by slots (part of the rebuild of the live
        counts, before check-ins resume): the places of the slot under way are held again."""
        async with self.sessionmaker() as session:
            venue_ids = [plan.venue_id for plan in await plans.plans(session)]
        today = datetime.now(self.tz).date()
        for venue_id in venue_ids:
            await self._load_day(venue_id, today)

    async def _load_day(self, venue_id: int, day: date) -> None:
        name = day_name(day)
        async with self.sessionmaker() as session:
            rows = list((await session.execute(select(
                Booking.id, Booking.booking_hash, Booking.slot, Booking.party_size,
                Booking.booked_at, Booking.cancelled_at, Booking.claimed_at, Booking.expired_at,
                Booking.phone_index,
                Booking.slot_starts_at,
            ).where(Booking.venue_id == venue_id, Booking.slot > f"{name}-",
                    Booking.slot < f"{name}.0"))).all())
            try:
                hold = (await plans.get_plan(session, venue_id)).hold_minutes * 60
            except NoSlots:  # the plan was removed: its bookings stand, but hold nothing
                hold = 0
        await self.store.load_day(venue_id, name, rows, self._ttl(day), hold, time.time())

    async def booked(self, venue_id: int, day: date) -> dict[str, int]:
        """Places booked per slot start (HHMM) on a day."""
        counts = await self.store.day_counts(venue_id, day_name(day))
        if counts is None:
            await self.load_day(venue_id, day)
            counts = await self.store.day_counts(venue_id, day_name(day)) or {}
        return counts

    def _next_free(self, plan: Plan, full: Slot, party: int, now: datetime,
                   booked: dict[str, int]) -> list[dict]:
        """The day's later slots with room for the party (for the answer to a full slot), by the
        places booked per slot as the refusing script read them."""
        return [{"slot": slot.key, "start": f"{slot.start:%H:%M}",
                 "free": plan.bookable - booked.get(f"{slot.start:%H%M}", 0)}
                for slot in plans.open_slots(plan, full.day, now, self.tz)
                if slot.start > full.start
                and plan.bookable - booked.get(f"{slot.start:%H%M}", 0) >= party][:3]

    async def cancel(self, code: str) -> Cancelled:
        """Give a booking's places back (idempotent: a cancelled booking answers as before)."""
        with refusals_counted():
            cancelled = await self._cancel(code)
        if not cancelled.replayed:
            metrics.BOOKINGS.labels("cancelled").inc()
            self.store.notify(cancelled.venue_id, "cancelled", cancelled.party_size)
        return cancelled

    async def _cancel(self, code: str) -> Cancelled:
        venue_id, booking_hash = codes.venue_of(code), codes.digest(code)
        async with self.sessionmaker() as session:
            row = (await session.execute(select(Booking).where(
                Booking.booking_hash == booking_hash))).scalar_one_or_none()
        if row is None or row.venue_id != venue_id:
            raise UnknownBooking()
        day, phone = row.slot[:8], row.phone_index or ""
        status = await self._cancel_step("begin", row, day, phone)
        if status == "replay":
            return Cancelled(row.id, row.slot, True, row.venue_id, row.party_size)
        try:
            await self.journal.write(BookingCancelled(booking_hash, datetime.now(UTC)))
        except Exception as exc:
            await self._cancel_step("reopen", row, day, phone)
            raise ServiceUnavailable() from exc
        # SQL holds the cancellation: a release that fails leaves the places taken (never
        # overbooked) until the day is loaded again.
        try:
            await self._cancel_step("release", row, day, phone)
        except Exception:
            log.exception("could not give a cancelled booking's places back in Redis")
        return Cancelled(row.id, row.slot, False, row.venue_id, row.party_size)

    async def _cancel_step(self, mode: str, row: Booking, day: str, phone: str) -> str:
        for _ in range(2):
            status, _ = await self.store.cancel(mode, row.venue_id, day, row.booking_hash, phone)
            if status != "not_loaded":
                break
            await self.load_day(row.venue_id, datetime.strptime(day, "%Y%m%d").date())
        if status == "unknown":
            raise UnknownBooking()
        if status == "claimed":
            raise BookingClaimed()
        if status == "expired":
            raise BookingExpired()
        if status not in ("ok", "replay"):
            raise ServiceUnavailable()
        return status
