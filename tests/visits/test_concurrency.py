"""A crowd at the door: thousands of simultaneous check-ins through real uvicorn workers."""

import asyncio
import random

import httpx

from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)

from ..crowd import crowd
from .helpers import live_count, open_people_in_sql, visit_rows, visitor

CROWD = 2000
CAPACITY = 100


async def _post_all(base_url: str, requests: list[tuple[str, dict | None]]):
    return await crowd(base_url, [("POST", path, body) for path, body in requests])


async def test_capacity_holds_under_2000_simultaneous_mixed_parties(
    live_server, services, make_venue
):
    venue, code = await make_venue(capacity=CAPACITY, max_party=6)
    rng = random.Random(7)
    parties = [rng.choice([1, 1, 2, 2, 3, 4, 5, 6]) for _ in range(CROWD)]
    peak = 0
    done = asyncio.Event()

    async def watch():  # the count seen from outside never exceeds the capacity
        nonlocal peak
        async with httpx.AsyncClient(base_url=live_server.url, timeout=120) as http:
            while not done.is_set():
                peak = max(peak, (await http.get(f"/api/venues/{code}/occupancy")).json()["count"])
                await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    responses = await _post_all(
        live_server.url,
        [(f"/api/venues/{code}/check-ins", visitor(party_size=p)) for p in parties],
    )
    done.set()
    await watcher

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, set(statuses)
    admitted = [p for p, r in zip(parties, responses, strict=True) if r.status_code == 201]
    refused = [p for p, r in zip(parties, responses, strict=True) if r.status_code == 409]
    assert all(r.json()["error"]["code"] == "venue_full" for r in responses if r.status_code == 409)
    assert sum(admitted) <= CAPACITY and peak <= CAPACITY
    # Admitted parties fill exactly what fits: no refused party would have fitted at the end.
    assert sum(admitted) + min(refused) > CAPACITY
    assert await live_count(services, venue.id) == sum(admitted)
    assert await open_people_in_sql(services, venue.id) == sum(admitted)
    assert len(await visit_rows(services, venue.id)) == len(admitted)

    tickets = [r.json()["ticket"] for r in responses if r.status_code == 201]
    # Everyone leaves at once, and every check-out is sent twice (a retry): released once each.
    checkouts = await _post_all(
        live_server.url, [(f"/api/tickets/{t}/check-out", None) for t in tickets] * 2
    )
    assert all(r.status_code == 200 for r in checkouts)
    assert await live_count(services, venue.id) == 0
    assert await open_people_in_sql(services, venue.id) == 0


async def test_stopping_the_server_under_load_loses_no_acknowledged_check_in(
    live_server, services, make_venue
):
    venue, code = await make_venue(capacity=100_000)
    limits = httpx.Limits(max_connections=50)
    acknowledged: list[str] = []

    async def shopper(http: httpx.AsyncClient):
        while True:
            try:
                response = await http.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
            except httpx.HTTPError:
                return
            if response.status_code == 201:
                acknowledged.append(response.json()["visit_id"])

    async with httpx.AsyncClient(base_url=live_server.url, limits=limits, timeout=30) as http:
        shoppers = [asyncio.create_task(shopper(http)) for _ in range(50)]
        # Stop once the load is well under way (on a busy machine the first answers take a while).
        deadline = asyncio.get_running_loop().time() + 60
        while len(acknowledged) <= 100 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.to_thread(live_server.stop)  # SIGTERM: drain in-flight requests and SQL
        await asyncio.gather(*shoppers)

    assert len(acknowledged) > 50
    in_sql = {row.id for row in await visit_rows(services, venue.id)}
    assert set(acknowledged) <= in_sql
