"""Retention: personal data is purged once it is older than the retention period.

The sealed values and phone indexes of visits that began before the cut-off (and of bookings
whose slot ended before it) are cleared, and the data keys used only before it are deleted (but
not one still holding a booking for a later slot, which may be made weeks ahead), which makes
anything sealed with them unreadable for good (a copy of the database taken earlier included).
Counts and anonymous visit rows stay for the history.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy.bookings.models import Booking
from occupancy.privacy.models import DataKey
from occupancy.visits.models import Visit

log = logging.getLogger(__name__)
# Visits cleared per transaction: a large first purge does not hold the write lock for long.
BATCH = 1000


@dataclass(frozen=True)
class Purged:
    visits: int
    data_keys: int
    bookings: int = 0


async def purge(sessionmaker: async_sessionmaker[AsyncSession], retention_days: float,
                now: datetime | None = None) -> Purged:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    visits = 0
    while cleared := await _clear_batch(sessionmaker, cutoff):
        visits += cleared
    bookings = 0
    while cleared := await _clear_bookings(sessionmaker, cutoff):
        bookings += cleared
    async with sessionmaker() as session:
        in_use = select(Booking.personal_key_id).where(Booking.personal_key_id.is_not(None))
        keys = (await session.execute(delete(DataKey).where(
            DataKey.used_until < cutoff, DataKey.id.not_in(in_use)))).rowcount
        await session.commit()
    if visits or keys or bookings:
        metrics.PERSONAL_DATA_PURGED.inc(visits + bookings)
        log.info("purged the personal data of %d visits, %d bookings and %d data keys older than "
                 "%s days", visits, bookings, keys, retention_days)
    return Purged(visits, keys, bookings)


async def _clear_batch(sessionmaker: async_sessionmaker[AsyncSession], cutoff: datetime) -> int:
    async with sessionmaker() as session:
        ids = list((await session.execute(
            select(Visit.id).where(Visit.checked_in_at < cutoff, Visit.personal_key_id.is_not(None))
            .limit(BATCH))).scalars())
        if ids:
            await session.execute(update(Visit).where(Visit.id.in_(ids)).values(
                personal=None, personal_key_id=None, phone_index=None))
            await session.commit()
        return len(ids)


async def _clear_bookings(sessionmaker: async_sessionmaker[AsyncSession], cutoff: datetime) -> int:
    async with sessionmaker() as session:
        ids = list((await session.execute(
            select(Booking.id).where(Booking.slot_ends_at < cutoff,
                                     Booking.personal_key_id.is_not(None)).limit(BATCH))).scalars())
        if ids:
            await session.execute(update(Booking).where(Booking.id.in_(ids)).values(
                personal=None, personal_key_id=None, phone_index=None))
            await session.commit()
        return len(ids)
