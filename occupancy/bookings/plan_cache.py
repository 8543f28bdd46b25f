"""Slot plans cached per process, so a booking or a claim reads no SQL.

Each plan is kept with its *version*: a random token in Redis (``redis_keys.plan_version``, in the
venue's hash-tagged keys), replaced by every change of the plan (``Bookings.set_plan``). The
booking script is given the version its plan was read at and refuses with ``stale_plan`` if Redis
holds another, so a booking is always checked against the current plan, whichever process or host
changed it; the process then reads the plan again and retries. A change is also pushed on
``occ:config``, as venue changes are (``invalidate``, registered in ``services``), so the other
readers (a claim's hold, the free slots) see it within milliseconds and a booking rarely meets a
stale plan.

A plan is read in that order, the version first and then SQL: a change landing in between leaves
an older version beside a newer plan, which the script refuses once; never the reverse.
A random token rather than a counter: after Redis lost its keys, a counter would start again and
could match a version read before the loss.
"""

import asyncio
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import redis_keys as keys
from occupancy.bookings import plans
from occupancy.bookings.errors import NoSlots
from occupancy.bookings.schedule import Plan


@dataclass(frozen=True, slots=True)
class CachedPlan:
    plan: Plan | None  # None: the venue is not run by slots
    version: str  # '' while Redis holds no version (no change since Redis started empty)
    expires: float  # monotonic

    def required(self) -> Plan:
        if self.plan is None:
            raise NoSlots()
        return self.plan


class PlanCache:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis,
                 ttl: float) -> None:
        """``ttl``: how long a plan is kept with no change pushed (a push lost with a dropped
        subscription is made good by then; bookings never depend on it)."""
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.ttl = ttl
        self._entries: dict[int, CachedPlan] = {}
        self._loading: dict[int, asyncio.Future[CachedPlan]] = {}
        self._changes: dict[int, int] = {}  # venue -> changes pushed: a read older than one is not kept

    async def get(self, venue_id: int) -> CachedPlan:
        entry = self._entries.get(venue_id)
        if entry is not None and entry.expires > time.monotonic():
            return entry
        return await self.reload(venue_id)

    async def reload(self, venue_id: int) -> CachedPlan:
        """Read the plan again (a crowd at once waits for one read, not one each)."""
        loading = self._loading.get(venue_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(venue_id))
            self._loading[venue_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(venue_id, None))
        return await asyncio.shield(loading)

    async def current(self, cached: CachedPlan, venue_id: int) -> CachedPlan:
        """``cached`` if it is still the plan's current version, else the plan read again: before
        refusing a booking by a plan, make sure it is the plan in force (one GET)."""
        if await self._version(venue_id) == cached.version:
            return cached
        return await self.reload(venue_id)

    def invalidate(self, venue_id: int | None = None) -> None:
        """The venue's configuration changed (pushed on ``occ:config``); None: every venue's."""
        for venue in list(self._entries) if venue_id is None else [venue_id]:
            self._entries.pop(venue, None)
            self._changes[venue] = self._changes.get(venue, 0) + 1
        if venue_id is None:
            self._loading.clear()  # reads under way finish for their waiters, are not kept

    async def _version(self, venue_id: int) -> str:
        version = await self.redis.get(keys.plan_version(venue_id))
        return version.decode() if isinstance(version, bytes) else (version or "")

    async def _load(self, venue_id: int) -> CachedPlan:
        changes = self._changes.get(venue_id, 0)
        version = await self._version(venue_id)  # before SQL: see the module's docstring
        async with self.sessionmaker() as session:
            try:
                plan = await plans.get_plan(session, venue_id)
            except NoSlots:
                plan = None
        entry = CachedPlan(plan, version, time.monotonic() + self.ttl)
        if self._changes.get(venue_id, 0) == changes:  # no change was pushed while we read
            self._entries[venue_id] = entry
        return entry
