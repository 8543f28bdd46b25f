"""Snapshots sent when a socket connects (and by ``GET /api/venues/{id}/today``)."""

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.live import frames
from occupancy.live.city import CityTable
from occupancy.stats.today import TodayReader
from occupancy.venues.service import VenueInfo


async def venue_snapshot(reader: TodayReader, info: VenueInfo, secret: str) -> dict:
    now = time.time()
    live = await reader.venue(info.id, now, series=True)
    return frames.venue_frame(live, info, now, secret=secret, snapshot=True)


async def display_snapshot(reader: TodayReader, info: VenueInfo) -> dict:
    count, capacity, paused = (await reader.counts([info.id]))[info.id]
    line = (await reader.lines([info.id]))[info.id]
    return frames.display_frame(info, count, capacity, paused, time.time(), snapshot=True,
                                line=line)


async def city_snapshot(sessionmaker: async_sessionmaker[AsyncSession], reader: TodayReader) -> dict:
    """The city view read straight from SQL and Redis (where no hub keeps it in memory)."""
    city = await CityTable.load(sessionmaker, reader)
    return city.snapshot(time.time())
