"""Rate limits in the check-in path, against the real Redis script: per client address at a venue
and per venue; a refused check-in is a 429 with Retry-After and changes nothing; a flood on one
venue leaves the others alone; door staff's walk-ins are not limited."""

import time

import httpx
import pytest

from occupancy.app import create_app

from .helpers import live_count, visitor

WINDOW = 3600


@pytest.fixture
def settings(settings):
    # Hour-long windows: the test never sees a window end (see ``not_near_a_window_end``).
    return settings.model_copy(update={"check_ins_per_address": 5, "check_ins_per_venue": 8,
                                       "rate_window_seconds": WINDOW})


@pytest.fixture
async def from_address(services):
    """An HTTP client to the app in this process, coming from ``address``."""
    app = create_app(services.settings)
    app.state.services = services
    clients = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(autouse=True)
def not_near_a_window_end():
    if WINDOW - time.time() % WINDOW < 60:
        time.sleep(WINDOW - time.time() % WINDOW + 1)


async def check_ins(client, code: str, times: int) -> list[httpx.Response]:
    return [await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
            for _ in range(times)]


async def test_one_address_is_limited_at_a_venue_and_not_elsewhere(services, make_venue,
                                                                  from_address):
    mall, mall_code = await make_venue(capacity=100)
    park, park_code = await make_venue(capacity=100)
    flooder, neighbour = from_address("10.0.0.1"), from_address("10.0.0.2")

    flood = await check_ins(flooder, mall_code, 7)
    refused = flood[-1]

    assert [r.status_code for r in flood] == [201] * 5 + [429] * 2
    assert refused.json()["error"]["code"] == "too_many_check_ins"
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW
    assert refused.json()["error"]["retry_after_seconds"] == int(refused.headers["retry-after"])
    assert await live_count(services, mall.id) == 5  # the refused ones changed nothing
    assert [r.status_code for r in await check_ins(neighbour, mall_code, 1)] == [201]
    assert [r.status_code for r in await check_ins(flooder, park_code, 1)] == [201]
    assert await live_count(services, park.id) == 1


async def test_a_venue_is_limited_in_all_and_the_others_are_not(services, make_venue,
                                                               from_address, issue_token):
    mall, mall_code = await make_venue(capacity=100)
    _, park_code = await make_venue(capacity=100)
    answers = []
    for n in range(4):
        answers += await check_ins(from_address(f"10.0.1.{n}"), mall_code, 3)

    assert [r.status_code for r in answers].count(201) == 8
    assert [r.status_code for r in answers].count(429) == 4
    assert await live_count(services, mall.id) == 8
    assert [r.status_code for r in await check_ins(from_address("10.0.2.1"), park_code, 3)] == [201] * 3
    # Door staff counting people in at the door are not limited.
    staff = await issue_token("staff", mall.id)
    walk_in = await from_address("10.0.1.0").post(f"/api/venues/{mall.id}/walk-ins",
                                                   json={"delta": 1}, headers=staff)
    assert walk_in.status_code == 200 and await live_count(services, mall.id) == 9


async def test_a_retry_of_an_admitted_check_in_is_answered_even_past_the_limit(make_venue,
                                                                              from_address):
    _, code = await make_venue(capacity=100)
    client = from_address("10.0.3.1")
    first = await client.post(f"/api/venues/{code}/check-ins", json=visitor(),
                              headers={"Idempotency-Key": "retry-me-0001-abcdef"})
    await check_ins(client, code, 6)  # the address is over its limit now
    again = await client.post(f"/api/venues/{code}/check-ins", json=visitor(),
                              headers={"Idempotency-Key": "retry-me-0001-abcdef"})
    assert first.status_code == 201
    assert again.status_code == 200 and again.json()["ticket"] == first.json()["ticket"]
