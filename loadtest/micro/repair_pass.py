"""CPU of one periodic repair pass (leases and drift, ``Repairer.run``) over a whole city.

    flock /tmp/bench.lock uv run python -m loadtest.micro.repair_pass --venues 10000

The pass runs every few seconds in one process whatever the load, so its cost grows with the
number of venues, not with check-ins; the peak harness counts it in each request's server CPU.
Here: a real Redis (or a local 3-master cluster, ``--redis cluster``) and SQLite, the venues
seeded as the peak harness seeds them (none with a visit open); the figure is this process's CPU
time per pass (Redis and SQLite's threads apart: Redis is another process).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from loadtest.peak.stack import OFFICE_PUBLIC_KEY, SECRET, BenchRedis, seed_venues
from occupancy import migrate
from occupancy.services import Services
from occupancy.settings import Settings


async def measure(database_url: str, redis_url: str, venues: int, passes: int) -> list[float]:
    settings = Settings(database_url=database_url, redis_url=redis_url, secret_key=SECRET,
                        health_office_public_key=OFFICE_PUBLIC_KEY, rebuild_grace_seconds=0)
    services = await Services.start(settings, background=False)
    try:
        assert (await services.repairer.run()).venues_repaired == 0  # warm: connections, caches
        cpu = []
        for _ in range(passes):
            started = time.process_time()
            done = await services.repairer.run()
            cpu.append((time.process_time() - started) * 1000)
            assert done.venues_repaired == 0 and done.orphans_released == 0, done
        return cpu
    finally:
        await services.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venues", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--redis", choices=("single", "cluster"), default="single")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="occ-repair-") as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'city.db'}"
        migrate.upgrade(database_url)
        redis = BenchRedis(args.redis).start()
        try:
            asyncio.run(seed_venues(database_url, redis.url, {"city": (args.venues, 60)}, redis.cluster))
            cpu = asyncio.run(measure(database_url, redis.url, args.venues, args.passes))
        finally:
            redis.stop()
    print(f"repair pass over {args.venues:,} venues ({args.redis} Redis): median "
          f"{statistics.median(cpu):.0f} ms CPU per pass ({' '.join(f'{c:.0f}' for c in cpu)})")


if __name__ == "__main__":
    main()
