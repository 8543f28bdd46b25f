"""Group commit: the SQL writes of concurrent requests go out in one transaction.

A request hands its row to the journal and awaits the commit that contains it; while a batch
commits, the next one gathers. Durability costs one commit per batch instead of one per request.
If a batch fails, its writes are retried one by one so only the faulty ones fail.

A batch is one plain function on a synchronous connection (``apply_writes``). On SQLite it runs
whole in the journal's own thread: a transaction that awaited the busy event loop between its
statements held the database's single write lock for ~13 ms a batch, and the other worker
process slept in SQLite's busy handler meanwhile. On PostgreSQL it runs through SQLAlchemy's
``run_sync`` on asyncpg, and up to ``overlap`` batches commit at once on separate connections.
Batches never depend on each other: a row is only changed after its insert was acknowledged.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Insert, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from occupancy import metrics
from occupancy.db import journal_engine, naive_utc, sync_sqlite_engine
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


# PostgreSQL: a whole batch is one statement over arrays (data-modifying CTEs), atomic by itself
# with no BEGIN and COMMIT of its own: one round trip instead of three, and no SQLAlchemy
# statement per kind of write. Its parts see the table as it was before the statement, which is
# enough: a visit is closed or measured only after its insert was acknowledged, in an earlier
# batch. Times are naive UTC, as UTCDateTime stores them.
_PG_BATCH = """
WITH new AS (
    INSERT INTO visits (id, venue_id, ticket_hash, party_size, checked_in_at, visitor_name,
                        visitor_phone, visitor_email, kind)
    SELECT * FROM unnest($1::varchar[], $2::int[], $3::varchar[], $4::int[], $5::timestamp[],
                         $6::varchar[], $7::varchar[], $8::varchar[], $9::varchar[])
    ON CONFLICT DO NOTHING
    RETURNING ticket_hash
), closed AS (
    UPDATE visits SET checked_out_at = c.at, checkout_reason = c.reason,
                      temperature = coalesce(c.temp, visits.temperature)
    FROM unnest($10::varchar[], $11::timestamp[], $12::varchar[], $13::float8[]) AS c(th, at, reason, temp)
    WHERE visits.ticket_hash = c.th AND visits.checked_out_at IS NULL
), measured AS (
    UPDATE visits SET temperature = t.temp
    FROM unnest($14::varchar[], $15::float8[]) AS t(th, temp)
    WHERE visits.ticket_hash = t.th
)
SELECT ticket_hash FROM new
"""


def _pg_batch_arguments(writes: list[Write]) -> tuple:
    new = [w for w in writes if isinstance(w, NewVisit)]
    closes = [w for w in writes if isinstance(w, VisitClosed)]
    temperatures = [w for w in writes if isinstance(w, TemperatureTaken)]
    return (
        [w.id for w in new], [w.venue_id for w in new], [w.ticket_hash for w in new],
        [w.party_size for w in new], [naive_utc(w.checked_in_at) for w in new],
        [w.visitor_name for w in new], [w.visitor_phone for w in new],
        [w.visitor_email for w in new], [w.kind for w in new],
        [w.ticket_hash for w in closes], [naive_utc(w.checked_out_at) for w in closes],
        [w.checkout_reason for w in closes], [w.temperature for w in closes],
        [w.ticket_hash for w in temperatures], [w.temperature for w in temperatures],
    )


def _changes_a_visit_twice(writes: list[Write]) -> bool:
    """Two closes or temperatures of one visit in a batch (PostgreSQL's one statement would
    apply only one of them)."""
    changed = [w.ticket_hash for w in writes if not isinstance(w, NewVisit)]
    return len(set(changed)) != len(changed)


class Journal:
    def __init__(self, engine: AsyncEngine, batch_max: int = 500, overlap: int = 3) -> None:
        self.engine = engine
        self.batch_max = batch_max
        sqlite = engine.dialect.name == "sqlite"
        insert = (sqlite_insert if sqlite else pg_insert)(Visit).on_conflict_do_nothing()
        # SQLite (plain sqlite3 in the journal's thread) counts the rows an executemany inserted;
        # asyncpg does not, so there the insert returns the tickets it wrote.
        self._insert = insert if sqlite else insert.returning(Visit.ticket_hash)
        # SQLite has one writer at a time anyway: one batch, in one thread, start to commit.
        self._slots = asyncio.Semaphore(1 if sqlite else overlap)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="journal") if sqlite else None
        self._sync_engine = sync_sqlite_engine(engine) if sqlite else None
        self._batch_engine = None if sqlite else journal_engine(engine, overlap)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._committing: set[asyncio.Task] = set()
        self.batches = 0  # for tests: how well writes are grouped

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
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._sync_engine.dispose()
        if self._batch_engine is not None:
            await self._batch_engine.dispose()

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            await self._slots.acquire()  # meanwhile more rows queue up for this batch
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            task = asyncio.create_task(self._commit_and_release(batch))
            self._committing.add(task)
            task.add_done_callback(self._committing.discard)

    async def _commit_and_release(self, batch: list[_Pending]) -> None:
        try:
            await self._commit_batch(batch)
        except Exception as exc:  # a bug, not a database answer: fail the batch, keep the journal
            log.exception("journal batch failed")
            self._fail_all(batch, exc)
        finally:
            self._slots.release()
            for _ in batch:
                self._queue.task_done()

    async def _commit_batch(self, batch: list[_Pending], tries: int = 3) -> None:
        self.batches += 1
        metrics.SQL_BATCHES.inc()
        metrics.SQL_BATCH_ROWS.inc(len(batch))
        # Rows in one fixed order (by ticket), so that the batches of several processes lock
        # them in the same order and cannot deadlock each other.
        writes = sorted((p.write for p in batch), key=lambda w: w.ticket_hash)
        started = time.perf_counter()
        try:
            conflicts = await self._apply(writes)
        except (IntegrityError, DataError) as exc:
            if len(batch) == 1:
                log.warning("SQL refused a write: %s", type(exc).__name__)
                _fail(batch[0], exc)
                return
            for pending in batch:  # a row SQL refuses: find it, each alone in its own transaction
                await self._commit_batch([pending])
            return
        except DBAPIError as exc:
            # A deadlock, a serialization failure or a connection that broke: try again (on a
            # new connection). Every write is safe to apply twice.
            if tries > 1 and (_is_transient(exc) or exc.connection_invalidated):
                await self._commit_batch(batch, tries - 1)
                return
            self._fail_all(batch, exc)
            return
        except Exception as exc:  # the database itself failed (down, locked): the batch fails
            self._fail_all(batch, exc)
            return
        metrics.SQL_BATCH_SECONDS.observe(time.perf_counter() - started)
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

    async def _apply(self, writes: list[Write]) -> list[Write]:
        """Commit the writes in one transaction; return the new visits that clash (see below)."""
        if self._thread is not None:
            return await asyncio.get_running_loop().run_in_executor(
                self._thread, self._apply_in_thread, writes)
        if _changes_a_visit_twice(writes):  # rare: one statement could apply only one of them
            async with self.engine.begin() as conn:
                return await conn.run_sync(apply_writes, self._insert, writes)
        async with self._batch_engine.connect() as conn:  # autocommit: the statement is atomic
            result = await conn.exec_driver_sql(_PG_BATCH, _pg_batch_arguments(writes))
            inserted = set(result.scalars())
            clashing = [w for w in writes if isinstance(w, NewVisit) and w.ticket_hash not in inserted]
            return await conn.run_sync(_other_visits, clashing) if clashing else []

    def _apply_in_thread(self, writes: list[Write]) -> list[Write]:
        with self._sync_engine.begin() as conn:
            return apply_writes(conn, self._insert, writes)


def apply_writes(conn: Connection, insert: Insert, writes: list[Write]) -> list[Write]:
    """Execute the writes; return the new visits whose ticket belongs to another visit."""
    new = [w for w in writes if isinstance(w, NewVisit)]
    conflicts = []
    if new and (clashing := _insert_visits(conn, insert, new)):
        conflicts = _other_visits(conn, clashing)
    closes = [w for w in writes if isinstance(w, VisitClosed)]
    if closes:
        conn.execute(_CLOSE, [
            {"th": w.ticket_hash, "at": w.checked_out_at, "reason": w.checkout_reason,
             "temp": w.temperature}
            for w in closes
        ])
    temperatures = [w for w in writes if isinstance(w, TemperatureTaken)]
    if temperatures:
        conn.execute(_TEMPERATURE, [{"th": w.ticket_hash, "temp": w.temperature} for w in temperatures])
    return conflicts


def _insert_visits(conn: Connection, insert: Insert, new: list[NewVisit]) -> list[NewVisit]:
    """Insert the new visits; return those whose ticket may have been in the table already."""
    result = conn.execute(insert, [vars(w) for w in new])
    if result.returns_rows:
        inserted = set(result.scalars())
        return [w for w in new if w.ticket_hash not in inserted]
    # Without RETURNING (a third of a SQLite batch's cost): the count of rows inserted says
    # whether any ticket clashed, and only then are all of them looked up.
    return [] if result.rowcount == len(new) else new


def _other_visits(conn: Connection, clashing: list[NewVisit]) -> list[NewVisit]:
    """Of inserts that hit an existing ticket, those whose row is another visit.

    A retry of the same visit (same id) is fine: the row it wanted is there.
    """
    hashes = [w.ticket_hash for w in clashing]
    owner = dict(conn.execute(select(Visit.ticket_hash, Visit.id).where(Visit.ticket_hash.in_(hashes))).all())
    return [w for w in clashing if owner.get(w.ticket_hash) != w.id]


def _is_transient(exc: DBAPIError) -> bool:
    """PostgreSQL's deadlock_detected and serialization_failure: the same batch may succeed."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def _fail(pending: _Pending, error: Exception) -> None:
    if not pending.future.done():
        pending.future.set_exception(error)
