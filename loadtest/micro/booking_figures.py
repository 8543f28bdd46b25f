"""Time of the booking figures managers and officials read (``bookings.summary.figures``): one
venue's day (the dashboard, on each booking notice) and the city's day (the city page, every 30 s).

    flock /tmp/bench.lock uv run python -m loadtest.micro.booking_figures --venues 100 --per-slot 20
    flock /tmp/bench.lock uv run python -m loadtest.micro.booking_figures \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Every venue is run by 48 half-hour slots, each with ``--per-slot`` bookings (some claimed,
expired, cancelled), on three days: the figures of the middle one are read. The database's
tables are dropped and made again (a throwaway database only); SQLite by default, in a temp file.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import occupancy.models  # noqa: F401  (every table)
from occupancy.bookings import summary
from occupancy.bookings.models import Booking
from occupancy.db import Base
from occupancy.venues.models import Venue

SLOTS = 48
DAY = date(2026, 12, 7)


def _rows(day: date, venues: int, per_slot: int) -> list[dict]:
    rows = []
    for venue in range(1, venues + 1):
        for s in range(SLOTS):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=30 * s)
            for n in range(per_slot):
                rows.append({
                    "id": uuid.uuid4().hex, "venue_id": venue,
                    "booking_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                    "slot": f"{day:%Y%m%d}-{start:%H%M}", "slot_starts_at": start,
                    "slot_ends_at": start + timedelta(minutes=30), "party_size": 1 + n % 4,
                    "booked_at": start - timedelta(hours=1),
                    "claimed_at": start if n % 3 == 0 else None,
                    "expired_at": start if n % 7 == 1 else None,
                    "cancelled_at": start if n % 11 == 2 else None})
    return rows


async def seed(engine, venues: int, per_slot: int) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(insert(Venue), [{"id": v, "code": f"v{v}", "name": f"Venue {v}",
                                            "capacity": 5000} for v in range(1, venues + 1)])
        for day in (DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)):
            rows = _rows(day, venues, per_slot)
            for i in range(0, len(rows), 5000):
                await conn.execute(insert(Booking), rows[i:i + 5000])
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE"))


async def main(database_url: str, venues: int, per_slot: int, reads: int) -> None:
    engine = create_async_engine(database_url)
    await seed(engine, venues, per_slot)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    print(f"{venues} venues x {SLOTS} slots x {per_slot} bookings a day, 3 days "
          f"({3 * venues * SLOTS * per_slot:,} rows), {engine.dialect.name}")
    for label, venue_ids in (("one venue's day", [venues // 2 or 1]),
                             ("the city's day", list(range(1, venues + 1)))):
        times = []
        for _ in range(reads):
            async with sessionmaker() as session:
                start = time.perf_counter()
                found = await summary.figures(session, DAY, DAY, venue_ids)
                times.append((time.perf_counter() - start) * 1000)
        print(f"{label}: {len(found)} slots, median {statistics.median(times):.1f} ms, "
              f"max {max(times):.1f} ms")
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a throwaway database (its tables are dropped)")
    parser.add_argument("--venues", type=int, default=100)
    parser.add_argument("--per-slot", type=int, default=20)
    parser.add_argument("--reads", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        asyncio.run(main(url, args.venues, args.per_slot, args.reads))
