"""Group commit: the SQL writes of concurrent requests go out in one transaction.

A request hands its row to the journal and awaits the commit that contains it; while one batch
commits, the next one gathers. Durability costs one commit per batch instead of one per request.
If a batch fails, its writes are retried one by one so only the faulty ones fail.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from occupancy.visits.models import Visit

log = logging.getLogger(__name__)


class TicketConflict(Exception):
    """The ticket already belongs to another visit (an idempotency key used twice)."""


@dataclass
class NewVisit:
    id: str
    venue_id: int
    ticket_hash: str
    party_size: int
    checked_in_at: datetime
    visitor_name: str | None
    visitor_phone: str | None
    visitor_email: str | None
    kind: str = "visitor"


@dataclass
class VisitClosed:
    ticket_hash: str
    checked_out_at: datetime
    checkout_reason: str
    temperature: float | None = None


@dataclass
class TemperatureTaken:
    ticket_hash: str
    temperature: float


Write = NewVisit | VisitClosed | TemperatureTaken


@dataclass
class _Pending:
    write: Write
    future: asyncio.Future = field(repr=False)


_CLOSE = (
    update(Visit)
    .where(Visit.ticket_hash == bindparam("th"), Visit.checked_out_at.is_(None))
    .values(
        checked_out_at=bindparam("at"),
        checkout_reason=bindparam("reason"),
        temperature=func.coalesce(bindparam("temp"), Visit.temperature),
    )
)
_TEMPERATURE = (
    update(Visit).where(Visit.ticket_hash == bindparam("th")).values(temperature=bindparam("temp"))
)


class Journal:
    def __init__(self, engine: AsyncEngine, batch_max: int = 500) -> None:
        self.engine = engine
        self.batch_max = batch_max
        insert = sqlite_insert if engine.dialect.name == "sqlite" else pg_insert
        self._insert = insert(Visit).on_conflict_do_nothing().returning(Visit.ticket_hash)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.batches = 0  # for tests and the benchmark: how well writes are grouped

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="journal")

    async def write(self, item: Write) -> None:
        """Return once ``item`` is committed; raise if it could not be."""
        if self._task is None or self._task.done():
            raise RuntimeError("journal is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        await future

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: list[_Pending], tries: int = 3) -> None:
        self.batches += 1
        # Rows in one fixed order (by ticket), so that the batches of several processes lock
        # them in the same order and cannot deadlock each other.
        writes = sorted((p.write for p in batch), key=lambda w: w.ticket_hash)
        try:
            async with self.engine.begin() as conn:
                conflicts = await self._apply(conn, writes)
        except (IntegrityError, DataError) as exc:
            if len(batch) == 1:
                log.warning("SQL refused a write: %s", type(exc).__name__)
                _fail(batch[0], exc)
                return
            for pending in batch:  # a row SQL refuses: find it, each alone in its own transaction
                await self._commit_batch([pending])
            return
        except DBAPIError as exc:
            if tries > 1 and _is_transient(exc):  # deadlock or serialization failure: try again
                await self._commit_batch(batch, tries - 1)
                return
            self._fail_all(batch, exc)
            return
        except Exception as exc:  # the database itself failed (down, locked): the batch fails
            self._fail_all(batch, exc)
            return
        for pending in batch:
            if pending.write in conflicts:
                _fail(pending, TicketConflict())
            elif not pending.future.done():
                pending.future.set_result(None)

    @staticmethod
    def _fail_all(batch: list[_Pending], exc: Exception) -> None:
        # The type only: a driver's message may quote the row, and rows hold personal data.
        log.error("SQL write of %d rows failed: %s", len(batch), type(exc).__name__)
        for pending in batch:
            _fail(pending, exc)

    async def _apply(self, conn: AsyncConnection, writes: list[Write]) -> list[Write]:
        """Execute the writes; return the new visits whose ticket belongs to another visit."""
        new = [w for w in writes if isinstance(w, NewVisit)]
        conflicts = []
        if new:
            rows = [vars(w) for w in new]
            inserted = set((await conn.execute(self._insert, rows)).scalars())
            clashing = [w for w in new if w.ticket_hash not in inserted]
            if clashing:
                conflicts = await _other_visits(conn, clashing)
        closes = [w for w in writes if isinstance(w, VisitClosed)]
        if closes:
            params = [
                {"th": w.ticket_hash, "at": w.checked_out_at, "reason": w.checkout_reason,
                 "temp": w.temperature}
                for w in closes
            ]
            await conn.execute(_CLOSE, params)
        temperatures = [w for w in writes if isinstance(w, TemperatureTaken)]
        if temperatures:
            params = [{"th": w.ticket_hash, "temp": w.temperature} for w in temperatures]
            await conn.execute(_TEMPERATURE, params)
        return conflicts


async def _other_visits(conn: AsyncConnection, clashing: list[NewVisit]) -> list[NewVisit]:
    """Of inserts that hit an existing ticket, those whose row is another visit.

    A retry of the same visit (same id) is fine: the row it wanted is there.
    """
    hashes = [w.ticket_hash for w in clashing]
    result = await conn.execute(select(Visit.ticket_hash, Visit.id).where(Visit.ticket_hash.in_(hashes)))
    owner = dict(result.all())
    return [w for w in clashing if owner.get(w.ticket_hash) != w.id]


def _is_transient(exc: DBAPIError) -> bool:
    """PostgreSQL's deadlock_detected and serialization_failure: the same batch may succeed."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def _fail(pending: _Pending, error: Exception) -> None:
    if not pending.future.done():
        pending.future.set_exception(error)
