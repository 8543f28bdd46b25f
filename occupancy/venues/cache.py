"""Venue configuration cached per process, so the check-in path reads no SQL.

Entries live a few seconds; what must be exact at every moment (capacity, paused) is enforced
in Redis by the scripts, not read from here.
"""

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.venues import service
from occupancy.venues.service import VenueInfo


class VenueCache:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ttl: float = 5.0) -> None:
        self.sessionmaker = sessionmaker
        self.ttl = ttl
        self._entries: dict[str | int, tuple[float, VenueInfo]] = {}
        self._loading: dict[str | int, asyncio.Future[VenueInfo]] = {}

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
        if venue_id is None:
            self._entries.clear()
            return
        for key, (_, info) in list(self._entries.items()):
            if info.id == venue_id:
                del self._entries[key]
