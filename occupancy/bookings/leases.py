"""Bookings left half done by a process that died between Redis and SQL are settled from SQL.

A booking stays pending in Redis until its SQL row is confirmed. One still pending after the
lease (``Settings.lease_seconds``, longer than any SQL write may take) is looked up in SQL: with
a row it is confirmed; without one it is taken back and its places are free again. Run every few
seconds by one process (``periodic.every`` under a lock).
"""

import logging
import time

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import redis_keys as keys
from occupancy.bookings.models import Booking, SlotPlan
from occupancy.bookings.store import BookingStore
from occupancy.kit.leases import past_lease

log = logging.getLogger(__name__)


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class BookingLeases:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis,
                 store: BookingStore, lease: float = 15.0) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.store = store
        self.lease = lease

    async def settle(self) -> int:
        """Settle every expired pending booking; how many were taken back."""
        async with self.sessionmaker() as session:
            venue_ids = list((await session.execute(select(SlotPlan.venue_id))).scalars())
        expired, written = await past_lease(self.redis, self.sessionmaker, venue_ids,
                                            keys.pending_bookings, Booking.booking_hash,
                                            time.time() - self.lease)
        released = 0
        for venue_id, booking_hash in expired:
            if booking_hash in written:  # written, but its confirmation was lost
                self.store.confirm(venue_id, booking_hash)
                continue
            released += await self._take_back(venue_id, booking_hash)
        return released

    async def _take_back(self, venue_id: int, booking_hash: str) -> int:
        fields = await self.redis.hmget(keys.booking(venue_id, booking_hash), "id", "day", "phone")
        booking_id, day, phone = (_text(value) for value in fields)
        if booking_id is None:  # gone from Redis: nothing to give back
            await self.redis.zrem(keys.pending_bookings(venue_id), booking_hash)
            return 0
        if await self.store.unbook(venue_id, day, booking_hash, phone or "", booking_id):
            log.warning("released an orphaned booking at venue %s: no SQL row after its lease",
                        venue_id)
            return 1
        await self.redis.zrem(keys.pending_bookings(venue_id), booking_hash)
        return 0
