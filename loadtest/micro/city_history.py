"""Time of the city's history of bookings and waiting lines (``city.booking_history`` and
``city.line_history``), read by the officials' page for the period chosen (a week by default):
one day, a week and a month, side by side with today's bookings of the city (``city/bookings``).

    flock /tmp/bench.lock timeout 900 uv run python -m loadtest.micro.city_history
    flock /tmp/bench.lock timeout 900 uv run python -m loadtest.micro.city_history \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

``--venues`` venues in 10 districts and 5 categories, each run by 48 half-hour slots with
``--per-slot`` bookings (some claimed, expired, cancelled), and ``--lines`` of them with
``--joins`` parties a day in their waiting line (offered after 2-20 minutes, most claimed,
some passed or left), on ``--days`` days. The database's tables are dropped and made again (a
throwaway database only); SQLite by default, in a temp file.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import occupancy.models  # noqa: F401  (every table)
from loadtest.micro.booking_figures import _rows as booking_rows
from occupancy.bookings import summary
from occupancy.bookings.models import Booking
from occupancy.city import booking_history, line_history
from occupancy.db import Base
from occupancy.line.models import LineEntry
from occupancy.stats.history import Period
from occupancy.venues.models import Venue

TZ = ZoneInfo("Asia/Jakarta")
LAST = date(2026, 12, 7)


def line_rows(day: date, venues: int, joins: int, seq: int) -> list[dict]:
    rows = []
    opens = datetime(day.year, day.month, day.day, 9, tzinfo=TZ).astimezone(UTC)
    for venue in range(1, venues + 1):
        for n in range(joins):
            joined = opens + timedelta(minutes=600 * n / joins)
            offered = joined + timedelta(minutes=2 + n % 19)
            end = offered + timedelta(minutes=1)
            state = "left" if n % 10 == 3 else "passed" if n % 10 == 7 else "claimed"
            key = uuid.uuid4().hex
            rows.append({"id": key, "venue_id": venue, "entry_hash": key * 2, "party_size": 2,
                         "seq": seq + n, "joined_at": joined,
                         "offered_at": None if state == "left" else offered,
                         "offer_until": None if state == "left" else offered + timedelta(minutes=5),
                         "claimed_at": end if state == "claimed" else None,
                         "passed_at": end if state == "passed" else None,
                         "left_at": end if state == "left" else None})
    return rows


async def seed(engine, args) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(insert(Venue), [{
            "id": v, "code": f"v{v}", "name": f"Venue {v}", "capacity": 5000,
            "district": f"District {v % 10}", "category": ("mall", "park", "market", "station",
                                                           "office")[v % 5]}
            for v in range(1, args.venues + 1)])
        for back in range(args.days):
            day = LAST - timedelta(days=back)
            for rows in (booking_rows(day, args.venues, args.per_slot),
                         line_rows(day, args.lines, args.joins, back * args.joins)):
                for i in range(0, len(rows), 5000):
                    await conn.execute(insert(Booking if "slot" in rows[0] else LineEntry),
                                       rows[i:i + 5000])
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE"))


async def timed(sessionmaker, reads: int, read) -> tuple[float, float]:
    times = []
    for _ in range(reads):
        async with sessionmaker() as session:
            start = time.perf_counter()
            await read(session)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


async def main(database_url: str, args) -> None:
    engine = create_async_engine(database_url)
    await seed(engine, args)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    print(f"{engine.dialect.name}: {args.venues} venues x 48 slots x {args.per_slot} bookings "
          f"and {args.lines} lines x {args.joins} parties a day, {args.days} days "
          f"({args.days * args.venues * 48 * args.per_slot:,} bookings, "
          f"{args.days * args.lines * args.joins:,} line entries); {args.reads} reads each")
    venue_ids = list(range(1, args.venues + 1))
    base, _ = await timed(sessionmaker, args.reads,
                          lambda s: summary.figures(s, LAST, LAST, venue_ids))
    print(f"today's city bookings (the live table, for scale): median {base:.1f} ms")
    now = datetime(LAST.year, LAST.month, LAST.day, 23, tzinfo=TZ)
    for days in (1, 7, 30):
        period = Period(LAST - timedelta(days=days - 1), LAST, "day")
        for label, read in (
                ("bookings history", lambda s, p=period: booking_history.cells(s, p)),
                ("lines history", lambda s, p=period: line_history.cells(s, p, TZ, now))):
            median, worst = await timed(sessionmaker, args.reads, read)
            print(f"{label}, {days:2d} days: median {median:7.1f} ms, max {worst:7.1f} ms "
                  f"({median / base:.1f}x today's city bookings)")
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a throwaway database (its tables are dropped)")
    parser.add_argument("--venues", type=int, default=100)
    parser.add_argument("--per-slot", type=int, default=5)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--joins", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--reads", type=int, default=7)
    args = parser.parse_args()
    args.lines = min(args.lines, args.venues)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        asyncio.run(main(url, args))
