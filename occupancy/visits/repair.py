"""The service repairs its own live counts: writes left half done, and drift from SQL.

Every few seconds, in one process (``periodic.every``):

- **Leases.** A reservation stays pending in Redis until its SQL row is confirmed; a check-out
  stays closing until SQL holds it and its places are released. One still pending after the
  lease (a process died, or its undo failed) is settled from SQL: a reservation with no row is
  released, one with a row is confirmed; a check-out SQL holds is finished, one it does not is
  reopened. The lease is longer than any SQL write may take (the SQL timeouts), so no write in
  flight is mistaken for an orphan; one slower still is put back by its own confirmation.
- **Drift.** Each loaded venue's count and open tickets are compared with its open visits in SQL,
  and repaired (``repair.lua``) only if the venue had no write in flight and nothing changed in
  Redis while SQL was read (its sequence number): so a repair never undoes a newer write.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.kit.scripts import ScriptRunner
from occupancy.venues import service as venue_service
from occupancy.visits import repository
from occupancy.visits.capacity import OPEN_TICKET_TTL, REPAIR, SURVEY, CapacityStore
from occupancy.visits.rebuild import visit_args

log = logging.getLogger(__name__)

VENUES_AT_ONCE = 500  # venues read from Redis per round trip
TICKETS_AT_ONCE = 500  # tickets looked up in SQL per query


@dataclass(frozen=True, slots=True)
class VenueState:
    """A venue's live state as ``survey.lua`` read it."""

    loaded: bool  # its configuration is in Redis
    seq: bytes
    pending: int  # writes in flight
    count: int
    open_tickets: int
    expired: list[tuple[str, float]]  # (pending member, since) past the lease

    @classmethod
    def of(cls, reply: list) -> "VenueState":
        capacity, seq, pending, count, open_tickets, expired = reply
        return cls(capacity is not None, seq or b"0", pending, int(count or 0), open_tickets,
                   [(expired[i].decode(), float(expired[i + 1])) for i in range(0, len(expired), 2)])


# (venue id, booking hash, visit id, slot): gives an orphaned claim back to its booking.
Unclaim = Callable[[int, str, str, str], Awaitable[bool]]


@dataclass
class Repaired:
    orphans_released: int = 0
    orphans_confirmed: int = 0
    check_outs_finished: int = 0
    check_outs_reopened: int = 0
    venues_repaired: int = 0
    venues_busy: int = 0


class Repairer:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis,
                 runner: ScriptRunner, capacity: CapacityStore, lease: float = 15.0,
                 unclaim: "Unclaim | None" = None, unclaim_offer: "Unclaim | None" = None) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.runner = runner
        self.capacity = capacity
        self.lease = lease
        self.unclaim = unclaim  # gives a booking back its places
        self.unclaim_offer = unclaim_offer  # offers a line's party its places again

    async def run(self) -> Repaired:
        """One pass over every venue: leases first, then drift."""
        done = Repaired()
        if not await self.redis.exists(keys.READY_MARKER):
            return done  # being rebuilt: nothing is loaded to compare
        async with self.sessionmaker() as session:
            venue_ids = await venue_service.venue_ids(session)
        for start in range(0, len(venue_ids), VENUES_AT_ONCE):
            chunk = venue_ids[start:start + VENUES_AT_ONCE]
            states = await self._survey(chunk)
            settled = await self._settle_expired(states, done)
            if settled:  # their leases were settled just now: read them again
                states.update(await self._survey(settled))
            await self._repair_drift(states, done)
        return done

    async def _survey(self, venue_ids: list[int]) -> dict[int, "VenueState"]:
        """Each venue's live state and expired leases, one script call per venue (``survey.lua``)."""
        expired_before = repr(time.time() - self.lease)
        replies = await self.runner.run_each(SURVEY, [
            ((keys.config(v), keys.pending(v), keys.count(v), keys.open_tickets(v)), (expired_before,))
            for v in venue_ids])
        return {venue_id: VenueState.of(reply) for venue_id, reply in zip(venue_ids, replies, strict=True)}

    # Leases -------------------------------------------------------------------------------------

    async def _settle_expired(self, states: dict[int, "VenueState"], done: Repaired) -> list[int]:
        """Settles the writes pending past their lease; returns the venues that had any."""
        expired = [(venue_id, member, at) for venue_id, state in states.items()
                   for member, at in state.expired]
        for start in range(0, len(expired), TICKETS_AT_ONCE):
            await self._settle(expired[start:start + TICKETS_AT_ONCE], done)
        return list(dict.fromkeys(venue_id for venue_id, _, _ in expired))

    async def _settle(self, expired: list[tuple[int, str, float]], done: Repaired) -> None:
        hashes = [member.split(":", 1)[1] for _, member, _ in expired]
        async with self.sessionmaker() as session:
            rows = await repository.by_tickets(session, hashes)
        for venue_id, member, _ in expired:
            kind, ticket_hash = member.split(":", 1)
            row = rows.get(ticket_hash)
            if kind == "in":
                await self._settle_reservation(venue_id, ticket_hash, row, done)
            else:
                await self._settle_check_out(venue_id, ticket_hash, row, done)

    async def _settle_reservation(self, venue_id: int, ticket_hash: str, row, done: Repaired) -> None:
        if row is not None and row.checked_out_at is not None:  # ended since: nothing to confirm
            await self.redis.zrem(keys.pending(venue_id), f"in:{ticket_hash}")
            return
        if row is not None:  # written, but its confirmation was lost
            self.capacity.confirm(venue_id, ticket_hash, row.id, row.party_size,
                                  row.checked_in_at.timestamp())
            done.orphans_confirmed += 1
            return
        ticket = await self.redis.hmget(keys.ticket(venue_id, ticket_hash), "visit", "party", "at",
                                        "booking", "slot", "entry")
        visit_id, party, at, booking_hash, slot, entry_hash = (value.decode() if value else None
                                                               for value in ticket)
        if visit_id is None:
            await self.redis.zrem(keys.pending(venue_id), f"in:{ticket_hash}")
            return
        if booking_hash and self.unclaim:
            # A booking's claim: the booking holds its places again before the visit's are
            # released (as a claim whose write failed does), so it can still be claimed.
            await self.unclaim(venue_id, booking_hash, visit_id, slot)
        if entry_hash and self.unclaim_offer:
            # A line's claim: the party is offered its places again (until its offer ends),
            # before the visit's are released, so no walk-in takes them in between.
            await self.unclaim_offer(venue_id, entry_hash, visit_id, ticket_hash)
        status, *_ = await self.capacity.undo("checkin", venue_id, ticket_hash, visit_id, time.time(),
                                              float(at or time.time()))
        await self.redis.zrem(keys.pending(venue_id), f"in:{ticket_hash}")
        if status == b"ok":
            metrics.ORPHANS_RELEASED.inc()
            done.orphans_released += 1
            log.warning("released an orphaned reservation at venue %s: party of %s, no SQL row "
                        "%.0f s after it was made", venue_id, party, time.time() - float(at or 0))

    async def _settle_check_out(self, venue_id: int, ticket_hash: str, row, done: Repaired) -> None:
        if row is not None and row.checked_out_at is not None:
            await self.capacity.release(venue_id, ticket_hash, row.checkout_reason,
                                        row.checked_out_at.timestamp())
            outcome = "finished"
            done.check_outs_finished += 1
        else:
            visit_id = await self.redis.hget(keys.ticket(venue_id, ticket_hash), "visit")
            await self.capacity.undo("checkout", venue_id, ticket_hash,
                                     visit_id.decode() if visit_id else "", time.time(), time.time())
            await self.redis.zrem(keys.pending(venue_id), f"out:{ticket_hash}")
            outcome = "reopened"
            done.check_outs_reopened += 1
        metrics.CHECK_OUTS_FINISHED.labels(outcome).inc()
        log.warning("a check-out at venue %s was left half done past its lease: %s", venue_id,
                    outcome)

    # Drift --------------------------------------------------------------------------------------

    async def _repair_drift(self, states: dict[int, "VenueState"], done: Repaired) -> None:
        # Redis was read first: a venue is repaired only if its sequence number is still this one.
        live = {venue_id: (state.seq, state.count, state.open_tickets)
                for venue_id, state in states.items() if state.loaded and state.pending == 0}
        if not live:
            return
        async with self.sessionmaker() as session:
            sums = await repository.open_totals(session, list(live))
        for venue_id, (seq, count, open_count) in live.items():
            if sums.get(venue_id, (0, 0)) != (count, open_count):
                await self._repair_venue(venue_id, seq, done)

    async def _repair_venue(self, venue_id: int, seq: bytes, done: Repaired) -> None:
        redis_open = {member.decode() for member in await self.redis.smembers(keys.open_tickets(venue_id))}
        async with self.sessionmaker() as session:
            visits = (await repository.open_visits_by_venue(session, venue_id)).get(venue_id, [])
        stale = redis_open - {v.ticket_hash for v in visits}
        script_keys = (keys.count(venue_id), keys.config(venue_id), keys.open_tickets(venue_id),
                       keys.pending(venue_id),
                       *(keys.ticket(venue_id, v.ticket_hash) for v in visits),
                       *(keys.ticket(venue_id, ticket_hash) for ticket_hash in stale))
        args = (seq, OPEN_TICKET_TTL, keys.venue_channel(venue_id), venue_id, time.time(),
                len(visits), *visit_args(visits))
        status, *counts = await self.runner.run(REPAIR, script_keys, args)
        if status != b"ok":
            done.venues_busy += 1
            return
        metrics.DRIFT_REPAIRS.inc()
        done.venues_repaired += 1
        log.warning("repaired venue %s: its live count was %s, its open visits in SQL hold %s",
                    venue_id, int(counts[0]), int(counts[1]))
