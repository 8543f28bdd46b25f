"""Check-in, check-out and screening: Redis decides, SQL records, then the visitor is answered.

Check-in is here; check-out has its own module (``checkout``), and this class hands it on.
"""

import base64
import logging
import os
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy.errors import ServiceUnavailable
from occupancy.privacy.blind_index import index_key, phone_index
from occupancy.privacy.sealing import Personal, Sealer
from occupancy.venues.service import VenueInfo
from occupancy.visits import repository, tickets
from occupancy.visits.capacity import NO_LIMITS, CapacityStore, LiveVisit, Occupancy, RateLimits
from occupancy.visits.checkout import CheckOuts
from occupancy.visits.errors import (
    AmbiguousShortCode,
    IdempotencyKeyReused,
    LineWaiting,
    TooManyCheckIns,
    UnknownTicket,
    VenueFull,
    VenuePaused,
    VisitAlreadyEnded,
)
from occupancy.visits.journal import Journal, TicketConflict
from occupancy.visits.reasons import CheckOutReason, Refusal
from occupancy.visits.rebuild import Rebuilder
from occupancy.visits.results import CheckedIn, CheckedOut, Screened
from occupancy.visits.schemas import ValidCheckIn
from occupancy.visits.writes import NewVisit, TemperatureTaken

log = logging.getLogger(__name__)
# How long after a visit ended its short code still finds it (for retries by short code).
SHORT_CODE_RETRY_WINDOW = timedelta(minutes=10)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def new_visit_id(random: bytes | None = None) -> str:
    """32 hex digits: the milliseconds since 1970, then 80 random bits.

    Ids that grow with time go in at the end of the visits table's primary-key index instead of
    on a random page of it: a third less time per SQL batch on a grown SQLite table (see
    docs/benchmarks/history/2026-11.md). They say when the visit began, which its record says anyway.
    """
    random = random or os.urandom(10)
    return f"{time.time_ns() // 1_000_000:012x}{random[:10].hex()}"


class Visits:
    def __init__(
        self,
        capacity: CapacityStore,
        journal: Journal,
        sessionmaker: async_sessionmaker[AsyncSession],
        rebuilder: Rebuilder,
        sealer: Sealer,
        secret: str,
        limits: RateLimits = NO_LIMITS,
    ) -> None:
        self.capacity = capacity
        self.journal = journal
        self.sessionmaker = sessionmaker
        self.rebuilder = rebuilder
        self.sealer = sealer
        self.secret = secret
        self.index_key = index_key(secret)
        self.limits = limits
        self.check_outs = CheckOuts(capacity, journal, sessionmaker, rebuilder)

    async def check_in(self, venue: VenueInfo, request: ValidCheckIn, address: str = "") -> CheckedIn:
        """Admit a visitor's party; ``address`` is the client's, for the rate limits."""
        return await self._enter(
            venue, request.idempotency_key, request.party_size, "visitor",
            Personal(request.name, request.phone, request.email), address,
        )

    async def walk_in(self, venue: VenueInfo, party: int = 1) -> CheckedIn:
        """Count people let in without a phone: an anonymous visit, so SQL still sums the count."""
        return await self._enter(venue, None, party, "walkin")

    async def _enter(
        self, venue: VenueInfo, key: str | None, party: int, kind: str,
        personal: Personal | None = None, address: str = "",
    ) -> CheckedIn:
        # One read of the system's randomness for both: this attempt's visit id and, where the
        # visitor sent no key, a secret one (never the visit id, which others may see).
        random = os.urandom(26)
        visit_id = new_visit_id(random[:10])
        key = key or base64.urlsafe_b64encode(random[10:]).decode()
        ticket = tickets.derive(self.secret, venue.id, key)
        ticket_hash = tickets.digest(ticket)
        live = await self._admit(venue.id, ticket_hash, party, kind, visit_id, address)
        replayed = live.status == "replay"
        checked_in_at = _at(live.checked_in_at)
        try:
            row = await self.new_row(live, venue.id, ticket_hash, checked_in_at, kind, personal)
            # A replay writes too (a no-op if the row is there): the answer waits for durability.
            await self.journal.write(row)
        except Exception as exc:
            if not replayed:
                await self.capacity.undo_or_leave("checkin", venue.id, ticket_hash, live.visit_id,
                                                  live.checked_in_at, kind)
            if isinstance(exc, TicketConflict):
                raise IdempotencyKeyReused() from exc
            raise ServiceUnavailable() from exc
        # A replay confirms too: its first attempt may have died before its row was written.
        self.capacity.confirm(venue.id, ticket_hash, live.visit_id, live.party_size,
                              live.checked_in_at)
        if not replayed:
            metrics.CHECK_INS.inc()
            metrics.VISITORS_ADMITTED.inc(live.party_size)
        return CheckedIn(
            ticket=ticket, visit_id=live.visit_id, venue=venue, party_size=live.party_size,
            checked_in_at=checked_in_at, count=live.count, capacity=live.capacity,
            replayed=replayed, open=live.state == "open",
        )

    async def new_row(self, live: LiveVisit, venue_id: int, ticket_hash: str,
                      checked_in_at: datetime, kind: str, personal: Personal | None) -> NewVisit:
        """The visit's row, its personal data sealed (walk-ins have none); also for the line's claims."""
        sealed = None if personal is None else await self.sealer.seal(live.visit_id, personal)
        return NewVisit(
            id=live.visit_id, venue_id=venue_id, ticket_hash=ticket_hash,
            party_size=live.party_size, checked_in_at=checked_in_at, kind=kind,
            personal=sealed and sealed.box, personal_key_id=sealed and sealed.key_id,
            phone_index=personal and phone_index(self.index_key, personal.phone),
        )

    async def _admit(self, venue_id: int, ticket_hash: str, party: int, kind: str,
                     visit_id: str, address: str) -> LiveVisit:
        now = time.time()
        live = await self._reserve(venue_id, ticket_hash, party, kind, visit_id, address, now)
        if live.status == "no_config":
            raise self.rebuilder.refusal(venue_id)
        if live.status == "rate_limited":
            metrics.REFUSALS.labels(Refusal.RATE_LIMITED).inc()
            raise TooManyCheckIns(retry_after_seconds=self.limits.retry_after(now))
        if live.status == "full":
            metrics.REFUSALS.labels(Refusal.FULL).inc()
            raise VenueFull(count=live.count, capacity=live.capacity, retry_after_seconds=60)
        if live.status == "paused":
            metrics.REFUSALS.labels(Refusal.PAUSED).inc()
            raise VenuePaused(count=live.count, capacity=live.capacity)
        if live.status == "line_waiting":
            metrics.REFUSALS.labels(Refusal.LINE_WAITING).inc()
            raise LineWaiting(count=live.count, capacity=live.capacity)
        if live.status not in ("ok", "replay"):
            raise ServiceUnavailable()
        return live

    async def _reserve(self, venue_id: int, ticket_hash: str, party: int, kind: str,
                       visit_id: str, address: str, now: float) -> LiveVisit:
        """One admission attempt. If the call fails (a timeout, a dropped connection), the script
        may still have run: undo what this attempt may have reserved (undo matches its visit id,
        so it never touches another attempt's reservation) before telling the visitor."""
        try:
            return await self.capacity.admit(venue_id, ticket_hash, party, visit_id, now, kind,
                                             address, self.limits)
        except Exception as exc:
            log.error("Redis admission failed for venue %s: %s", venue_id, type(exc).__name__)
            await self.capacity.undo_or_leave("checkin", venue_id, ticket_hash, visit_id, now, kind)
            raise ServiceUnavailable() from exc

    async def check_out(self, ticket: str, reason: str, temperature: float | None = None) -> CheckedOut:
        venue_id = tickets.venue_of(ticket)
        return await self.end_visit(venue_id, tickets.digest(ticket), reason, temperature)

    async def end_visit(
        self, venue_id: int, ticket_hash: str, reason: str, temperature: float | None = None
    ) -> CheckedOut:
        """End a visit by its ticket hash (used by check-out, fever refusal and auto check-out)."""
        return await self.check_outs.end_visit(venue_id, ticket_hash, reason, temperature)

    async def close(self) -> None:
        await self.check_outs.close()

    async def occupancy(self, venue_id: int) -> Occupancy:
        """The venue's live count; 503 while Redis does not hold it (being rebuilt)."""
        live = await self.capacity.occupancy(venue_id)
        if live.capacity is None:
            raise self.rebuilder.refusal(venue_id)
        return live

    async def screen(self, venue: VenueInfo, ticket_hash: str, temperature: float) -> Screened:
        """Record a door temperature for the visit with this ticket hash; at or above the
        threshold the visit ends as refused."""
        if temperature >= venue.fever_threshold:
            ended = await self.end_visit(venue.id, ticket_hash, CheckOutReason.FEVER, temperature)
            if ended.replayed and ended.reason != CheckOutReason.FEVER:
                raise VisitAlreadyEnded()
            if not ended.replayed:
                metrics.REFUSALS.labels(Refusal.FEVER).inc()
            return Screened(False, temperature, venue.fever_threshold, ended.visit_id,
                            ended.count, ended.capacity)
        visit = await repository.find_by_ticket(self.sessionmaker, ticket_hash)
        if visit is None or visit.venue_id != venue.id:
            raise UnknownTicket()
        if visit.checked_out_at is not None:
            raise VisitAlreadyEnded()
        try:
            await self.journal.write(TemperatureTaken(ticket_hash, temperature))
        except Exception as exc:
            raise ServiceUnavailable() from exc
        occupancy = await self.capacity.occupancy_for_answer(venue.id)
        return Screened(True, temperature, venue.fever_threshold, visit.id, occupancy.count,
                        occupancy.capacity or 0)

    async def ticket_hash_by_code(self, venue_id: int, prefix: str) -> str:
        """The ticket hash of the visit at this venue whose hash starts with a short code's prefix.

        Open visits come first; if none matches, a visit closed in the last few minutes does, so
        that a retried check-out or fever refusal by short code replays like one by ticket.
        Walk-ins are left out (nobody holds their tickets).
        """
        since = datetime.now(UTC) - SHORT_CODE_RETRY_WINDOW
        async with self.sessionmaker() as session:
            rows = await repository.by_short_code(session, venue_id, prefix, since)
        open_ = [row.ticket_hash for row in rows if row.checked_out_at is None]
        found = open_ or [row.ticket_hash for row in rows]
        if not found:
            raise UnknownTicket()
        if len(found) > 1:
            raise AmbiguousShortCode()
        return found[0]
