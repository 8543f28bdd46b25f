"""The invariants every run must keep, checked during the run (sampling) and at its end (at rest).

1. No venue over capacity: Redis counts are sampled while the load runs, and checked at rest in
   Redis and in SQL (sum of party sizes of open visits).
2. Conservation: at rest, each venue's live count equals the party sizes of its open visits in SQL.
3. No acknowledged write lost: every check-in the load generator saw acknowledged (201) is a row
   in SQL whose ticket_hash is the SHA-256 of the ticket it was given, and every acknowledged
   check-out is a closed row.
"""

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis
import redis.cluster
from sqlalchemy import func, select

from occupancy import redis_keys as keys
from occupancy.db import make_engine
from occupancy.visits.models import Visit


@dataclass
class Verdict:
    samples: int = 0
    max_fill: float = 0.0  # the highest count/capacity seen in any sample
    over_capacity: list[str] = field(default_factory=list)
    count_mismatch: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    acked_check_ins: int = 0
    acked_check_outs: int = 0

    @property
    def ok(self) -> bool:
        return not (self.over_capacity or self.count_mismatch or self.missing)

    def summary(self) -> str:
        if self.ok:
            return (f"ok: {self.samples} samples, max fill {self.max_fill:.0%}; "
                    f"{self.acked_check_ins} acked check-ins and {self.acked_check_outs} check-outs "
                    "all in SQL; live counts = open visits; dashboards right at rest")
        problems = self.over_capacity[:3] + self.count_mismatch[:3] + self.missing[:3]
        return (f"BROKEN: {len(self.over_capacity)} over capacity, {len(self.count_mismatch)} "
                f"count mismatches, {len(self.missing)} acknowledged writes missing: {problems}")


# Reads each venue's count and capacity inside Redis and answers only the highest fill and the
# venues over capacity: reading 10,000 venues' keys into Python 4 times a second took this
# process most of a CPU, taken from the server it measures.
_SAMPLE = """
local names = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])
local most, over = '0', {}
local most_fill = 0
for i = 1, #names, 2 do
  local count = tonumber(redis.call('GET', names[i]) or '0')
  local capacity = tonumber(redis.call('HGET', names[i + 1], 'capacity') or '0')
  if capacity > 0 and count / capacity > most_fill then
    most_fill = count / capacity
    most = count .. '/' .. capacity
  end
  if count > capacity then
    table.insert(over, names[i] .. ' ' .. count .. '/' .. capacity)
  end
end
return {most, over}
"""


class CapacitySampler(threading.Thread):
    """Checks every loaded venue's count against its capacity in Redis a few times a second.

    On a Redis Cluster each master reads its own venues (a script may read any key its node
    holds): the list of their key names lives on that master, under one of its venues' tags."""

    CHUNK = 500  # venues per script call, each its own round trip: Redis serves others between

    def __init__(self, redis_url: str, venue_ids: list[int], verdict: Verdict, every: float = 0.25,
                 cluster: bool = False):
        super().__init__(daemon=True)
        self.verdict = verdict
        self.every = every
        self.parts: list[tuple] = []  # (client, its list of key names, ranges of it, script)
        if not cluster:
            self._add_part(redis.Redis.from_url(redis_url), "", venue_ids)
        else:
            router = redis.cluster.RedisCluster.from_url(redis_url)
            by_node: dict[tuple[str, int], list[int]] = {}
            for venue_id in venue_ids:
                node = router.get_node_from_key(keys.count(venue_id))
                by_node.setdefault((node.host, node.port), []).append(venue_id)
            router.close()
            for (host, port), ids in by_node.items():
                self._add_part(redis.Redis(host=host, port=port), keys.tag(ids[0]), ids)
        self._done = threading.Event()

    def _add_part(self, client: redis.Redis, tag: str, venue_ids: list[int]) -> None:
        list_key = f"{tag}bench:sampler:{id(self)}"
        names = [name for v in venue_ids for name in (keys.count(v), keys.config(v))]
        client.delete(list_key)
        if names:
            client.rpush(list_key, *names)
        step = 2 * self.CHUNK
        ranges = [(first, first + step - 1) for first in range(0, len(names), step)]
        self.parts.append((client, list_key, ranges, client.register_script(_SAMPLE)))

    def run(self) -> None:
        while not self._done.wait(self.every):
            self.sample()

    def sample(self) -> None:
        self.verdict.samples += 1
        for _client, list_key, ranges, script in self.parts:
            for first, last in ranges:
                most, over = script(keys=[list_key], args=[first, last])
                count, capacity = (int(x) for x in most.split(b"/")) if b"/" in most else (0, 0)
                if capacity:
                    self.verdict.max_fill = max(self.verdict.max_fill, count / capacity)
                self.verdict.over_capacity += [f"{line.decode()} in Redis" for line in over]

    def stop(self) -> None:
        self._done.set()
        if self.ident is not None:  # started
            self.join()
        for client, list_key, _ranges, _script in self.parts:
            client.delete(list_key)
            client.close()


def read_acks(ack_dir: Path) -> tuple[dict[str, str], set[str]]:
    """visit id -> ticket for acknowledged check-ins; visit ids of acknowledged check-outs."""
    check_ins: dict[str, str] = {}
    check_outs: set[str] = set()
    for path in ack_dir.rglob("acks-*.txt"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "i":
                check_ins[parts[1]] = parts[2]
            elif len(parts) == 2 and parts[0] == "o":
                check_outs.add(parts[1])
    return check_ins, check_outs


def _live_counts(redis_url: str, ids: list[int], cluster: bool) -> dict[int, int]:
    """Every venue's count, read from every master of a cluster (its pipeline splits by node)."""
    client = redis.cluster.RedisCluster.from_url(redis_url) if cluster else redis.Redis.from_url(redis_url)
    try:
        pipe = client.pipeline(transaction=False)
        for venue_id in ids:
            pipe.get(keys.count(venue_id))
        return {venue_id: int(value or 0) for venue_id, value in zip(ids, pipe.execute(), strict=True)}
    finally:
        client.close()


async def check_at_rest(
    database_url: str, redis_url: str, venues: dict[int, int], ack_dir: Path, since: datetime,
    verdict: Verdict, settle: float = 30.0, cluster: bool = False,
) -> Verdict:
    """``venues``: venue id -> capacity for every venue of the database.

    "At rest" means no request in flight: requests the load generator gave up on (a timeout, the
    end of the run) may still be finishing in the server, so a count that differs from SQL is
    read again for up to ``settle`` seconds before it counts as broken."""
    deadline = time.monotonic() + settle
    while True:
        attempt = Verdict(samples=verdict.samples, max_fill=verdict.max_fill,
                          over_capacity=list(verdict.over_capacity))
        await _check_once(database_url, redis_url, venues, ack_dir, since, attempt, cluster)
        # Only a count can still be settling; a missing acknowledged write is final (an ack
        # means committed), and so is a venue seen over its capacity.
        if not attempt.count_mismatch or attempt.missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    verdict.__dict__.update(attempt.__dict__)
    return verdict


async def _check_once(
    database_url: str, redis_url: str, venues: dict[int, int], ack_dir: Path, since: datetime,
    verdict: Verdict, cluster: bool,
) -> Verdict:
    check_ins, check_outs = read_acks(ack_dir)
    verdict.acked_check_ins, verdict.acked_check_outs = len(check_ins), len(check_outs)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            open_rows = await conn.execute(
                select(Visit.venue_id, func.sum(Visit.party_size))
                .where(Visit.checked_out_at.is_(None)).group_by(Visit.venue_id)
            )
            open_people = {venue_id: int(total) for venue_id, total in open_rows}
            rows = await conn.execute(
                select(Visit.id, Visit.ticket_hash, Visit.checked_out_at)
                .where(Visit.checked_in_at >= since.astimezone(UTC).replace(tzinfo=None))
            )
            stored = {visit_id: (ticket_hash, closed is not None) for visit_id, ticket_hash, closed in rows}
    finally:
        await engine.dispose()

    live = _live_counts(redis_url, list(venues), cluster)

    for venue_id, capacity in venues.items():
        if live[venue_id] > capacity:
            verdict.over_capacity.append(f"venue {venue_id}: {live[venue_id]}/{capacity} in Redis at rest")
        if open_people.get(venue_id, 0) > capacity:
            verdict.over_capacity.append(f"venue {venue_id}: {open_people[venue_id]}/{capacity} open in SQL")
        if live[venue_id] != open_people.get(venue_id, 0):
            verdict.count_mismatch.append(
                f"venue {venue_id}: Redis {live[venue_id]} != SQL {open_people.get(venue_id, 0)}")
    for visit_id, ticket in check_ins.items():
        row = stored.get(visit_id)
        if row is None:
            verdict.missing.append(f"check-in {visit_id} not in SQL")
        elif row[0] != hashlib.sha256(ticket.encode()).hexdigest():
            verdict.missing.append(f"check-in {visit_id} stored with another ticket")
    for visit_id in check_outs:
        row = stored.get(visit_id)
        if row is None or not row[1]:
            verdict.missing.append(f"check-out {visit_id} not closed in SQL")
    return verdict
