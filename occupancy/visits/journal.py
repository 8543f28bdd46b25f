"""Group commit: the SQL writes (``writes``) of concurrent requests go out in one transaction.

A request hands its row to the journal and awaits the commit that contains it; while a batch
commits, the next one gathers. Durability costs one commit per batch instead of one per request.
If a batch fails, its writes are retried one by one so only the faulty ones fail.

A batch is one plain function on a synchronous connection (``apply_writes``). On SQLite it runs
whole in the journal's own thread, as plain SQL over tuples (``SqliteWrites``): a transaction that
awaited the busy event loop between its statements held the database's single write lock for
~13 ms a batch, and the other worker process slept in SQLite's busy handler meanwhile. On
PostgreSQL it runs through SQLAlchemy's ``run_sync`` on asyncpg, and up to ``overlap`` batches
commit at once on separate connections.
Batches never depend on each other: a row is only changed after its insert was acknowledged.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from occupancy import metrics
from occupancy.db import journal_engine, sync_sqlite_engine
from occupancy.visits.models import Visit
from occupancy.visits.writes import (
    PG_BATCH,
    NewVisit,
    SqliteWrites,
    Write,
    apply_writes,
    changes_a_visit_twice,
    other_visits,
    pg_batch_arguments,
)

log = logging.getLogger(__name__)


class TicketConflict(Exception):
    """The ticket already belongs to another visit (an idempotency key used twice)."""


@dataclass(frozen=True)
class WriteKind:
    """Another domain's writes (bookings, the waiting line) in the same group commit as visits'.

    Given to the journal by the services, so that visits need not know those domains.
    """

    owns: Callable[[object], bool]
    # Executes a batch's writes of this kind in the transaction; returns the new rows that clash.
    apply: Callable[[Connection, list], list]


@dataclass
class _Pending:
    write: Write
    future: asyncio.Future = field(repr=False)


class Journal:
    def __init__(self, engine: AsyncEngine, batch_max: int = 500, overlap: int = 3,
                 kinds: tuple[WriteKind, ...] = ()) -> None:
        self.engine = engine
        self.batch_max = batch_max
        self.kinds = kinds
        sqlite = engine.dialect.name == "sqlite"
        insert = (sqlite_insert if sqlite else pg_insert)(Visit).on_conflict_do_nothing()
        # SQLite (plain sqlite3 in the journal's thread) counts the rows an executemany inserted;
        # asyncpg does not, so there the insert returns the tickets it wrote.
        self._insert = insert if sqlite else insert.returning(Visit.ticket_hash)
        # SQLite has one writer at a time anyway: one batch, in one thread, start to commit.
        self._slots = asyncio.Semaphore(1 if sqlite else overlap)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="journal") if sqlite else None
        self._sync_engine = sync_sqlite_engine(engine) if sqlite else None
        self._sqlite = SqliteWrites(self._sync_engine.dialect) if sqlite else None
        self._batch_engine = None if sqlite else journal_engine(engine, overlap)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._committing: set[asyncio.Task] = set()

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
        # Rare: one statement could apply only one of two changes of a visit; bookings (far fewer
        # than check-ins) are not in that statement.
        if changes_a_visit_twice(writes) or self._has_other_kinds(writes):
            async with self.engine.begin() as conn:
                return await conn.run_sync(self._apply_sync, writes)
        async with self._batch_engine.connect() as conn:  # autocommit: the statement is atomic
            result = await conn.exec_driver_sql(PG_BATCH, pg_batch_arguments(writes))
            inserted = set(result.scalars())
            clashing = [w for w in writes if isinstance(w, NewVisit) and w.ticket_hash not in inserted]
            return await conn.run_sync(other_visits, clashing) if clashing else []

    def _apply_in_thread(self, writes: list[Write]) -> list[Write]:
        with self._sync_engine.begin() as conn:
            if self._has_other_kinds(writes):  # rare: the fast path knows visits only
                return self._apply_sync(conn, writes)
            return self._sqlite.apply(conn, writes)

    def _has_other_kinds(self, writes: list[Write]) -> bool:
        return any(kind.owns(w) for kind in self.kinds for w in writes)

    def _apply_sync(self, conn, writes: list) -> list:
        """Visits' and the other kinds' writes in one transaction; the new rows that clash."""
        if not self._has_other_kinds(writes):
            return apply_writes(conn, self._insert, writes)
        others = {kind: [w for w in writes if kind.owns(w)] for kind in self.kinds}
        visits = [w for w in writes if not any(kind.owns(w) for kind in self.kinds)]
        conflicts = apply_writes(conn, self._insert, visits) if visits else []
        for kind, theirs in others.items():
            if theirs:
                conflicts += kind.apply(conn, theirs)
        return conflicts


def _is_transient(exc: DBAPIError) -> bool:
    """PostgreSQL's deadlock_detected and serialization_failure: the same batch may succeed."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def _fail(pending: _Pending, error: Exception) -> None:
    if not pending.future.done():
        pending.future.set_exception(error)
