"""Where a booking's time goes: SQL statements and Redis commands per booking, and the server's
CPU per booking in crowds, through the real route (the app in this process, real Redis, real SQL).

    flock /tmp/bench.lock uv run python -m loadtest.micro.booking_path
    flock /tmp/bench.lock uv run python -m loadtest.micro.booking_path \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    ... --profile   # cProfile of the crowds, the top functions by own time

Each round is ``--width`` concurrent bookings of slots of tomorrow at ``--venues`` venues; the
figures are this process's CPU time per booking (the app and its clients: Redis and PostgreSQL
are other processes) and bookings per second of wall time, medians of the rounds. To compare two
versions of the code, run this file in each tree in turn, alternating (docs/benchmarks.md).
"""

import argparse
import asyncio
import cProfile
import itertools
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

from occupancy import migrate
from occupancy.accounts.service import issue_token
from occupancy.app import create_app
from occupancy.embedded_redis import EmbeddedRedis
from occupancy.privacy.sealing import new_key_pair
from occupancy.services import Services
from occupancy.settings import Settings
from occupancy.venues import service as venue_service
from occupancy.venues import signing

SECRET = "bench-secret"
# httpx's ASGI transport tries `import trio` on every request (about 0.8 ms of the client's CPU
# when trio is absent): mark it absent once, so the figures are the server's.
sys.modules.setdefault("trio", None)
STARTS = [f"{h:02d}:00" for h in range(6, 22)]


class Counter:
    """SQL statements sent by any engine of this process (the journal's too)."""

    def __init__(self) -> None:
        self.statements = 0
        event.listen(Engine, "before_cursor_execute", self._count)

    def _count(self, *_) -> None:
        self.statements += 1


class Phases:
    """Wall time of each step a booking awaits (the calls wrapped on the services), in crowds."""

    def __init__(self, services: Services) -> None:
        self.ms: dict[str, list[float]] = {}
        bookings = services.bookings
        for name, owner, attribute in (
                ("slot plan", bookings, "plan"), ("plan cache", bookings, "plans"),
                ("book.lua", bookings.store, "book"), ("seal", bookings.sealer, "seal"),
                ("journal (group commit)", bookings.journal, "write")):
            call = getattr(owner, attribute, None)
            if callable(call) and asyncio.iscoroutinefunction(call):
                setattr(owner, attribute, self._timed(name, call))

    def _timed(self, name, call):
        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.ms.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return timed

    def report(self) -> str:
        return "; ".join(f"{name} p50 {statistics.median(ms):.1f} ms p99 "
                         f"{statistics.quantiles(ms, n=100)[98]:.1f} ms"
                         for name, ms in self.ms.items() if len(ms) > 1)


async def redis_commands(services: Services) -> dict[str, int]:
    stats = await services.redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def setup(services: Services, venues: int) -> list[str]:
    signed = []
    for n in range(venues):
        async with services.sessionmaker() as session:
            venue = await venue_service.create_venue(
                session, code=f"bench-{n}", name=f"Bench {n}", capacity=100_000, max_party=10)
            await venue_service.push_config(services.redis, venue, new=True)
        signed.append((venue.id, signing.sign(SECRET, venue.code)))
    return signed


async def main(args: argparse.Namespace) -> None:
    redis = EmbeddedRedis().start()
    tmp = tempfile.TemporaryDirectory()
    database_url = args.database_url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    pg_name = None
    if database_url.startswith("postgresql"):
        pg_name = f"occ_bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        await admin.dispose()
        database_url = database_url.rsplit("/", 1)[0] + f"/{pg_name}"
    try:
        await asyncio.to_thread(migrate.upgrade, database_url)
        settings = Settings(database_url=database_url, redis_url=redis.url, secret_key=SECRET,
                            health_office_public_key=new_key_pair()[0],
                            check_ins_per_address=0, check_ins_per_venue=0)
        services = await Services.start(settings, background=False)
        try:
            await measure(services, args)
        finally:
            await services.stop()
    finally:
        redis.stop()
        if pg_name:
            admin = create_async_engine(args.database_url, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            await admin.dispose()
        tmp.cleanup()


async def measure(services: Services, args: argparse.Namespace) -> None:
    venues = await setup(services, args.venues)
    app = create_app(services.settings)
    app.state.services = services
    tz = ZoneInfo(services.settings.timezone)
    day = f"{datetime.now(UTC).astimezone(tz) + timedelta(days=1):%Y%m%d}"
    phones = itertools.count()
    counter = Counter()

    async def book(http: httpx.AsyncClient, n: int) -> None:
        start = STARTS[n % len(STARTS)].replace(":", "")
        answer = await http.post(f"/api/venues/{venues[n % len(venues)][1]}/bookings", json={
            "slot": f"{day}-{start}", "name": "Bench Booker", "party_size": 1 + n % 3,
            "phone": f"0812 {n // 10000 % 10000:04d} {n % 10000:04d}"})
        assert answer.status_code == 201, answer.text

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        plan = {"starts": STARTS, "slot_minutes": 60, "capacity": 100_000, "per_phone": 1,
                "days_ahead": 2}
        for venue_id, _ in venues:  # through the manager's route, as a manager sets a plan
            async with services.sessionmaker() as session:
                token = await issue_token(session, "manager", venue_id)
            answer = await http.put(f"/api/venues/{venue_id}/slots", json=plan,
                                    headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
        for _ in range(2 * args.venues):  # warm up: every venue's day loaded, the data key made
            await book(http, next(phones))
        print(f"{services.engine.dialect.name}, {args.venues} venues, crowds of {args.width}, "
              f"{args.rounds} rounds")
        sql, redis = counter.statements, await redis_commands(services)
        for _ in range(args.alone):  # one booking at a time: what each costs
            await book(http, next(phones))
        await asyncio.sleep(0.05)  # the confirmations posted after the answers
        sql = (counter.statements - sql) / args.alone
        after = await redis_commands(services)
        per = {cmd: (after[cmd] - redis.get(cmd, 0)) / args.alone for cmd in after
               if after[cmd] != redis.get(cmd, 0) and cmd != "info"}
        print(f"  per booking: {sql:.2f} SQL statements (the journal's included); Redis "
              f"{', '.join(f'{c} {v:.2f}' for c, v in sorted(per.items()))}")
        cpu, rate, phases = [], [], Phases(services)
        profiler = cProfile.Profile() if args.profile else None
        for _ in range(args.rounds):
            if profiler:
                profiler.enable()
            wall, proc = time.perf_counter(), time.process_time()
            await asyncio.gather(*(book(http, next(phones)) for _ in range(args.width)))
            proc, wall = time.process_time() - proc, time.perf_counter() - wall
            if profiler:
                profiler.disable()
            cpu.append(proc / args.width * 1e6)
            rate.append(args.width / wall)
        print(f"  crowds: CPU per booking median {statistics.median(cpu):,.0f} us, "
              f"{statistics.median(rate):,.0f} bookings/s")
        print(f"  each step's wall time in the crowds: {phases.report()}")
        if profiler:
            profiler.dump_stats(args.profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (a throwaway "
                        "database is made on it); SQLite in a temp file by default")
    parser.add_argument("--venues", type=int, default=20)
    parser.add_argument("--width", type=int, default=64, help="bookings at once in a round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--alone", type=int, default=50, help="bookings one at a time, counted")
    parser.add_argument("--profile", default="", help="a file: cProfile the crowds into it, "
                        "print the top functions by own time")
    asyncio.run(main(parser.parse_args()))
