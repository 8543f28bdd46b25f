"""CPU of one journal batch on SQLite in the journal's thread: through SQLAlchemy's execution
(``apply_writes``, before) and as plain SQL over tuples (``SqliteWrites``, in use), alternating in
one process so that machine noise hits both alike.

    uv run python -m loadtest.micro.journal_batch

Each batch: 8 check-ins (sealed personal data, phone index) and the 8 check-outs of the batch
before, as at 100 busy venues; synchronous=NORMAL, so the figure is CPU, not the disk's sync.
"""

import asyncio
import os
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, insert

import occupancy.bookings.models  # noqa: F401 (all tables are created)
from occupancy.db import Base, make_engine
from occupancy.venues.models import Venue
from occupancy.visits.journal import Journal
from occupancy.visits.writes import NewVisit, VisitClosed

BATCHES = 1500


def batch(closing: list[str]) -> list:
    now = datetime.now(UTC)
    writes = [NewVisit(id=secrets.token_hex(16), venue_id=1, ticket_hash=secrets.token_hex(32),
                       party_size=2, checked_in_at=now, personal=secrets.token_bytes(120),
                       personal_key_id="k1", phone_index=secrets.token_hex(16)) for _ in range(8)]
    writes += [VisitClosed(ticket_hash=t, checked_out_at=now, checkout_reason="visitor") for t in closing]
    return sorted(writes, key=lambda w: w.ticket_hash)  # as the journal orders them


async def main(folder: str) -> None:
    setup = create_engine(f"sqlite:///{folder}/bench.db")
    Base.metadata.create_all(setup)
    with setup.begin() as conn:  # the venue the visits belong to
        conn.execute(insert(Venue).values(id=1, code="v", name="V", capacity=10))
    setup.dispose()
    journal = Journal(make_engine(f"sqlite+aiosqlite:///{folder}/bench.db"))

    def sqlalchemy_path(writes: list) -> list:
        with journal._sync_engine.begin() as conn:
            return journal._apply_sync(conn, writes)

    paths = {"SQLAlchemy (apply_writes)": sqlalchemy_path,
             "plain SQL (SqliteWrites)": journal._apply_in_thread}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    open_tickets: dict[str, list[str]] = {name: [] for name in paths}
    for _ in range(BATCHES):
        for name, apply in paths.items():
            writes = batch(open_tickets[name])
            open_tickets[name] = [w.ticket_hash for w in writes if isinstance(w, NewVisit)]
            started = time.thread_time()
            assert apply(writes) == []
            cpu[name].append(time.thread_time() - started)
    for name, values in cpu.items():
        print(f"{name:<28} median {statistics.median(values[100:]) * 1e6:5.0f} us CPU per batch "
              "of 8 check-ins + 8 check-outs")


if __name__ == "__main__":
    os.environ.setdefault("OCCUPANCY_SQLITE_SYNCHRONOUS", "NORMAL")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
