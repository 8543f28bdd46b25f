"""Cost of one SQL write of the journal on a grown SQLite table, by the layout of the visits table.

    uv run python -m loadtest.micro.sql_writes

Batches as the journal commits them at 10,000 venues (8 check-ins and 8 check-outs per
transaction, WAL, synchronous=NORMAL), after 300,000 past visits. Three layouts, alternating,
in one process: the fourth session's two changes one at a time (docs/benchmarks.md):

- before: random 128-bit visit ids, the open-visits index on (venue_id, checked_out_at);
- ordered ids: visit ids that start with the time (``new_visit_id``);
- now: ordered ids and the open-visits index on open visits only (migration 0003).

Figures: CPU and wall time per write (the write lock is held for the wall time).
"""

import os
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime

from occupancy.visits.service import new_visit_id

TABLE = """
CREATE TABLE venues (id INTEGER PRIMARY KEY);
CREATE TABLE visits (id VARCHAR(32) PRIMARY KEY, venue_id INTEGER REFERENCES venues(id),
  ticket_hash VARCHAR(64) UNIQUE, party_size INTEGER, checked_in_at DATETIME,
  checked_out_at DATETIME, checkout_reason VARCHAR(10), temperature FLOAT, kind VARCHAR(10),
  visitor_name VARCHAR(100), visitor_phone VARCHAR(20), visitor_email VARCHAR(254));
CREATE INDEX ix_visits_checked_in_at ON visits (checked_in_at);
"""
FULL_INDEX = "CREATE INDEX ix_visits_open ON visits (venue_id, checked_out_at)"
PARTIAL_INDEX = "CREATE INDEX ix_visits_open ON visits (venue_id) WHERE checked_out_at IS NULL"
INSERT = ("INSERT INTO visits (id, venue_id, ticket_hash, party_size, checked_in_at, kind,"
          " visitor_name, visitor_phone) VALUES (?, ?, ?, ?, ?, 'visitor', ?, ?) ON CONFLICT DO NOTHING")
CLOSE = ("UPDATE visits SET checked_out_at = ?, checkout_reason = 'visitor'"
         " WHERE ticket_hash = ? AND checked_out_at IS NULL")
LAYOUTS = {"before": (False, FULL_INDEX), "ordered ids": (True, FULL_INDEX),
           "now": (True, PARTIAL_INDEX)}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _visit(ordered: bool, venues: int) -> tuple:
    visit_id = new_visit_id() if ordered else os.urandom(16).hex()
    return (visit_id, random.randrange(venues), os.urandom(32).hex(), 2, _now(), "Budi Santoso",
            "081234567890")


def per_write(ordered: bool, index: str, venues: int = 10_000, past: int = 300_000,
              batches: int = 2000) -> tuple[float, float]:
    """(CPU, wall) microseconds per write."""
    folder = tempfile.mkdtemp(prefix="occ-sql-writes-")
    db = sqlite3.connect(os.path.join(folder, "visits.db"), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    db.executescript(TABLE + index + ";")
    db.executemany("INSERT INTO venues VALUES (?)", [(i,) for i in range(venues)])
    db.execute("BEGIN")
    db.executemany(INSERT, (_visit(ordered, venues) for _ in range(past)))
    db.execute("UPDATE visits SET checked_out_at = checked_in_at")  # history: all ended
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    inside: list[str] = []
    writes = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(batches):
        arrivals = [_visit(ordered, venues) for _ in range(8)]
        leaving = [inside.pop(random.randrange(len(inside))) for _ in range(8)] if len(inside) > 2000 else []
        db.execute("BEGIN")
        db.executemany(INSERT, arrivals)
        db.executemany(CLOSE, [(_now(), ticket) for ticket in leaving])
        db.execute("COMMIT")
        inside += [visit[2] for visit in arrivals]
        writes += len(arrivals) + len(leaving)
    db.close()
    return ((time.process_time() - cpu) / writes * 1e6, (time.perf_counter() - wall) / writes * 1e6)


def main(rounds: int = 2) -> None:
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in LAYOUTS}
    for _ in range(rounds):
        for name, (ordered, index) in LAYOUTS.items():
            figures[name].append(per_write(ordered, index))
    print("uv run python -m loadtest.micro.sql_writes  (10,000 venues, 300,000 past visits, SQLite WAL)")
    for name, runs in figures.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"{name:<12} {cpu:5.1f} us CPU, {wall:5.1f} us wall per write  "
              f"(runs: {', '.join(f'{c:.1f}/{w:.1f}' for c, w in runs)})")


if __name__ == "__main__":
    main()
