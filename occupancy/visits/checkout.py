"""Check-out: mark the visit closing in Redis, record it in SQL, then release its places.

The places are released only once SQL holds the check-out, so a failed write reopens the visit
without touching the count; a check-out whose Redis call may or may not have run is finished by
this process later (``unconfirmed``).
"""

import logging
import time
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy.errors import ServiceUnavailable
from occupancy.visits import repository
from occupancy.visits.capacity import CapacityStore, LiveVisit
from occupancy.visits.errors import CheckOutPending, UnknownTicket
from occupancy.visits.journal import Journal
from occupancy.visits.rebuild import Rebuilder
from occupancy.visits.results import CheckedOut
from occupancy.visits.unconfirmed import UnconfirmedCheckOuts
from occupancy.visits.writes import VisitClosed

log = logging.getLogger(__name__)


class _RedisUnsure(Exception):
    """The check-out script was called twice and neither call answered: it may have run."""


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CheckOuts:
    def __init__(
        self,
        capacity: CapacityStore,
        journal: Journal,
        sessionmaker: async_sessionmaker[AsyncSession],
        rebuilder: Rebuilder,
    ) -> None:
        self.capacity = capacity
        self.journal = journal
        self.sessionmaker = sessionmaker
        self.rebuilder = rebuilder
        self.unconfirmed = UnconfirmedCheckOuts()

    async def close(self) -> None:
        await self.unconfirmed.close()

    async def end_visit(
        self, venue_id: int, ticket_hash: str, reason: str, temperature: float | None = None
    ) -> CheckedOut:
        """End a visit by its ticket hash (used by check-out, fever refusal and auto check-out)."""
        now = time.time()
        try:
            return await self._end_visit(venue_id, ticket_hash, reason, temperature, now)
        except _RedisUnsure as exc:
            # The script may have closed the visit in Redis, and then it must be closed in SQL
            # too: this process finishes the check-out once Redis answers (the script is
            # idempotent: it then answers as a replay, and the SQL close follows).
            self.unconfirmed.finish_later(venue_id, ticket_hash, lambda: self._end_visit(
                venue_id, ticket_hash, reason, temperature, now))
            raise CheckOutPending() from exc

    async def _end_visit(
        self, venue_id: int, ticket_hash: str, reason: str, temperature: float | None, now: float
    ) -> CheckedOut:
        """Mark the visit closing in Redis, record the check-out in SQL, then release its places.

        The places are released only once SQL holds the check-out, so a failed write reopens the
        visit without touching the count.
        """
        live = await self._begin_check_out(venue_id, ticket_hash, reason, now)
        if live.status == "no_config":
            raise self.rebuilder.refusal(venue_id)
        if live.status == "unknown":
            return await self._end_visit_known_only_to_sql(venue_id, ticket_hash, reason, temperature)
        began = live.status == "ok"
        closed_at = _at(live.checked_out_at)
        try:
            await self.journal.write(VisitClosed(ticket_hash, closed_at, live.state, temperature))
        except Exception as exc:
            if began:
                await self.capacity.undo_or_leave("checkout", venue_id, ticket_hash, live.visit_id, now)
            raise ServiceUnavailable() from exc
        count = await self._release(venue_id, ticket_hash, live)
        if began:
            metrics.CHECK_OUTS.labels(live.state).inc()
        return CheckedOut(
            visit_id=live.visit_id, venue_id=venue_id, party_size=live.party_size,
            checked_in_at=_at(live.checked_in_at), checked_out_at=closed_at, reason=live.state,
            count=count, capacity=live.capacity, replayed=live.status == "replay",
        )

    async def _release(self, venue_id: int, ticket_hash: str, began: LiveVisit) -> int:
        """Release the places of a check-out SQL holds; return the count after it.

        If Redis does not answer, the check-out stands (SQL has it) and the places are released
        by the lease check (``visits.repair``); the count is then the one expected.
        """
        if began.status == "replay":
            return began.count
        try:
            released = await self.capacity.release(venue_id, ticket_hash, began.state,
                                                   began.checked_out_at)
        except Exception as exc:
            log.warning("Redis release of a check-out failed for venue %s (%s); the lease check "
                        "finishes it", venue_id, type(exc).__name__)
            return max(0, began.count - began.party_size)
        return released.count

    async def _begin_check_out(self, venue_id: int, ticket_hash: str, reason: str,
                               now: float) -> LiveVisit:
        """The check-out script, and once more if the call fails: the first may have run with
        only its reply lost (the second then answers that the visit is closing), and a visit
        closing in Redis must be closed in SQL too."""
        try:
            live = await self.capacity.begin_check_out(venue_id, ticket_hash, reason, now)
        except Exception as exc:
            log.warning("Redis check-out failed for venue %s (%s); trying again", venue_id,
                        type(exc).__name__)
        else:
            return live
        try:
            return await self.capacity.begin_check_out(venue_id, ticket_hash, reason, now)
        except Exception as exc:
            log.error("Redis check-out failed twice for venue %s (%s)", venue_id, type(exc).__name__)
            raise _RedisUnsure() from exc


    async def _end_visit_known_only_to_sql(
        self, venue_id: int, ticket_hash: str, reason: str, temperature: float | None
    ) -> CheckedOut:
        visit = await repository.find_by_ticket(self.sessionmaker, ticket_hash)
        if visit is None or visit.venue_id != venue_id:
            raise UnknownTicket()
        replayed = visit.checked_out_at is not None
        if not replayed:
            # Redis does not hold this open visit (its row came after a rebuild read SQL): close
            # it in SQL; the count never included it, and the drift check compares them anyway.
            closed_at = datetime.now(UTC)
            try:
                await self.journal.write(VisitClosed(ticket_hash, closed_at, reason, temperature))
            except Exception as exc:
                raise ServiceUnavailable() from exc
            metrics.CHECK_OUTS.labels(reason).inc()
        visit = await repository.find_by_ticket(self.sessionmaker, ticket_hash)
        occupancy = await self.capacity.occupancy_for_answer(venue_id)
        return CheckedOut(
            visit_id=visit.id, venue_id=venue_id, party_size=visit.party_size,
            checked_in_at=visit.checked_in_at, checked_out_at=visit.checked_out_at,
            reason=visit.checkout_reason, count=occupancy.count,
            capacity=occupancy.capacity or 0, replayed=replayed,
        )

