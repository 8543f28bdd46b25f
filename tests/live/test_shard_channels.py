"""Venue events on a Redis Cluster travel on shard channels: published on the venue's master
(SPUBLISH), subscribed there (SSUBSCRIBE), not broadcast to every node. The city view, which
cannot use a pattern on shard channels, still hears every venue, new ones and after a failover."""

import asyncio
import time
from collections import Counter

import pytest

from occupancy import redis_keys as keys
from occupancy.live.hub import CITY, VENUE
from occupancy.live.subscriptions import ALL_VENUES, Subscriptions
from tests.live.test_hub import ReadingClient, make_hub
from tests.visits.helpers import check_in


@pytest.fixture
def redis_kind() -> str:
    return "cluster"


@pytest.fixture
def empty_database_url(sqlite_database_url):
    return sqlite_database_url


@pytest.fixture
async def hub(services):
    hub = make_hub(services, rate=50)
    await hub.start()
    yield hub
    await hub.stop()


async def shard_channels(node) -> set[bytes]:
    return set(await node.execute_command("PUBSUB", "SHARDCHANNELS"))


async def plain_channels(node) -> set[bytes]:
    return set(await node.execute_command("PUBSUB", "CHANNELS"))


async def test_a_venue_is_heard_on_its_shard_channel_on_its_own_master(services, make_venue, hub):
    venue, _ = await make_venue(capacity=10)
    channel = keys.venue_channel(venue.id).encode()
    owner = services.redis.get_node_from_key(keys.venue_channel(venue.id))
    assert owner is services.redis.get_node_from_key(keys.count(venue.id))  # the venue's slot

    dashboard = ReadingClient()
    outbox = hub.outbox(dashboard, VENUE)
    await hub.add(VENUE, venue.id, outbox)
    sender = asyncio.create_task(outbox.run())
    await check_in(services, venue, 2)
    await dashboard.next_where(lambda f: f["count"] == 2 and len(f["recent"]) == 1)
    sender.cancel()

    assert hub.subscriptions.shards is not None
    assert channel in await shard_channels(owner)
    for node in services.redis.get_nodes():
        assert channel not in await plain_channels(node)
        if node.name != owner.name:
            assert channel not in await shard_channels(node)
    # The scripts publish there: one subscriber hears it (a plain PUBLISH would count none).
    assert await owner.execute_command("SPUBLISH", channel, b"{}") == 1


async def test_the_city_view_hears_every_venue_and_a_new_one(services, make_venue, hub):
    venues = [(await make_venue(capacity=50))[0] for _ in range(6)]
    assert len({services.redis.get_node_from_key(keys.count(v.id)).name for v in venues}) >= 2
    city = ReadingClient()
    outbox = hub.outbox(city, CITY)
    await hub.add(CITY, 0, outbox)
    await hub.city_snapshot()  # as a city socket starts: the table is kept current from now on
    sender = asyncio.create_task(outbox.run())
    try:
        for party, venue in enumerate(venues, start=1):
            await check_in(services, venue, party)
        await city_shows(city, {v.id: party for party, v in enumerate(venues, start=1)})

        # A venue created while the city is watched: announced on occ:config, heard from then on.
        new, _ = await make_venue(capacity=50)
        await eventually(lambda: new.id in hub.subscriptions.shards.live)
        await check_in(services, new, 3)
        await city_shows(city, {new.id: 3})
        assert not [f for f in city.seen if f["type"] == "snapshot"]  # events, not re-reads
    finally:
        hub.remove(CITY, 0, outbox)
        sender.cancel()


async def city_shows(city: ReadingClient, counts: dict[int, int], timeout: float = 10.0) -> None:
    """Until the city updates sent so far show each of these venues at its count."""
    shown: dict[int, int] = {}
    async with asyncio.timeout(timeout):
        while True:
            for frame in city.seen:
                for venue in frame.get("venues", ()):
                    shown[venue["id"]] = venue["count"]
            if all(shown.get(v) == c for v, c in counts.items()):
                return
            await city.next_where(lambda f: True)


async def eventually(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


# -- a master killed ---------------------------------------------------------------------------


@pytest.fixture
def redis_url(own_cluster):
    """A cluster of its own (tests/conftest.py): the test leaves it with a master dead."""
    return own_cluster.url


async def check_in_until_answered(services, venue, party: int, timeout: float = 30.0) -> None:
    """As a phone retries: during the failover the venue's master answers nothing (503)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await check_in(services, venue, party)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_after_a_master_failover_the_city_hears_every_venue_again(
        services, make_venue, own_cluster):
    venues = [(await make_venue(capacity=100))[0] for _ in range(9)]
    owner = {v.id: services.redis.get_node_from_key(keys.venue_channel(v.id)).name for v in venues}
    killed_name = owner[venues[0].id]
    assert len(set(owner.values())) >= 2
    heard: Counter = Counter()
    renewed: list = []
    subscriptions = Subscriptions(services.redis, venue_ids=services.venues.ids)
    subscriptions.route(events=lambda venue_id, _: heard.update([venue_id]),
                        renewed=renewed.append, dropped=lambda _: None)
    await subscriptions.start()
    try:
        async with subscriptions.hold(ALL_VENUES):
            for venue in venues:
                await check_in(services, venue, 1)
            await eventually(lambda: all(heard[v.id] == 1 for v in venues))

            own_cluster.node_at(int(killed_name.rsplit(":", 1)[1])).kill()
            # Reported lost, then renewed once subscribed on the promoted replica.
            await eventually(lambda: ALL_VENUES in renewed, timeout=30)
            new_owner = subscriptions.shards.owner_of(venues[0].id)
            assert new_owner is not None and new_owner != killed_name
            assert all(v.id in subscriptions.shards.live for v in venues)

            for venue in venues:
                await check_in_until_answered(services, venue, 2)
            # Every venue's new event heard, the failed-over master's venue's too.
            await eventually(lambda: all(heard[v.id] >= 2 for v in venues), timeout=15)
            promoted = services.redis.get_node_from_key(keys.venue_channel(venues[0].id))
            assert promoted.name == new_owner
            assert keys.venue_channel(venues[0].id).encode() in await shard_channels(promoted)
    finally:
        await subscriptions.stop()
