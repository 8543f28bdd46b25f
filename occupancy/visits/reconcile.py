"""Rebuild the live counters in Redis from the truth in SQL: the open visits.

Run on start-up when Redis comes back empty, by ``occupancy reconcile``, and for a single venue
whenever a script finds the venue's configuration missing in Redis.
"""

import logging
from collections import defaultdict

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import redis_keys as keys
from occupancy.venues.models import Venue
from occupancy.visits.capacity import OPEN_TICKET_TTL
from occupancy.visits.models import Visit

log = logging.getLogger(__name__)


_OPEN_VISITS = select(
    Visit.venue_id, Visit.ticket_hash, Visit.id, Visit.party_size, Visit.checked_in_at
).where(Visit.checked_out_at.is_(None))


class Reconciler:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis

    async def venue(self, venue_id: int) -> int:
        """Make Redis agree with SQL for one venue; return its count."""
        async with self.sessionmaker() as session:
            venue = await session.get(Venue, venue_id)
            if venue is None:
                return 0
            open_visits = (await session.execute(_OPEN_VISITS.where(Visit.venue_id == venue_id))).all()
        redis_open = await self._open_tickets(keys.ticket_pattern(venue_id))
        return (await self._rebuild([venue], open_visits, redis_open))[venue_id]

    async def all(self) -> dict[int, int]:
        """Every venue, reading SQL once and scanning Redis once (not once per venue)."""
        async with self.sessionmaker() as session:
            venues = list((await session.execute(select(Venue))).scalars())
            open_visits = (await session.execute(_OPEN_VISITS)).all()
        redis_open = await self._open_tickets(keys.ALL_TICKETS_PATTERN)
        counts = await self._rebuild(venues, open_visits, redis_open)
        await self.redis.set(keys.READY_MARKER, "1")
        log.info("reconciled %d venues", len(counts))
        return counts

    async def _open_tickets(self, pattern: str) -> set[str]:
        """The ticket keys matching ``pattern`` that Redis holds as open."""
        found = [key async for key in self.redis.scan_iter(match=pattern, count=1000)]
        pipe = self.redis.pipeline(transaction=False)
        for key in found:
            pipe.hget(key, "state")
        states = await pipe.execute() if found else []
        return {key.decode() for key, state in zip(found, states, strict=True) if state == b"open"}

    async def _rebuild(self, venues: list[Venue], open_visits: list, redis_open: set[str]) -> dict:
        by_venue = defaultdict(list)
        for visit in open_visits:
            by_venue[visit.venue_id].append(visit)
        stale_by_tag = defaultdict(list)
        for key in redis_open:
            stale_by_tag[key.split(":t:", 1)[0]].append(key)
        counts = {}
        for venue in venues:
            visits = by_venue.get(venue.id, [])
            open_keys = {keys.ticket(venue.id, v.ticket_hash) for v in visits}
            # Open in Redis but not in SQL: a reservation that was never acknowledged.
            stale = [key for key in stale_by_tag.get(keys.tag(venue.id), []) if key not in open_keys]
            counts[venue.id] = await self._write_venue(venue, visits, stale)
        return counts

    async def _write_venue(self, venue: Venue, visits: list, stale: list[str]) -> int:
        count = sum(v.party_size for v in visits)
        pipe = self.redis.pipeline(transaction=True)  # one venue's keys share one slot
        pipe.hset(keys.config(venue.id), mapping={
            "capacity": venue.capacity, "paused": "1" if venue.paused else "0"})
        pipe.set(keys.count(venue.id), count)
        for visit in visits:
            key = keys.ticket(venue.id, visit.ticket_hash)
            pipe.hset(key, mapping={
                "visit": visit.id, "party": visit.party_size,
                "at": visit.checked_in_at.timestamp(), "state": "open"})
            pipe.expire(key, OPEN_TICKET_TTL)
        if stale:
            pipe.delete(*stale)
        await pipe.execute()
        return count

    async def if_redis_is_empty(self) -> bool:
        """On start-up: rebuild everything only when Redis has lost its state."""
        if await self.redis.exists(keys.READY_MARKER):
            return False
        await self.all()
        return True
