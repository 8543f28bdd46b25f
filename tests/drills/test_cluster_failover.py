"""A Redis Cluster master killed (SIGKILL) under load: its replica takes over and the service
goes on by itself.

``occupancy serve --workers 2`` on a private cluster of three masters with a replica each; a
crowd checks in (and some out) at venues spread over every master, retrying a refused request
with the same idempotency key as a phone does. The master holding the busiest venue is killed.
Asserted: check-ins there resume by themselves; every acknowledged check-in is in SQL; no venue
is ever over its capacity (sampled in Redis every 50 ms, and in SQL); at rest every count equals
its open visits in SQL by the service alone; every failure is a 503 with a JSON body.
"""

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import select

from occupancy import redis_keys as keys
from occupancy.visits.models import Visit
from tests.conftest import LiveServer

from ..visits.helpers import live_count, open_people_in_sql, visitor

VENUES = 9
CAPACITY = 40
CROWD = 40  # phones at once
KILL_AFTER = 3.0
LOAD_SECONDS = 14.0


@pytest.fixture
def redis_url(own_cluster):
    """A cluster of its own (tests/conftest.py): the test leaves it with a master dead."""
    return own_cluster.url


@pytest.fixture
def empty_database_url(sqlite_database_url):
    return sqlite_database_url


class Crowd:
    def __init__(self, base_url: str, codes: list[str]) -> None:
        self.base_url = base_url
        self.codes = codes
        self.acked: dict[int, int] = {}  # visit id -> venue index
        self.statuses: Counter = Counter()
        self.bad: list[str] = []
        self.first_ok_after: dict[int, float] = {}  # venue index -> first 201 after the kill
        self.killed_at: float | None = None

    async def phone(self, rng: random.Random, until: float) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
            while time.monotonic() < until:
                index = rng.randrange(len(self.codes))
                answer = await self.retry(http, "POST", f"/api/venues/{self.codes[index]}/check-ins",
                                          visitor(party_size=rng.choice([1, 1, 2, 3]),
                                                  idempotency_key=uuid.uuid4().hex), until)
                if answer is not None and answer.status_code == 201:
                    self.acked[answer.json()["visit_id"]] = index
                    if self.killed_at is not None:
                        self.first_ok_after.setdefault(index, time.monotonic() - self.killed_at)
                    if rng.random() < 0.8:
                        await self.retry(http, "POST",
                                         f"/api/tickets/{answer.json()['ticket']}/check-out", None,
                                         until)
                await asyncio.sleep(rng.uniform(0.01, 0.05))

    async def retry(self, http, method: str, path: str, body, until: float):
        """The same request (same idempotency key) until it is answered other than 503."""
        while time.monotonic() < until + 10:
            try:
                answer = await http.request(method, path, json=body)
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
                continue
            self.statuses[answer.status_code] += 1
            if answer.status_code >= 500:
                if (answer.status_code != 503 or "retry-after" not in answer.headers
                        or "error" not in answer.json()):
                    self.bad.append(f"{answer.status_code} {answer.text[:200]}")
                await asyncio.sleep(0.2)
                continue
            return answer
        return None


async def watch_counts(services, venues, peaks: dict, until: float) -> None:
    """Every venue's count in Redis, every 50 ms (failures during the failover are skipped)."""
    while time.monotonic() < until:
        for venue in venues:
            with contextlib.suppress(Exception):
                peaks[venue.id] = max(peaks.get(venue.id, 0), await live_count(services, venue.id))
        await asyncio.sleep(0.05)


async def test_a_master_killed_under_load_fails_over_and_loses_nothing(
        settings, services, make_venue, own_cluster):
    cluster_ports = {node.port for node in services.redis.get_primaries()}
    venues, codes = [], []
    for _ in range(VENUES):
        venue, code = await make_venue(capacity=CAPACITY, max_party=4)
        venues.append(venue)
        codes.append(code)
    owners = {services.redis.get_node_from_key(keys.count(v.id)).port for v in venues}
    assert len(owners) >= 2, "the venues should be spread over the masters"
    target = services.redis.get_node_from_key(keys.count(venues[0].id)).port
    assert target in cluster_ports

    server = LiveServer(settings, OCCUPANCY_LEASE_SECONDS="4", OCCUPANCY_SQL_TIMEOUT_SECONDS="2",
                        OCCUPANCY_REPAIR_INTERVAL_SECONDS="1",
                        OCCUPANCY_REBUILD_GRACE_SECONDS="1").start()
    try:
        crowd = Crowd(server.url, codes)
        peaks: dict[int, int] = {}
        until = time.monotonic() + LOAD_SECONDS
        rng = random.Random(11)
        load = [asyncio.create_task(crowd.phone(random.Random(rng.random()), until))
                for _ in range(CROWD)]
        watcher = asyncio.create_task(watch_counts(services, venues, peaks, until + 10))
        await asyncio.sleep(KILL_AFTER)
        crowd.killed_at = time.monotonic()
        own_cluster.node_at(target).kill()
        await asyncio.gather(*load)
        watcher.cancel()

        report = (f"statuses {dict(crowd.statuses)}; first check-in after the kill per venue "
                  f"{crowd.first_ok_after}\n{server.errors()}")
        assert len(crowd.acked) >= 50, report
        assert not crowd.bad, report
        # Check-ins at the killed master's venue came back by themselves.
        assert 0 in crowd.first_ok_after, report
        assert crowd.statuses[503] > 0, "the kill was not felt: " + report
        assert all(peak <= CAPACITY for peak in peaks.values()), (peaks, report)

        # Every acknowledged check-in is in SQL.
        async with services.sessionmaker() as session:
            stored = set((await session.execute(select(Visit.id))).scalars())
        assert set(crowd.acked) <= stored, report

        # At rest the service alone brings every count back to SQL (orphans after their lease).
        deadline = time.monotonic() + 40
        while True:
            differing = {}
            for venue in venues:
                live = await _count_or_none(services, venue.id)
                in_sql = await open_people_in_sql(services, venue.id)
                assert in_sql <= CAPACITY
                if live != in_sql:
                    differing[venue.id] = (live, in_sql)
            if not differing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert not differing, f"counts (Redis, SQL) still differ: {differing}\n{report}"
        print(f"acknowledged {len(crowd.acked)}; {report[:300]}")
    finally:
        server.stop()


async def _count_or_none(services, venue_id: int):
    try:
        return await live_count(services, venue_id)
    except Exception:
        return None
