"""What a drill found: the invariants checked against SQL once the crowd has stopped."""

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy import func, select

from loadtest.drills.harness import Stack
from loadtest.drills.load import Load
from occupancy import redis_keys as keys
from occupancy.db import make_engine
from occupancy.visits.models import Visit

# Server log lines worth counting (they say what the service did to put itself right).
LOG_EVENTS = {
    "rebuilds": re.compile(r"rebuilt the live counts of"),
    "orphans released": re.compile(r"released an orphaned reservation"),
    "venues repaired": re.compile(r"repaired venue \d+"),
    "check-outs settled": re.compile(r"left half done past its lease"),
    "tracebacks": re.compile(r"^Traceback", re.MULTILINE),
}


@dataclass
class DrillResult:
    fault: str
    db: str
    max_ratio: float = 0.0
    max_seen: str = ""
    over_capacity: list[str] = field(default_factory=list)  # polled (Redis or public) or SQL at rest
    acked_check_ins: int = 0
    acked_check_outs: int = 0
    lost: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)  # venues whose count != SQL at the deadline
    settled_after: float | None = None  # seconds after the crowd stopped until counts == SQL
    first_differing: int = 0  # venues differing from SQL when the crowd stopped
    statuses: dict[str, int] = field(default_factory=dict)
    bad_5xx: dict[str, int] = field(default_factory=dict)
    bad_examples: list[str] = field(default_factory=list)
    no_retry_after: dict[str, int] = field(default_factory=dict)
    n503: int = 0
    events: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log_tail: str = ""

    @property
    def invariants_hold(self) -> bool:
        return not (self.over_capacity or self.lost or self.differing)

    def explain(self) -> str:
        """Everything needed to see why an assertion failed."""
        return "\n".join([
            f"drill {self.fault} on {self.db}: {self.seconds:.0f} s",
            f"  max count/capacity {self.max_ratio:.2f} ({self.max_seen})",
            f"  over capacity: {self.over_capacity[:10]}",
            f"  acknowledged: {self.acked_check_ins} check-ins, {self.acked_check_outs} check-outs; "
            f"lost: {self.lost[:10]}",
            f"  at rest: {self.first_differing} venues differed when the crowd stopped; settled after "
            f"{self.settled_after} s; still differing: {self.differing[:10]}",
            f"  answers: {self.statuses}",
            f"  5xx other than a 503 JSON error: {self.bad_5xx} {self.bad_examples[:5]}",
            f"  503s without Retry-After: {self.no_retry_after}",
            f"  server did: {self.events}; notes: {self.notes}",
            "  server log (warnings and errors, last lines):",
            self.log_tail,
        ])


async def sql_state(stack: Stack) -> tuple[dict[int, int], dict[str, tuple[str, bool]]]:
    """(people inside per venue by SQL's open visits, visit id -> (ticket hash, closed))."""
    engine = make_engine(stack.database.url)
    try:
        async with engine.connect() as conn:
            open_people = {venue_id: int(total) for venue_id, total in await conn.execute(
                select(Visit.venue_id, func.sum(Visit.party_size))
                .where(Visit.checked_out_at.is_(None)).group_by(Visit.venue_id))}
            stored = {visit_id: (ticket_hash, closed is not None) for visit_id, ticket_hash, closed
                      in await conn.execute(select(Visit.id, Visit.ticket_hash, Visit.checked_out_at))}
    finally:
        await engine.dispose()
    return open_people, stored


async def live_counts(stack: Stack) -> dict[int, int | None]:
    """Each venue's count in Redis (None where Redis does not hold the venue, or is down)."""
    client = Redis(host="127.0.0.1", port=stack.redis.port, socket_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        for venue in stack.venues:
            pipe.get(keys.count(venue.id))
            pipe.hget(keys.config(venue.id), "capacity")
        values = await pipe.execute()
    except Exception:
        return {venue.id: None for venue in stack.venues}
    finally:
        await client.aclose()
    return {venue.id: (int(values[2 * i] or 0) if values[2 * i + 1] is not None else None)
            for i, venue in enumerate(stack.venues)}


async def judge(fault: str, stack: Stack, load: Load, started: float, settle: float = 20.0) -> DrillResult:
    """After ``load.stop()``: no venue over capacity, nothing acknowledged lost, and the counts
    equal SQL within ``settle`` seconds, by the service alone (no ``occupancy reconcile``)."""
    result = DrillResult(fault=fault, db=stack.kind)
    poller, answers = load.poller, load.answers
    stopped = time.monotonic()

    # At rest: read until every venue's count equals SQL (and stays so one more read).
    equal_since, first = None, True
    while True:
        open_people, stored = await sql_state(stack)
        live = await live_counts(stack)
        differing = [f"venue {v.id}: Redis {live[v.id]} != SQL {open_people.get(v.id, 0)} "
                     f"(capacity {v.capacity})"
                     for v in stack.venues if live[v.id] != open_people.get(v.id, 0)]
        if first:
            result.first_differing, first = len(differing), False
        now = time.monotonic()
        if not differing:
            if equal_since is None:
                equal_since = now
            elif now - equal_since >= 1.0:
                result.settled_after = round(equal_since - stopped, 1)
                break
        else:
            equal_since = None
        if now - stopped > settle:
            result.differing = differing
            break
        await asyncio.sleep(0.5)

    result.max_ratio, result.max_seen = poller.max_ratio, poller.max_seen
    result.over_capacity = list(poller.over)
    for venue in stack.venues:
        if open_people.get(venue.id, 0) > venue.capacity:
            result.over_capacity.append(
                f"venue {venue.id}: {open_people[venue.id]}/{venue.capacity} open in SQL at rest")
        if (live.get(venue.id) or 0) > venue.capacity:
            result.over_capacity.append(
                f"venue {venue.id}: {live[venue.id]}/{venue.capacity} in Redis at rest")

    result.acked_check_ins, result.acked_check_outs = len(answers.check_ins), len(answers.check_outs)
    for visit_id, (ticket, venue_id) in answers.check_ins.items():
        row = stored.get(visit_id)
        if row is None:
            result.lost.append(f"check-in {visit_id} (venue {venue_id}) not in SQL")
        elif row[0] != hashlib.sha256(ticket.encode()).hexdigest():
            result.lost.append(f"check-in {visit_id} stored with another ticket")
    for visit_id in answers.check_outs:
        if not stored.get(visit_id, ("", False))[1]:
            result.lost.append(f"check-out {visit_id} not closed in SQL")

    result.statuses = dict(sorted(answers.statuses.items()))
    result.bad_5xx = dict(answers.bad_5xx)
    result.bad_examples = list(answers.bad_examples)
    result.no_retry_after = dict(answers.no_retry_after)
    result.n503 = answers.n503
    log = stack.server.log()
    result.events = {name: len(pattern.findall(log)) for name, pattern in LOG_EVENTS.items()}
    result.log_tail = "\n".join(line for line in log.splitlines()
                                if line and not line.startswith("INFO"))[-4000:]
    result.seconds = time.monotonic() - started
    if poller.failures:
        result.notes.append(f"Redis unreadable for {poller.failures} polls")
    return result
