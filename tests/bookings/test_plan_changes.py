"""A slot plan changed through one process is honoured at once by bookings made through another:
each process keeps the plans in a cache, checked by the booking script against the plan's version
in Redis (``bookings/plan_cache.py``). Two servers of one worker each on one Redis and one SQL
database, every booking right after the change's answer with no wait; and two services in this
process that hear no push at all (no subscriptions), so only the version can tell them, before
and after Redis lost its keys. On a single Redis and a cluster, SQLite and PostgreSQL."""

import asyncio

import httpx
import pytest
from redis.asyncio import RedisCluster

from occupancy.services import Services
from tests.bookings.helpers import booked_in_sql, booker, slot_key, tomorrow
from tests.conftest import LiveServer, app_client
from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)

STARTS = ["07:00", "09:00", "11:00"]


@pytest.fixture
async def servers(settings, services):
    """Two servers of one worker each (so each request's process is known), sharing the test's
    Redis and database."""
    started = await asyncio.gather(*(asyncio.to_thread(LiveServer(settings, workers=1).start)
                                     for _ in range(2)))
    yield started
    for server in started:
        await asyncio.to_thread(server.stop)
        print(server.errors())


def plan(capacity: int, starts: list[str] = STARTS) -> dict:
    return {"starts": starts, "slot_minutes": 120, "capacity": capacity, "per_phone": 1}


async def test_a_plan_changed_through_one_process_is_honoured_at_once_by_another(
    servers, services, make_venue, issue_token
):
    venue, signed = await make_venue(capacity=100, max_party=10)
    manager = await issue_token("manager", venue.id)
    phones = iter(range(10_000))
    slot = slot_key(tomorrow(), "07:00")

    async def put_plan(http: httpx.AsyncClient, body: dict) -> None:
        answer = await http.put(f"/api/venues/{venue.id}/slots", json=body, headers=manager)
        assert answer.status_code == 200, answer.text

    async def book(http: httpx.AsyncClient, slot: str, party: int) -> httpx.Response:
        return await http.post(f"/api/venues/{signed}/bookings",
                               json=booker(slot, next(phones), party_size=party))

    async with httpx.AsyncClient(base_url=servers[0].url, timeout=60) as a, \
            httpx.AsyncClient(base_url=servers[1].url, timeout=60) as b:
        await put_plan(a, plan(capacity=10))
        first = await book(b, slot, 2)  # b now holds the plan of 10 places
        assert first.status_code == 201, first.text
        booked = 2
        # Lowered to one place left, through one server; the other books at once, both ways.
        for changer, booker_http in [(a, b), (b, a)] * 3:
            await put_plan(changer, plan(capacity=booked + 1))
            too_many = await book(booker_http, slot, 2)
            assert too_many.status_code == 409, too_many.text
            assert too_many.json()["error"]["code"] == "slot_full"
            last = await book(booker_http, slot, 1)
            assert last.status_code == 201, last.text
            assert last.json()["free"] == 0
            booked += 1

        # A slot added, then removed, then the whole plan, each honoured by the other server.
        new_slot = slot_key(tomorrow(), "13:00")
        await put_plan(a, plan(capacity=booked + 1, starts=[*STARTS, "13:00"]))
        added = await book(b, new_slot, 1)
        assert added.status_code == 201, added.text
        await put_plan(b, plan(capacity=booked + 1))
        removed = await book(a, new_slot, 1)
        assert removed.status_code == 404, removed.text
        assert removed.json()["error"]["code"] == "unknown_slot"
        assert (await a.delete(f"/api/venues/{venue.id}/slots", headers=manager)).status_code == 204
        gone = await book(b, slot, 1)
        assert gone.status_code == 404, gone.text
        assert gone.json()["error"]["code"] == "no_slots"

    # SQL holds exactly the bookings acknowledged.
    assert await booked_in_sql(services, venue.id) == booked + 1


async def test_without_the_push_the_plan_version_alone_keeps_bookings_on_the_current_plan(
    settings, services, make_venue, issue_token
):
    venue, signed = await make_venue(capacity=100, max_party=10)
    manager = await issue_token("manager", venue.id)
    slot = slot_key(tomorrow(), "07:00")
    other = await Services.start(settings, background=False)  # no subscription: hears no push
    try:
        async with app_client(services) as a, app_client(other) as b:
            put = await a.put(f"/api/venues/{venue.id}/slots", json=plan(10), headers=manager)
            assert put.status_code == 200, put.text
            first = await b.post(f"/api/venues/{signed}/bookings", json=booker(slot, 1))
            assert first.status_code == 201, first.text  # b holds the plan of 10 places

            put = await a.put(f"/api/venues/{venue.id}/slots", json=plan(3), headers=manager)
            assert put.status_code == 200, put.text
            refused = await b.post(f"/api/venues/{signed}/bookings", json=booker(slot, 2))
            assert refused.json()["error"]["code"] == "slot_full", refused.text
            last = await b.post(f"/api/venues/{signed}/bookings",
                                json=booker(slot, 3, party_size=1))
            assert last.status_code == 201, last.text

            # Redis lost its keys (the versions too): b still books by the plan of 3 places...
            if isinstance(services.redis, RedisCluster):
                await services.redis.flushall(target_nodes=RedisCluster.PRIMARIES)
            else:
                await services.redis.flushall()
            await services.rebuilder.ensure(wait=30)
            full = await b.post(f"/api/venues/{signed}/bookings",
                                json=booker(slot, 4, party_size=1))
            assert full.json()["error"]["code"] == "slot_full", full.text
            # ... and by a plan changed after the loss.
            put = await a.put(f"/api/venues/{venue.id}/slots", json=plan(5), headers=manager)
            assert put.status_code == 200, put.text
            fits = await b.post(f"/api/venues/{signed}/bookings", json=booker(slot, 5))
            assert fits.status_code == 201, fits.text
            assert fits.json()["free"] == 0
    finally:
        await other.stop()
    assert await booked_in_sql(services, venue.id) == 5
