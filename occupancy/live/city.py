"""The city table: every venue's live count and today's city total per minute.

Read once from SQL (the venues) and Redis (their counts and today's series); a process that keeps
the city view current (the hub) then updates it from the published events, and reads it again
after a reconnect or when it is needed again after a while unused. Without a hub, a snapshot is
read from a table loaded for it alone.
"""

import asyncio
import contextlib
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.live import frames
from occupancy.live.frames import CityVenue
from occupancy.stats.calendar import day_of, minute_of
from occupancy.stats.today import TodayReader, dense_series
from occupancy.venues import service as venue_service
from occupancy.venues.cache import VenueCache
from occupancy.venues.errors import UnknownVenue


class CityTable:
    def __init__(self, reader: TodayReader) -> None:
        self.reader = reader
        self.venues: dict[int, CityVenue] = {}
        self.series: dict[int, int] = {}  # minute -> city total at its end, today
        self.day = ""

    @classmethod
    async def load(cls, sessionmaker: async_sessionmaker[AsyncSession],
                   reader: TodayReader) -> "CityTable":
        async with sessionmaker() as session:
            infos = await venue_service.venue_infos(session)
        now = time.time()
        counts = await reader.counts([info.id for info in infos])
        city = cls(reader)
        for info in infos:
            count, capacity, paused = counts[info.id]
            city.venues[info.id] = CityVenue(info, count, capacity or info.capacity, paused)
        city.series = await reader.city_series(counts, now)
        city.day = day_of(now, reader.tz)
        return city

    def all(self) -> list[CityVenue]:
        return list(self.venues.values())

    def total(self) -> int:
        return sum(v.count for v in self.venues.values())

    def apply(self, venue_id: int, event: dict) -> bool:
        """Take a venue's published event; False if the venue must be read instead (one this
        table has not seen yet, or an event without its count)."""
        venue = self.venues.get(venue_id)
        if venue is None or "c" not in event:
            return False
        venue.count = int(event["c"])
        if event.get("cap"):
            venue.capacity = int(event["cap"])
        return True

    async def refresh(self, venue_ids: set[int], venues: VenueCache) -> None:
        """A venue's configuration changed (or it is new): read it again."""
        counts = await self.reader.counts(sorted(venue_ids))
        for venue_id in venue_ids:
            try:
                info = await venues.by_id(venue_id)
            except UnknownVenue:
                self.venues.pop(venue_id, None)
                continue
            count, capacity, paused = counts[venue_id]
            self.venues[venue_id] = CityVenue(info, count, capacity or info.capacity, paused)

    def roll_day(self, now: float) -> None:
        """A new local day: its series starts at midnight with the total the old day ended on."""
        day = day_of(now, self.reader.tz)
        if day != self.day:
            last = self.series[max(self.series)] if self.series else self.total()
            self.series = {self.reader.midnight(now): last} if last else {}
            self.day = day

    def snapshot(self, now: float) -> dict:
        self.roll_day(now)
        return frames.city_snapshot(self.all(), dense_series(self.series, minute_of(now)), now)

    def update(self, changed: set[int], now: float) -> dict | None:
        """Record this minute's total; the update for the ``changed`` venues, if any is known."""
        minute = minute_of(now)
        self.roll_day(now)
        self.series[minute] = self.total()
        venues = [self.venues[v] for v in sorted(changed) if v in self.venues]
        if not venues:
            return None
        return frames.city_update(venues, self.all(), [minute, self.series[minute]], now)


class LiveCity:
    """The city table a hub keeps current while the city view is subscribed, and what changed
    in it since its sockets were last sent an update."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], reader: TodayReader,
                 venues: VenueCache) -> None:
        self.sessionmaker = sessionmaker
        self.reader = reader
        self.venues = venues
        self.table: CityTable | None = None  # None: not kept current (read when next needed)
        self._lock = asyncio.Lock()
        self._changed: set[int] = set()  # venues changed since the last update
        self._stale: set[int] = set()  # venues to read again: configuration changed, or new
        self._reload = False  # events may have been missed: read the whole table again
        # Venues' latest events heard while counts are being read from Redis (None: no read).
        self._heard_while_reading: dict[int, dict] | None = None
        self._reads = 0

    async def current(self, reload: bool = False) -> CityTable:
        async with self._lock:
            if self.table is None or reload:
                async with self._reading():
                    self.table = await CityTable.load(self.sessionmaker, self.reader)
                    self._apply_heard(self.table)
            return self.table

    @contextlib.asynccontextmanager
    async def _reading(self):
        """Around a read of counts: an event that arrives meanwhile may be newer than the count
        read (or older: then a newer one is on its way), so it is applied again after the read
        rather than overwritten by it."""
        if self._reads == 0:
            self._heard_while_reading = {}
        self._reads += 1
        try:
            yield
        finally:
            self._reads -= 1
            if self._reads == 0:
                self._heard_while_reading = None

    def _apply_heard(self, table: CityTable) -> None:
        for venue_id, event in (self._heard_while_reading or {}).items():
            if not table.apply(venue_id, event):
                self._stale.add(venue_id)

    def forget(self) -> None:
        self.table = None

    def changed(self, venue_id: int) -> None:
        self._changed.add(venue_id)

    def read_again(self, venue_id: int) -> None:
        self._stale.add(venue_id)

    def missed_events(self) -> None:
        self._reload = True

    def apply(self, venue_id: int, event: dict) -> None:
        if self._heard_while_reading is not None:
            self._heard_while_reading[venue_id] = event  # events of a venue come in order
        if self.table is not None and not self.table.apply(venue_id, event):
            self._stale.add(venue_id)  # a venue the table has not seen yet: read it

    @property
    def listening(self) -> bool:
        """Events change the table, or a read of it under way (so they must be decoded)."""
        return self.table is not None or self._heard_while_reading is not None

    @property
    def pending(self) -> bool:
        """An update is to be sent (only while the table is kept)."""
        return self.table is not None and bool(self._changed or self._stale or self._reload)

    def discard_changes(self) -> None:
        """Not kept: what changed meanwhile will be in the table when it is read again."""
        self._changed.clear()
        self._stale.clear()

    async def update(self, now: float) -> dict | None:
        """The update for the venues changed since the last one (None if none is known); what
        it covers is taken, and given back if it fails."""
        changed, self._changed = self._changed, set()
        stale, self._stale = self._stale, set()
        try:
            table = self.table
            if self._reload:
                self._reload = False
                table = await self.current(reload=True)
                changed = set(table.venues)
            elif stale:
                async with self._reading():
                    await table.refresh(stale, self.venues)
                    self._apply_heard(table)
            return table.update(changed, now)
        except BaseException:
            self._changed |= changed
            self._stale |= stale
            raise
