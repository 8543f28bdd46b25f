"""Venue configuration cached per process, so the check-in path reads no SQL.

Serving processes read every venue in one query at start and again every ``ttl / 2`` seconds
(a periodic job, see ``services``): with 10,000 venues, loading each on its first check-in made
a fresh worker do thousands of SQL reads on the hot path, and entries loaded together would
expire together.
A change is pushed at once through ``invalidate``: whoever listens to ``occ:config`` calls it
(``services.py`` registers it with the process's live subscriptions; this module knows no live/);
what must be exact at every moment (capacity, paused) is enforced in Redis by the scripts.
"""

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.venues import service
from occupancy.venues.service import VenueInfo

log = logging.getLogger(__name__)


class VenueCache:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ttl: float = 5.0) -> None:
        self.sessionmaker = sessionmaker
        self.ttl = ttl
        self._entries: dict[str | int, tuple[float, VenueInfo]] = {}
        self._loading: dict[str | int, asyncio.Future[VenueInfo]] = {}
        self._invalidated: set[int | None] = set()  # while a bulk read runs: newer than it

    async def load_all(self) -> int:
        """Read every venue in one query; returns how many."""
        self._invalidated.clear()
        async with self.sessionmaker() as session:
            infos = await service.venue_infos(session)
        expires = time.monotonic() + self.ttl
        everything_changed = None in self._invalidated
        for info in infos:
            if everything_changed or info.id in self._invalidated:
                continue  # changed while we read: the next lookup reads it again
            self._entries[info.code] = self._entries[info.id] = (expires, info)
        return len(infos)

    async def ids(self) -> list[int]:
        """Every venue's id, read from SQL now."""
        async with self.sessionmaker() as session:
            return await service.venue_ids(session)

    async def by_code(self, code: str) -> VenueInfo:
        return await self._get(code, code=code)

    async def by_id(self, venue_id: int) -> VenueInfo:
        return await self._get(venue_id, id=venue_id)

    async def _get(self, key: str | int, **lookup) -> VenueInfo:
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry and entry[0] > now:
            return entry[1]
        # A crowd arriving at a venue the cache does not hold waits for one SQL read, not many.
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(lookup))
            self._loading[key] = loading
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(loading)

    async def _load(self, lookup: dict) -> VenueInfo:
        async with self.sessionmaker() as session:
            info = VenueInfo.of(await service.get_venue(session, **lookup))
        self._entries[info.code] = self._entries[info.id] = (time.monotonic() + self.ttl, info)
        return info

    def invalidate(self, venue_id: int | None = None) -> None:
        self._invalidated.add(venue_id)
        if venue_id is None:
            self._entries.clear()
            return
        for key, (_, info) in list(self._entries.items()):
            if info.id == venue_id:
                del self._entries[key]
