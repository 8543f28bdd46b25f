"""Alembic environment: async engine, URL from the caller or from occupancy's settings."""

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from occupancy.db import UTCDateTime
from occupancy.models import Base
from occupancy.settings import get_settings

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def render_item(type_: str, obj, autogen_context):
    """Migrations name plain SQLAlchemy types, not occupancy's decorators."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def configure(**kwargs) -> None:
    # SQLite cannot ALTER most things in place: batch mode rebuilds tables instead.
    render_as_batch = database_url().startswith("sqlite")
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=render_as_batch,
        render_item=render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


# Any fixed number: every host's `occupancy serve` (or `db upgrade`) takes the same lock.
MIGRATION_LOCK = 0x6F6363  # "occ"


def do_run_migrations(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Hosts starting together upgrade one at a time: the others wait here, then find the
            # schema at head (alembic reads the version after this) and do nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
