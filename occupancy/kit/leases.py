"""The shared half of the lease checks of bookings and line joins: the writes left pending in
Redis past their lease, and which of them SQL holds. Each caller then confirms the written ones
and takes the others back in its own way (``bookings/leases.py``, ``line/leases.py``).
"""

from collections.abc import Callable

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute


async def past_lease(
    redis: Redis, sessionmaker: async_sessionmaker[AsyncSession], venue_ids: list[int],
    pending_key: Callable[[int], str], written_column: InstrumentedAttribute, before: float,
) -> tuple[list[tuple[int, str]], set[str]]:
    """(venue, member) pending since before ``before`` in each venue's sorted set
    (``pending_key``), one round trip; and those of them SQL has a row for (``written_column``
    holds the member)."""
    if not venue_ids:
        return [], set()
    pipe = redis.pipeline(transaction=False)
    for venue_id in venue_ids:
        pipe.zrangebyscore(pending_key(venue_id), "-inf", before)
    expired = [(venue_id, member.decode() if isinstance(member, bytes) else member)
               for venue_id, members in zip(venue_ids, await pipe.execute(), strict=True)
               for member in members]
    if not expired:
        return expired, set()
    async with sessionmaker() as session:
        written = set((await session.execute(select(written_column).where(
            written_column.in_([member for _, member in expired])))).scalars())
    return expired, written
