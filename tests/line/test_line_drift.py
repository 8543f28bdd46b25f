"""`occupancy reconcile` compares each loaded waiting line in Redis with SQL (parties waiting,
places offered), reports the drift and loads the drifted lines again from SQL. The drift is made
with plain Redis commands (an entry deleted from the line, the places offered changed), the
command is the real CLI against the Redis and SQL the service runs on. On a single Redis and a
cluster, SQLite and PostgreSQL."""

import asyncio

from occupancy import redis_keys as keys
from occupancy.line import codes
from occupancy.line.drift import LineDrift, LineReconciler
from tests.line.test_line import check_in, check_out, claim, full_venue, join, status
from tests.redis_kinds import redis_kind  # noqa: F401
from tests.visits.test_reconcile_command import reconcile


async def test_reconcile_reports_a_drifted_line_and_loads_it_again_from_sql(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=2)
    other, other_signed, _ = await full_venue(client, make_venue, capacity=1)
    first, second, third = [await join(client, signed, 1) for _ in range(3)]
    await join(client, other_signed, 1)
    await check_out(client, tickets[0])
    await services.line.advance(venue.id)  # the first is offered 1 place
    reconciler = LineReconciler(services.line)
    assert [d for d in await reconciler.compare() if d.venue_id in (venue.id, other.id)] == []

    # Drift: the second party deleted from the Redis line, the places offered raised by hand.
    await services.redis.zrem(keys.line(venue.id), codes.digest(second["line"]))
    await services.redis.hincrby(keys.line_meta(venue.id), "offered", 1)
    assert [d for d in await reconciler.compare() if d.venue_id in (venue.id, other.id)] == [
        LineDrift(venue.id, "waiting", 1, 2), LineDrift(venue.id, "offered", 2, 1)]

    out = await asyncio.to_thread(reconcile, services.settings)

    assert "1 waiting lines loaded again from SQL" in out, out
    assert f"venue {venue.id} line, parties waiting: Redis had 1, SQL has 2" in out
    assert f"venue {venue.id} line, places offered: Redis had 2, SQL has 1" in out
    assert f"venue {other.id} line" not in out
    assert [d for d in await reconciler.compare() if d.venue_id in (venue.id, other.id)] == []
    # The line is SQL's again: the second is next, the offer stands and is claimed, the place
    # freed by a check-out goes to the second, not to a walk-in.
    assert (await status(client, second["line"]))["position"] == 1
    assert (await status(client, third["line"]))["position"] == 2
    assert (await claim(client, signed, first["line"])).status_code == 201
    await check_out(client, tickets[1])
    refused = await check_in(client, signed, 77)
    assert refused.json()["error"]["code"] == "line_waiting"
    await services.line.advance(venue.id)
    assert (await status(client, second["line"]))["state"] == "offered"
