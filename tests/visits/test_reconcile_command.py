"""`occupancy reconcile` against the Redis the service runs on (a single one, and a cluster)."""

import asyncio
import os
import subprocess
import sys

from occupancy import redis_keys as keys
from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)

from .helpers import check_in, live_count, open_people_in_sql


def reconcile(settings) -> str:
    env = dict(os.environ, OCCUPANCY_DATABASE_URL=settings.database_url,
               OCCUPANCY_REDIS_URL=settings.redis_url, OCCUPANCY_SECRET_KEY=settings.secret_key)
    done = subprocess.run([sys.executable, "-m", "occupancy.cli", "reconcile"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_reconcile_repairs_counts_that_drifted_on_every_node(services, make_venue):
    venues = [(await make_venue(capacity=50))[0] for _ in range(6)]
    for venue in venues:
        await check_in(services, venue, 3)
    # Wrong in both directions: one too high (would refuse people), one too low (would over-admit).
    await services.redis.set(keys.count(venues[0].id), 40)
    await services.redis.set(keys.count(venues[-1].id), 0)

    out = await asyncio.to_thread(reconcile, services.settings)

    assert "reconciled: 2 venues repaired" in out
    for venue in venues:
        assert await live_count(services, venue.id) == await open_people_in_sql(services, venue.id) == 3
