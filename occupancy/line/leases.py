"""Joins left half done by a process that died between Redis and SQL are settled from SQL.

A join stays pending in Redis until its SQL row is confirmed. One still pending after the lease
(``Settings.lease_seconds``, longer than any SQL write may take) is looked up in SQL: with a row
it is confirmed; without one it is taken out of the line (``unjoin.lua``): a waiting party's turn
is gone, an offered one's places return to the pool the next offers draw from. Its visitor never
got an answer; a retry with the same key joins again. Run every few seconds by one process
(``periodic.every`` under a lock), as the bookings' leases (``bookings/leases.py``).
"""

import logging
import time

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.kit.leases import past_lease
from occupancy.line.models import LineEntry
from occupancy.line.store import LineStore
from occupancy.venues import service as venue_service

log = logging.getLogger(__name__)

VENUES_AT_ONCE = 500  # venues read from Redis per round trip


class LineLeases:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis,
                 store: LineStore, lease: float = 15.0) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.store = store
        self.lease = lease

    async def settle(self) -> int:
        """Settle every join pending past its lease; how many were taken out of the line."""
        async with self.sessionmaker() as session:
            venue_ids = await venue_service.venue_ids(session)
        expired_before = time.time() - self.lease
        dropped = 0
        for start in range(0, len(venue_ids), VENUES_AT_ONCE):
            expired, written = await past_lease(
                self.redis, self.sessionmaker, venue_ids[start:start + VENUES_AT_ONCE],
                keys.line_pending, LineEntry.entry_hash, expired_before)
            dropped += await self._settle(expired, written, expired_before)
        return dropped

    async def _settle(self, expired: list[tuple[int, str]], written: set[str],
                      before: float) -> int:
        dropped = 0
        for venue_id, entry_hash in expired:
            if entry_hash in written:  # written, but its confirmation was lost
                self.store.confirm(venue_id, entry_hash)
            elif await self.store.drop_orphan(venue_id, entry_hash, before):
                metrics.LINE_EVENTS.labels("orphaned").inc()
                dropped += 1
                log.warning("took an orphaned join out of the line at venue %s: no SQL row "
                            "after its lease", venue_id)
        return dropped
