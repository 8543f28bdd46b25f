"""Snapshots sent when a socket connects (and by ``GET /api/venues/{id}/today``)."""

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.live import frames
from occupancy.stats.calendar import minute_of
from occupancy.stats.today import TodayReader, dense_series
from occupancy.venues import service as venue_service
from occupancy.venues.service import VenueInfo


async def venue_snapshot(reader: TodayReader, info: VenueInfo, secret: str) -> dict:
    now = time.time()
    live = await reader.venue(info.id, now, series=True)
    return frames.venue_frame(live, info, now, secret=secret, snapshot=True)


async def display_snapshot(reader: TodayReader, info: VenueInfo) -> dict:
    count, capacity, paused = (await reader.counts([info.id]))[info.id]
    return frames.display_frame(info, count, capacity, paused, time.time(), snapshot=True)


async def city_snapshot(sessionmaker: async_sessionmaker[AsyncSession], reader: TodayReader) -> dict:
    """The city view read straight from SQL and Redis (where no hub keeps it in memory)."""
    async with sessionmaker() as session:
        infos = await venue_service.venue_infos(session)
    now = time.time()
    ids = [info.id for info in infos]
    counts = await reader.counts(ids)
    venues = [frames.CityVenue(i, counts[i.id][0], counts[i.id][1] or i.capacity, counts[i.id][2])
              for i in infos]
    series = await reader.city_series(counts, now)
    return frames.city_snapshot(venues, dense_series(series, minute_of(now)), now)
