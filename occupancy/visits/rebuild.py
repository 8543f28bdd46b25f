"""Load every venue into Redis from SQL when Redis has lost its state (restart, flush).

Redis is a cache of the truth: SQL holds every visit. While a venue is not loaded (no capacity in
its Redis config) every script refuses to change it, so check-ins and check-outs answer 503 and
nothing is reserved that a rebuild could overwrite. One process rebuilds (under a Redis lock),
after a short grace that lets the SQL writes in flight when Redis was lost commit first; a row
committed later still reaches Redis (``confirm.lua``). ``rebuild.lua`` loads a venue only if it
is not loaded, so two rebuilds at once (a lock that expired) still load each venue once.

Loss is seen by every process within a second (the ready marker is gone) and at once by a
request that meets an unloaded venue; venues nobody visits are loaded too.
"""

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.kit.scripts import ScriptRunner
from occupancy.venues import service as venue_service
from occupancy.visits import repository
from occupancy.visits.capacity import OPEN_TICKET_TTL, REBUILD
from occupancy.visits.errors import CountsRebuilding

log = logging.getLogger(__name__)

# Set the ready marker only if the lock is still ours: a flush during the rebuild removed the lock
# too, and then the venues loaded before it are gone again and the next check starts over.
_FINISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], '1')
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
VENUES_AT_ONCE = 200  # venues loaded per round trip


def visit_args(visits: list) -> list:
    """ticket hash, visit id, party, checked in at (epoch seconds), per visit, as the scripts read them."""
    return [value for v in visits
            for value in (v.ticket_hash, v.id, v.party_size, v.checked_in_at.timestamp())]


class Rebuilder:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis,
                 runner: ScriptRunner, grace: float = 2.0, lock_seconds: float = 60.0) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.runner = runner
        self.grace = grace
        self.lock_seconds = lock_seconds
        self._task: asyncio.Task | None = None
        # What other domains load from SQL in the same rebuild, before it is marked done (the
        # bookings' places held today): nothing is admitted meanwhile that should not be.
        self.also_load: list[Callable[[], Awaitable[None]]] = []

    async def is_ready(self) -> bool:
        return bool(await self.redis.exists(keys.READY_MARKER))

    def kick(self, venue_id: int | None = None) -> None:
        """A request met a venue Redis does not hold: rebuild in the background (once at a time)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._kicked(venue_id))

    def refusal(self, venue_id: int) -> CountsRebuilding:
        """Redis does not hold this venue: have it rebuilt, and answer 503 meanwhile."""
        self.kick(venue_id)
        return CountsRebuilding()

    async def _kicked(self, venue_id: int | None) -> None:
        try:
            if await self.is_ready() and venue_id is not None:
                await self.venue(venue_id)  # e.g. a venue added while Redis was down
            else:
                await self.ensure()
        except Exception as exc:  # Redis or SQL away: the watch tries again every second
            log.warning("could not rebuild the live counts yet (%s)", type(exc).__name__)

    async def ensure(self, wait: float = 0.0) -> bool:
        """Rebuild every venue if Redis lost its state and no other process is at it; with
        ``wait``, then wait up to that many seconds for the rebuild to be done. True if ready."""
        if await self.is_ready():
            return True
        token = f"{os.getpid()}:{os.urandom(6).hex()}"
        if await self.redis.set(keys.REBUILD_LOCK, token, nx=True, px=int(self.lock_seconds * 1000)):
            await self._rebuild_all(token)
        deadline = time.monotonic() + wait
        while not await self.is_ready():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _rebuild_all(self, token: str) -> None:
        started = time.perf_counter()
        log.warning("Redis has lost the live counts: rebuilding every venue from SQL")
        await asyncio.sleep(self.grace)
        async with self.sessionmaker() as session:
            venues = await venue_service.enforced_limits(session)
            by_venue = await repository.open_visits_by_venue(session)
        loaded = 0
        for start in range(0, len(venues), VENUES_AT_ONCE):
            replies = await asyncio.gather(*(self._load(venue, by_venue.get(venue.id, []))
                                             for venue in venues[start:start + VENUES_AT_ONCE]))
            loaded += sum(1 for status, _ in replies if status == b"ok")
        for load in self.also_load:
            await load()
        if await self.redis.eval(_FINISH, 2, keys.REBUILD_LOCK, keys.READY_MARKER, token):
            metrics.REBUILDS.inc()
            log.warning("rebuilt the live counts of %d venues (%d open visits) in %.2f s", loaded,
                        sum(len(v) for v in by_venue.values()), time.perf_counter() - started)
        else:
            log.warning("Redis lost its state again during the rebuild: starting over")

    async def venue(self, venue_id: int) -> None:
        """Load one venue Redis does not hold (nothing can be reserved there meanwhile)."""
        async with self.sessionmaker() as session:
            venue = next(iter(await venue_service.enforced_limits(session, venue_id)), None)
            if venue is None:
                return
            visits = (await repository.open_visits_by_venue(session, venue_id)).get(venue_id, [])
        status, count = await self._load(venue, visits)
        if status == b"ok":
            log.warning("loaded venue %s from SQL (%d inside)", venue_id, count)

    async def _load(self, venue, visits: list) -> tuple[bytes, int]:
        script_keys = (keys.count(venue.id), keys.config(venue.id), keys.open_tickets(venue.id),
                       *(keys.ticket(venue.id, v.ticket_hash) for v in visits))
        args = (venue.capacity, "1" if venue.paused else "0", OPEN_TICKET_TTL,
                keys.venue_channel(venue.id), venue.id, time.time(), *visit_args(visits))
        status, count = await self.runner.run(REBUILD, script_keys, args)
        return status, int(count)
