"""A consistent copy of the database while the service runs: SQL is the truth, Redis is rebuilt
from it (docs/operations.md says how to restore)."""

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupFailed(Exception):
    pass


def backup(database_url: str, target: Path) -> None:
    """Write a copy of the database to ``target`` (a new file, readable by its owner only)."""
    if target.exists():
        raise BackupFailed(f"{target} exists: a backup never overwrites a file")
    url = make_url(database_url)
    # The copy holds sealed personal data and the audit log: its owner's only, from its first byte.
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite(url.database, target)
        else:
            _postgresql(url, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _sqlite(database: str, target: Path) -> None:
    # SQLite's online backup: a snapshot of one moment, while the service goes on writing.
    # sqlite3's own `with` only ends a transaction; closing() closes both files.
    with (contextlib.closing(sqlite3.connect(database)) as source,
          contextlib.closing(sqlite3.connect(target)) as copy):
        source.backup(copy)


def _postgresql(url, target: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if not pg_dump:
        raise BackupFailed("pg_dump is not installed here (Debian: postgresql-client)")
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # One transaction's snapshot, in pg_dump's custom format (pg_restore reads it).
    done = subprocess.run([pg_dump, "--format=custom", "--no-owner", f"--file={target}", plain],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {done.stderr.strip()}")
