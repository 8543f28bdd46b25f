"""The hub in this process, against the real Redis: what an update carries, the snapshot
dashboards get after the hub lost its subscription, and that a process subscribes to a venue's
events only while someone watches it."""

import asyncio
import json
import time

import pytest
from redis.asyncio import RedisCluster

from occupancy import redis_keys as keys
from occupancy.live.city import CityTable
from occupancy.live.hub import CITY, VENUE, Hub
from occupancy.live.subscriptions import Subscriptions
from occupancy.stats.calendar import day_of
from occupancy.stats.today import FRESH_MINUTES
from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)
from tests.visits.helpers import check_in


class ReadingClient:
    """The far end of one socket: keeps every frame the hub sends it."""

    def __init__(self) -> None:
        self.frames: list[dict] = []  # not yet taken by next_where
        self.seen: list[dict] = []  # every frame, in order
        self._arrived = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.frames.append(json.loads(text))
        self.seen.append(self.frames[-1])
        self._arrived.set()

    async def close(self, code: int) -> None:
        pass

    async def next_where(self, predicate, timeout: float = 5.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        self.frames.remove(frame)
                        return frame
                self._arrived.clear()
                await self._arrived.wait()


def make_hub(services, **pacing) -> Hub:
    """A hub wired as ``Services.start`` wires it."""
    subscriptions = Subscriptions(services.redis, venue_ids=services.venues.ids)
    subscriptions.on_config(services.venues.invalidate)
    return Hub(subscriptions, services.venues, services.sessionmaker, services.today,
               secret=services.settings.secret_key, **pacing)


@pytest.fixture
async def hub(services):
    hub = make_hub(services, rate=50)
    await hub.start()
    yield hub
    await hub.stop()


@pytest.fixture
def watch(hub):
    tasks = []

    async def open_dashboard(venue_id: int) -> ReadingClient:
        client = ReadingClient()
        outbox = hub.outbox(client, VENUE)
        await hub.add(VENUE, venue_id, outbox)
        client.outbox = outbox
        tasks.append(asyncio.create_task(outbox.run()))
        return client

    yield open_dashboard
    for task in tasks:
        task.cancel()


async def test_updates_carry_each_new_event_once_and_the_minutes_still_counting(
        services, make_venue, watch):
    venue, _ = await make_venue(capacity=10)
    dashboard = await watch(venue.id)

    await check_in(services, venue, 2)
    await dashboard.next_where(lambda f: f["count"] == 2)
    await check_in(services, venue, 3)
    # A flush may read a count before its event arrives on the channel: the event then comes in
    # the next frame. What must hold is that each event reaches the dashboard once, in order.
    last = await dashboard.next_where(
        lambda f: f["count"] == 5 and events_sent(dashboard) == [("in", 2), ("in", 3)])

    assert {f["type"] for f in dashboard.seen} == {"update"}
    assert len(last["today"]["per_minute"]) == FRESH_MINUTES
    assert sum(m[1] for m in last["today"]["per_minute"]) == 2
    assert last["today"]["entries"] == 2 and last["point"][1] == 5


async def test_an_update_never_carries_an_event_its_count_does_not_include(
        services, make_venue, hub):
    """Events heard while a flush reads the counts wait for the next frame: a dashboard never
    shows a check-in next to the count of before it. Each round a new dashboard and a check-in
    of 2 (a late configuration message sets off a flush just as the event comes)."""
    for _ in range(10):
        venue, _ = await make_venue(capacity=10)
        dashboard = ReadingClient()
        outbox = hub.outbox(dashboard, VENUE)
        await hub.add(VENUE, venue.id, outbox)
        sender = asyncio.create_task(outbox.run())
        try:
            await check_in(services, venue, 2)
            carrying = await dashboard.next_where(lambda f: f["recent"])
        finally:
            sender.cancel()
            hub.remove(VENUE, venue.id, outbox)
        assert carrying["count"] == 2 and [e["party"] for e in carrying["recent"]] == [2]


def events_sent(dashboard) -> list[tuple[str, int]]:
    """Every event the dashboard was sent so far, oldest first (each frame lists newest first)."""
    return [(e["event"], e["party"]) for f in dashboard.seen for e in reversed(f["recent"])]


async def test_after_a_lost_subscription_dashboards_get_a_snapshot(services, make_venue, hub, watch):
    venue, _ = await make_venue(capacity=10)
    dashboard = await watch(venue.id)
    await check_in(services, venue, 2)
    await dashboard.next_where(lambda f: f["count"] == 2)

    if isinstance(services.redis, RedisCluster):  # the listener is on one node: ask them all
        await services.redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub",
                                             target_nodes=services.redis.get_nodes())
    else:
        await services.redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    snapshot = await dashboard.next_where(lambda f: f["type"] == "snapshot", timeout=10)

    assert hub.subscriptions.reconnects >= 1
    assert snapshot["venue"]["id"] == venue.id and snapshot["count"] == 2
    assert [(e["event"], e["party"]) for e in snapshot["recent"]] == [("in", 2)]
    assert len(snapshot["today"]["per_minute"]) == 60 and snapshot["series"][-1][1] == 2
    await check_in(services, venue, 1)
    after = await dashboard.next_where(lambda f: f["count"] == 3)
    assert after["type"] == "update" and [e["party"] for e in after["recent"]] == [1]


async def subscribers(redis, venue_id: int) -> int:
    if isinstance(redis, RedisCluster):  # each node counts only its own subscribers
        counts = [await node.execute_command("PUBSUB", kind, keys.venue_channel(venue_id))
                  for node in redis.get_nodes() for kind in ("NUMSUB", "SHARDNUMSUB")]
        return sum(int(reply[1]) for reply in counts)
    [(_, count)] = await redis.pubsub_numsub(keys.venue_channel(venue_id))
    return count


async def city_subscriptions(redis, unwatched_venue_id: int) -> int:
    """The pattern on a single Redis; on a cluster, the shard channel of a venue no dashboard
    watches (the city view subscribes to every venue's)."""
    if isinstance(redis, RedisCluster):
        return await subscribers(redis, unwatched_venue_id)
    return await redis.pubsub_numpat()


async def eventually(probe, expected, timeout: float = 5.0):
    async with asyncio.timeout(timeout):
        while (value := await probe()) != expected:
            await asyncio.sleep(0.02)
    return value


def parties(frames: list[dict]) -> list[int]:
    return [e["party"] for f in frames if f["type"] == "update" for e in reversed(f["recent"])]


async def test_a_venue_is_subscribed_only_while_a_dashboard_watches_it(services, make_venue, hub,
                                                                        watch):
    watched, _ = await make_venue(capacity=10)
    unwatched, _ = await make_venue(capacity=10)
    assert await subscribers(services.redis, watched.id) == 0

    dashboard = await watch(watched.id)
    # Subscribed before add() returns: a snapshot read now misses no event.
    assert await subscribers(services.redis, watched.id) == 1
    assert await subscribers(services.redis, unwatched.id) == 0
    await check_in(services, watched, 2)
    await dashboard.next_where(lambda f: f["count"] == 2)

    hub.remove(VENUE, watched.id, dashboard.outbox)
    await eventually(lambda: subscribers(services.redis, watched.id), 0)


async def test_with_the_city_view_open_each_event_still_reaches_a_dashboard_once(
        services, make_venue, hub, watch):
    venue, _ = await make_venue(capacity=10)
    unwatched, _ = await make_venue(capacity=10)
    hub.city_idle_seconds = 0.3
    city_listens = lambda: city_subscriptions(services.redis, unwatched.id)  # noqa: E731
    before = await city_listens()
    dashboard = await watch(venue.id)
    # The city view open (a socket holds it): subscribed however long the steps below take.
    city_view = hub.outbox(ReadingClient(), CITY)
    await hub.add(CITY, 0, city_view)

    assert (await hub.city_snapshot())["totals"]["count"] == 0
    assert await city_listens() == before + 1
    # The venue's channel and the city's subscription both deliver its events now (on a cluster,
    # one shard channel serves both).
    await check_in(services, venue, 2)
    await check_in(services, venue, 1)
    # A flush may read a count before its event arrives (on a cluster a plain PUBLISH crosses
    # the cluster bus first): the event then comes in the next frame. Wait for both events; a
    # duplicate of either would show up before the next check-in's below.
    await dashboard.next_where(lambda f: f["count"] == 3 and len(parties(dashboard.seen)) >= 2)
    assert parties(dashboard.seen) == [2, 1]
    city = await hub.city_snapshot()
    assert city["totals"]["count"] == 3

    # Closed and unused for a while, the city view is given up; the dashboard goes on as before.
    hub.remove(CITY, 0, city_view)
    await eventually(city_listens, before)
    await check_in(services, venue, 4)
    await dashboard.next_where(lambda f: f["count"] == 7 and len(parties(dashboard.seen)) >= 3)
    assert parties(dashboard.seen) == [2, 1, 4]
    # Read again when needed: not the table of before, which missed the last event.
    assert (await hub.city_snapshot())["totals"]["count"] == 7


async def test_past_the_frame_budget_a_busy_venue_is_paced_further_apart(services, make_venue):
    """A budget of 8 frames a second and a venue four dashboards watch, changing 10 times a
    second: once the shares are worked out (after a second), its frames come 0.5 s apart, each
    carrying every event since the last; nothing is lost."""
    hub = make_hub(services, rate=5, frame_budget=8)
    await hub.start()
    busy, _ = await make_venue(capacity=100)
    clients, tasks = [], []
    try:
        for _ in range(4):
            client = ReadingClient()
            client.outbox = hub.outbox(client, VENUE)
            await hub.add(VENUE, busy.id, client.outbox)
            tasks.append(asyncio.create_task(client.outbox.run()))
            clients.append(client)
        dashboard = clients[0]
        for _ in range(30):
            await check_in(services, busy, 1)
            await asyncio.sleep(0.1)
        # The count may be read before the last event arrives: it comes in the next frame.
        await dashboard.next_where(lambda f: f["count"] == 30 and len(parties(dashboard.seen)) >= 30)
        updates = [f for f in dashboard.seen if f["type"] == "update"]

        assert parties(updates) == [1] * 30  # nothing lost, however paced
        assert hub.pacing.interval(busy.id) == pytest.approx(0.5)  # 4 sockets / 8 frames a second
        paced = [f for f in updates if f["at"] >= updates[0]["at"] + 1.5]
        gaps = [b["at"] - a["at"] for a, b in zip(paced, paced[1:], strict=False)]
        assert gaps and min(gaps) >= 0.45
    finally:
        for task in tasks:
            task.cancel()
        await hub.stop()


def test_a_new_day_starts_the_city_series_at_midnight_with_the_old_days_last_total(services):
    """A process keeping its city table across midnight: the new day's line begins at 00:00 with
    the people the old day ended with, not at the first change after it (nor at 0)."""
    now = time.time()
    midnight = services.today.midnight(now)
    city = CityTable(services.today)
    city.series, city.day = {midnight - 120: 4, midnight - 60: 7}, "yesterday"

    city.roll_day(now)

    assert city.series == {midnight: 7} and city.day == day_of(now, services.today.tz)
    city.roll_day(now)  # the same day: nothing changes
    assert city.series == {midnight: 7}


async def test_an_event_heard_while_the_city_table_is_first_read_is_kept(
        services, make_venue, hub, monkeypatch):
    """The count read may be older than an event that arrives during the first read of the
    table (no table yet): the event is applied after the read, and it never breaks the read."""
    venue, _ = await make_venue(capacity=10)
    load = CityTable.load

    async def load_then_hear_an_event(*args):
        table = await load(*args)
        hub._on_event(venue.id, json.dumps({"e": "in", "c": 7, "p": 7}).encode())
        return table

    monkeypatch.setattr(CityTable, "load", load_then_hear_an_event)
    table = await hub.city.current()

    assert table.venues[venue.id].count == 7
