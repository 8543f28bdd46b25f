"""The SQL engine, the declarative base and the session dependency."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def naive_utc(value: datetime) -> datetime:
    """A point in time as naive UTC, the form stored in every database (a naive one is UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


class UTCDateTime(TypeDecorator):
    """A point in time stored as naive UTC, read back as an aware UTC datetime on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return naive_utc(value) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _tune_sqlite(dbapi_connection, _record) -> None:
    # WAL lets readers run beside the single writer; the busy timeout lets several worker
    # processes share one file instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def sync_sqlite_engine(engine: AsyncEngine) -> Engine:
    """The same SQLite file through the plain sqlite3 driver, for work done whole in a thread."""
    url = engine.url.set(drivername="sqlite")
    sync = create_engine(url)
    event.listen(sync, "connect", _tune_sqlite)
    return sync


def journal_engine(engine: AsyncEngine, connections: int) -> AsyncEngine:
    """The same PostgreSQL database for the journal's batches alone, on connections always busy.

    No ping before each batch and no rollback after it, and autocommit: a batch is one
    statement, atomic by itself (``Journal._apply``); each was a round trip of every batch.
    A batch whose connection broke is tried again on a new one (``Journal._commit_batch``).
    """
    return create_async_engine(engine.url, pool_size=connections, max_overflow=0,
                               pool_pre_ping=False, pool_reset_on_return=None,
                               isolation_level="AUTOCOMMIT")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def session_scope(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session
