"""The SQL engine, the declarative base and the session dependency."""

import os
import weakref
from datetime import UTC, datetime

from sqlalchemy import URL, DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from occupancy.settings import Settings, get_settings

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


# The settings each engine was made with, for the engines made from it.
_SETTINGS: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()


def _sqlite_tuner(settings: Settings):
    synchronous = settings.sqlite_synchronous
    busy_ms = int(settings.sql_timeout_seconds * 1000)

    def tune(dbapi_connection, _record) -> None:
        # WAL lets readers run beside the single writer; the busy timeout lets several worker
        # processes share one file instead of failing with "database is locked", and bounds
        # the wait for the write lock. synchronous: see Settings.sqlite_synchronous.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return tune


def _connect_args(url: URL, settings: Settings) -> dict:
    """The driver's own timeouts: connecting and each statement (asyncpg, psycopg)."""
    if url.drivername.endswith("+asyncpg"):
        return {"timeout": settings.sql_connect_timeout_seconds,
                "command_timeout": settings.sql_timeout_seconds}
    if url.drivername.endswith("+psycopg"):
        return {"connect_timeout": max(1, round(settings.sql_connect_timeout_seconds)),
                "options": f"-c statement_timeout={int(settings.sql_timeout_seconds * 1000)}"}
    return {}


def make_engine(url: str, settings: Settings | None = None) -> AsyncEngine:
    """The engine for ``url``, every call bounded by ``settings``' SQL timeouts."""
    settings = settings or get_settings()
    if url.startswith("sqlite"):
        owner_only(url)
        # aiosqlite's own timeout is sqlite3's: the wait for a lock (as busy_timeout).
        pooled = {} if ":memory:" in url else {"pool_timeout": settings.sql_pool_timeout_seconds}
        engine = create_async_engine(
            url, connect_args={"timeout": settings.sql_timeout_seconds}, **pooled)
        event.listen(engine.sync_engine, "connect", _sqlite_tuner(settings))
        _SETTINGS[engine.sync_engine] = settings  # for sync_sqlite_engine
        return engine
    engine = create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True,
        pool_timeout=settings.sql_pool_timeout_seconds,
        connect_args=_connect_args(make_url(url), settings))
    _SETTINGS[engine.sync_engine] = settings  # for journal_engine
    return engine


def owner_only(url: str) -> None:
    """Make the SQLite file readable by its owner only, creating it so if it is new: it holds
    visits (and sealed personal data). SQLite gives its -wal and -shm files the same mode."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    os.close(os.open(database, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(database, 0o600)


def _settings_of(engine: AsyncEngine) -> Settings:
    return _SETTINGS.get(engine.sync_engine) or get_settings()


def sync_sqlite_engine(engine: AsyncEngine) -> Engine:
    """The same SQLite file through the plain sqlite3 driver, for work done whole in a thread."""
    settings = _settings_of(engine)
    url = engine.url.set(drivername="sqlite")
    sync = create_engine(url, pool_timeout=settings.sql_pool_timeout_seconds,
                         connect_args={"timeout": settings.sql_timeout_seconds})
    event.listen(sync, "connect", _sqlite_tuner(settings))
    return sync


def journal_engine(engine: AsyncEngine, connections: int) -> AsyncEngine:
    """The same PostgreSQL database for the journal's batches alone, on connections always busy.

    No ping before each batch and no rollback after it, and autocommit: a batch is one
    statement, atomic by itself (``Journal._apply``); each was a round trip of every batch.
    A batch whose connection broke is tried again on a new one (``Journal._commit_batch``).
    The same timeouts as ``engine``.
    """
    settings = _settings_of(engine)
    return create_async_engine(engine.url, pool_size=connections, max_overflow=0,
                               pool_pre_ping=False, pool_reset_on_return=None,
                               isolation_level="AUTOCOMMIT",
                               pool_timeout=settings.sql_pool_timeout_seconds,
                               connect_args=_connect_args(engine.url, settings))


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)

