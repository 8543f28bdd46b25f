"""Contact tracing, for officials: a confirmed case's visits and the people whose stays overlapped
them, opened with the health office's private key given for this one query (kept nowhere).

Every query, answered or not, writes a record to the append-only audit log first; if the record
cannot be written, nothing is revealed.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy.errors import InvalidInput, ServiceUnavailable
from occupancy.privacy import audit_chain, repository
from occupancy.privacy.blind_index import normalise_phone, phone_index
from occupancy.privacy.models import TraceAudit
from occupancy.privacy.sealing import Opener, Personal, Sealed, WrongKey, private_keys_from
from occupancy.visits import tickets

log = logging.getLogger(__name__)
MAX_DAYS = 31
_CHAIN_ATTEMPTS = 20


class AuditBusy(ServiceUnavailable):
    code = "audit_busy"
    message = "The audit log is busy with other queries; nothing was revealed. Try again."


@dataclass(frozen=True)
class Question:
    start: date
    end: date  # inclusive
    phone: str | None = None
    ticket: str | None = None

    def check(self) -> None:
        if (self.phone is None) == (self.ticket is None):
            raise InvalidInput("Give either the case's phone number or a ticket, not both.")
        if self.phone is not None and not 8 <= len(normalise_phone(self.phone)) <= 16:
            raise InvalidInput("Give a phone number of 8 to 15 digits.", field="phone")
        if self.end < self.start or (self.end - self.start).days >= MAX_DAYS:
            raise InvalidInput(f"Give a date range of 1 to {MAX_DAYS} days, the start first.",
                               field="start")


@dataclass(frozen=True)
class TracedVisit:
    visit_id: str
    venue_id: int
    venue_name: str
    checked_in_at: datetime
    checked_out_at: datetime | None
    party_size: int
    person: Personal | None  # None: purged after the retention period


@dataclass(frozen=True)
class Contact:
    visit: TracedVisit
    case_visit_id: str
    overlap_minutes: int


@dataclass
class Trace:
    cases: list[TracedVisit] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)

    def people_revealed(self) -> int:
        return sum(1 for v in [*self.cases, *(c.visit for c in self.contacts)] if v.person)


class Tracer:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 index_keys: tuple[bytes, ...], tz: ZoneInfo) -> None:
        self.sessionmaker = sessionmaker
        # The current key first; previous ones indexed the visits from before a key rotation.
        self.index_keys = index_keys
        self.tz = tz

    async def trace(self, question: Question, private_key: str, asked_by: str) -> Trace:
        question.check()
        keys = private_keys_from(private_key) if private_key.strip() else None
        async with self.sessionmaker() as session:
            found, overlaps = await self._read(session, question)
            try:
                if keys is None:
                    raise WrongKey("Give the health office's private key to open the data.")
                trace = await self._open(session, keys, found, overlaps)
            except WrongKey:
                await self._audit(session, asked_by, question, len(found), 0, "wrong_key")
                raise
            await self._audit(session, asked_by, question, len(found), trace.people_revealed(),
                              "answered" if found else "not_found")
        return trace

    async def _read(self, session: AsyncSession, question: Question) -> tuple[list, dict]:
        if question.phone is not None:
            start, end = self._day_start(question.start), self._day_start(question.end + timedelta(1))
            indexes = [phone_index(key, question.phone) for key in self.index_keys]
            found = await repository.visits_by_phone(session, indexes, start, end)
        else:
            found = await repository.visit_by_ticket(session, tickets.digest(question.ticket))
        overlaps = {}
        for visit in found:
            until = visit.checked_out_at or datetime.now(UTC)
            overlaps[visit.id] = [
                other for other in await repository.overlapping(
                    session, visit.venue_id, visit.checked_in_at, until)
                if other.id not in {v.id for v in found}]
        return found, overlaps

    async def _open(self, session: AsyncSession, keys: list, found: list,
                    overlaps: dict) -> Trace:
        opener = Opener(*keys)
        rows = [*found, *(o for group in overlaps.values() for o in group)]
        for data_key in await repository.data_keys(
                session, {r.personal_key_id for r in rows if r.personal_key_id}):
            opener.add_key(data_key)
        trace = Trace(cases=[self._traced(opener, v) for v in found])
        for case in found:
            case_end = case.checked_out_at or datetime.now(UTC)
            for other in overlaps[case.id]:
                other_end = other.checked_out_at or datetime.now(UTC)
                overlap = min(case_end, other_end) - max(case.checked_in_at, other.checked_in_at)
                trace.contacts.append(Contact(self._traced(opener, other), case.id,
                                              max(1, round(overlap.total_seconds() / 60))))
        return trace

    @staticmethod
    def _traced(opener: Opener, row) -> TracedVisit:
        person = None
        if row.personal is not None and row.personal_key_id is not None:
            person = opener.open(row.id, Sealed(row.personal_key_id, bytes(row.personal)))
        return TracedVisit(row.id, row.venue_id, row.venue_name, row.checked_in_at,
                           row.checked_out_at, row.party_size, person)

    def _day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.tz).astimezone(UTC)

    async def _audit(self, session: AsyncSession, asked_by: str, question: Question, cases: int,
                     revealed: int, outcome: str) -> None:
        what = (f"phone {phone_index(self.index_keys[0], question.phone)[:16]}"
                if question.phone is not None else
                f"ticket {tickets.digest(question.ticket)[:16]}")
        for _ in range(_CHAIN_ATTEMPTS):
            record = TraceAudit(at=datetime.now(UTC), asked_by=asked_by[:120],
                                question=f"{what} from {question.start} to {question.end}",
                                cases=cases, revealed=revealed, outcome=outcome,
                                previous=await repository.audit_head(session) or audit_chain.GENESIS)
            record.digest = audit_chain.digest(record)
            session.add(record)
            try:
                await session.commit()
                break
            except IntegrityError:  # another query linked to the same head first: link to it
                await session.rollback()
        else:
            raise AuditBusy()
        metrics.TRACING_QUERIES.labels(outcome).inc()
        log.info("contact tracing by %s: %s, %d people revealed", asked_by, outcome, revealed)


async def audit_log(sessionmaker: async_sessionmaker[AsyncSession], limit: int = 500) -> list:
    """The newest audit records first."""
    async with sessionmaker() as session:
        return await repository.audit_records(session, limit)


async def check_audit_chain(sessionmaker: async_sessionmaker[AsyncSession]) -> audit_chain.ChainCheck:
    """Whether every audit record follows from the one before (the whole log is read)."""
    async with sessionmaker() as session:
        return audit_chain.check(await repository.all_audit_records(session))
