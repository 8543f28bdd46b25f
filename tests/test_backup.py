"""`occupancy db backup` while check-ins go on: the copy restores into a working database that
holds every visit acknowledged before the backup began, on SQLite and PostgreSQL."""

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from occupancy.backup import BackupFailed, backup
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.visits.helpers import visitor


async def _visit_ids(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        ids = set((await conn.execute(text("SELECT id FROM visits"))).scalars())
        [version] = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
    await engine.dispose()
    assert version  # the schema came along
    return ids


@contextlib.asynccontextmanager
async def _restored(database_url: str, copy):
    """The backup restored where the service could use it; its URL."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{copy}"
        return
    url, name = await _create_postgres_database()
    plain = url.replace("postgresql+asyncpg", "postgresql")
    done = subprocess.run(["pg_restore", "--no-owner", "--dbname", plain, str(copy)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


async def test_a_backup_taken_under_load_restores_every_acknowledged_visit(
    client, services, make_venue, tmp_path
):
    _, code = await make_venue(capacity=100_000)

    async def check_in() -> str:
        response = await client.post(f"/api/venues/{code}/check-ins", json=visitor())
        assert response.status_code == 201, response.text
        return response.json()["visit_id"]

    before = {await check_in() for _ in range(20)}
    going_on = True

    async def keep_checking_in() -> None:
        while going_on:
            await check_in()

    writers = [asyncio.create_task(keep_checking_in()) for _ in range(4)]
    copy = tmp_path / f"backup-{uuid.uuid4().hex[:6]}.db"
    await asyncio.to_thread(backup, services.settings.database_url, copy)
    going_on = False
    await asyncio.gather(*writers)

    assert copy.stat().st_mode & 0o777 == 0o600  # sealed personal data and the audit log
    async with _restored(services.settings.database_url, copy) as restored:
        assert before <= await _visit_ids(restored)
    with pytest.raises(BackupFailed, match="never overwrites"):
        backup(services.settings.database_url, copy)


def test_the_command_on_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
    run = [sys.executable, "-m", "occupancy.cli"]
    subprocess.run([*run, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True)
    done = subprocess.run([*run, "db", "backup", "copy.db"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "backed up to copy.db" in done.stdout, done.stderr
    again = subprocess.run([*run, "db", "backup", "copy.db"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 1 and "never overwrites" in again.stderr
    assert "Traceback" not in again.stderr
