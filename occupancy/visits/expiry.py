"""Automatic check-out of visits that outlast their venue's maximum stay."""

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.visits import repository
from occupancy.visits.reasons import CheckOutReason
from occupancy.visits.service import Visits

log = logging.getLogger(__name__)


# Open visits read per query: a city closing at night may have tens of thousands overdue, and
# turning them all into rows at once would hold a worker's event loop.
PAGE = 1000


async def overdue_pages(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime
) -> AsyncIterator[list[tuple[int, str]]]:
    """(venue id, ticket hash) of open visits past their venue's maximum stay, page by page."""
    after = ""
    while True:
        async with sessionmaker() as session:
            rows = await repository.overdue_candidates(session, now, after, PAGE)
        yield [(row.venue_id, row.ticket_hash) for row in rows
               if row.checked_in_at < now - timedelta(minutes=row.max_stay_minutes)]
        if len(rows) < PAGE:
            return
        after = rows[-1].id


async def auto_check_out(
    visits: Visits, sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> int:
    ended = 0
    async for overdue in overdue_pages(sessionmaker, now or datetime.now(UTC)):
        for venue_id, ticket_hash in overdue:
            await visits.end_visit(venue_id, ticket_hash, CheckOutReason.AUTO)
        ended += len(overdue)
    if ended:
        log.info("checked out %d overdue visits automatically", ended)
    return ended
