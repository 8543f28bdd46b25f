"""Walk-ins: people without a phone, counted in and out by door staff.

Each is an anonymous visit (kind ``walkin``, no name, phone or email), so the live count stays
the sum of open visits in SQL. Counting one out ends the oldest open walk-in.
"""

import asyncio
from collections import defaultdict

from occupancy.venues.service import VenueInfo
from occupancy.visits import repository
from occupancy.visits.errors import NoWalkIn
from occupancy.visits.reasons import CheckOutReason
from occupancy.visits.service import CheckedIn, CheckedOut, Visits

ATTEMPTS = 5


class WalkIns:
    """Walk-outs of one venue go one at a time in a process (another process may still race:
    then the visit it took first is skipped and the next oldest ends)."""

    def __init__(self, visits: Visits) -> None:
        self.visits = visits
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def count_in(self, venue: VenueInfo) -> CheckedIn:
        return await self.visits.walk_in(venue, 1)

    async def count_out(self, venue: VenueInfo) -> CheckedOut:
        async with self._locks[venue.id]:
            for attempt in range(ATTEMPTS):
                ticket_hash = await self._oldest_open(venue.id, skip=attempt)
                if ticket_hash is None:
                    raise NoWalkIn()
                ended = await self.visits.end_visit(venue.id, ticket_hash, CheckOutReason.STAFF)
                if not ended.replayed:
                    return ended
        raise NoWalkIn()

    async def _oldest_open(self, venue_id: int, skip: int) -> str | None:
        async with self.visits.sessionmaker() as session:
            return await repository.oldest_open_walk_in(session, venue_id, skip)
