"""Issue 18's two scenarios for the peak harness, run after the check-in runs on the same server:

- **booking**: every connection books a slot of tomorrow at a random venue (mixed parties, each
  booking a phone of its own) and cancels one booking in four; bookings/s and the p99 of
  ``POST .../bookings``. At rest: no slot holds more places than its bookable ones, and SQL's
  places per slot equal Redis's.
- **line**: venues kept full by walk-ins. Half the connections join a line and leave it at once
  (joins/s at full speed); the other half join, poll their status every half second, claim the
  places when offered and check out at once, which frees a place for the next in line (the
  service's offers job, once a second). At rest: each line was served first come, first served
  (offers in the order of the turns, nobody skipped), and the live count equals the open visits
  in SQL, within the capacity.

The load generator is httpx in this process (one client, ``connections`` at a time): slower than
wrk, so the figures are a floor, but each request can depend on the previous answer.
"""

import asyncio
import itertools
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from redis.asyncio import Redis, RedisCluster
from sqlalchemy import func, select

from loadtest.peak.held import _manager_tokens
from loadtest.peak.stack import SeededVenue
from occupancy import redis_keys as keys
from occupancy.bookings.models import Booking
from occupancy.db import make_engine, make_sessionmaker
from occupancy.line.models import LineEntry
from occupancy.settings import get_settings
from occupancy.visits.models import Visit

# httpcore tries `import sniffio` on every request; absent, each try searched the whole path (a
# tenth of this process's CPU): mark it absent once (httpcore then assumes asyncio, as it is).
sys.modules.setdefault("sniffio", None)

STARTS = ("07:00", "09:00", "11:00", "13:00")
SLOT_PLACES = 400  # per slot, all bookable: a run of some seconds fills some slots (slot_full)
LINE_CAPACITY = 4  # places of each line venue, all taken by walk-ins first
POLL_SECONDS = 0.5


@dataclass
class Timings:
    """Latencies (ms) of one kind of request, and the answers' codes."""
    ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # what each error was, for the report

    def add(self, started: float, status: int, failure: str = "") -> None:
        self.ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if failure:
            self.failures[failure] = self.failures.get(failure, 0) + 1

    def p(self, q: float) -> float:
        return statistics.quantiles(self.ms, n=100)[int(q) - 1] if len(self.ms) > 1 else float("nan")

    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 or status == 0)


@dataclass
class Scenario:
    name: str
    seconds: float
    lines: list[str] = field(default_factory=list)  # what it measured, one sentence each
    broken: list[str] = field(default_factory=list)  # invariants that failed

    @property
    def ok(self) -> bool:
        return not self.broken

    def summary(self, where: str) -> str:
        verdict = "invariants ok" if self.ok else "INVARIANT BROKEN: " + "; ".join(self.broken)
        return f"{self.name} scenario ({where}): " + "; ".join(self.lines) + f"; {verdict}"


def _limits(connections: int) -> httpx.Limits:
    """Every connection kept alive: httpx keeps 20 by default, and the other 44 of 64 were closed
    after each request and opened again, in this process's CPU."""
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections)


async def _timed(http: httpx.AsyncClient, timings: Timings, path: str, body: dict) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        answer = await http.post(path, json=body)
    except httpx.HTTPError as exc:
        timings.add(started, 0, f"{path.rsplit('/', 1)[-1]}: {type(exc).__name__}")
        return None
    failure = ""
    if answer.status_code >= 500:
        failure = f"{path.rsplit('/', 1)[-1]}: {answer.status_code} {answer.text[:120]}"
    timings.add(started, answer.status_code, failure)
    return answer


def _tomorrow() -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo(get_settings().timezone)) + timedelta(days=1)


async def booking(url: str, database_url: str, redis_url: str, cluster: bool,
                  venues: list[SeededVenue], seconds: float, connections: int) -> Scenario:
    day = f"{_tomorrow():%Y%m%d}"
    tokens = await _manager_tokens(database_url, venues)
    plan = {"starts": list(STARTS), "slot_minutes": 120, "capacity": SLOT_PLACES,
            "advance_percent": 100, "per_phone": 1, "days_ahead": 1}
    books, cancels = Timings(), Timings()
    phones = itertools.count()
    rng = random.Random(18)
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=_limits(connections)) as http:
        for venue, token in zip(venues, tokens, strict=True):
            answer = await http.put(f"/api/venues/{venue.id}/slots", json=plan,
                                    headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 200:
                raise RuntimeError(f"slot plan: {answer.status_code} {answer.text[:300]}")
        deadline = time.monotonic() + seconds

        async def booker() -> None:
            # A client (one connection) per booker: httpcore's pool scans all its connections
            # for every request, half this process's CPU with 64 in one pool.
            async with httpx.AsyncClient(base_url=url, timeout=60, limits=_limits(1)) as own:
                while time.monotonic() < deadline:
                    venue, start = rng.choice(venues), rng.choice(STARTS)
                    n = next(phones)
                    body = {"slot": f"{day}-{start.replace(':', '')}", "name": "Bench Booker",
                            "phone": f"0812 {n // 10000 % 10000:04d} {n % 10000:04d}",
                            "party_size": rng.choice((1, 1, 2, 2, 3, 4))}
                    answer = await _timed(own, books, f"/api/venues/{venue.signed_code}/bookings",
                                          body)
                    if answer is not None and answer.status_code == 201 and n % 4 == 0:
                        await _timed(own, cancels, "/api/booking-cancellations",
                                     {"booking": answer.json()["booking"]})

        started = time.monotonic()
        await asyncio.gather(*(booker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    result = Scenario("booking", elapsed)
    booked = books.statuses.get(201, 0)
    result.lines.append(
        f"{booked / elapsed:,.0f} bookings/s ({len(books.ms) / elapsed:,.0f} requests/s), POST "
        f"bookings p50 {books.p(50):.1f} ms p99 {books.p(99):.1f} ms, "
        f"{books.statuses.get(409, 0)} refused (slot full), {books.errors()} errors")
    result.lines.append(f"{cancels.statuses.get(200, 0)} cancellations, p99 {cancels.p(99):.1f} ms, "
                        f"{cancels.errors()} errors")
    if books.errors() or cancels.errors():
        result.broken.append(f"{books.errors() + cancels.errors()} booking requests failed: "
                             f"{books.failures | cancels.failures}")
    result.broken += await _check_slots(database_url, redis_url, cluster, venues, day)
    return result


async def _check_slots(database_url: str, redis_url: str, cluster: bool,
                       venues: list[SeededVenue], day: str) -> list[str]:
    """Places per slot: SQL (bookings not cancelled) = Redis, and within the slot's places."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = (await session.execute(
                select(Booking.venue_id, Booking.slot, func.sum(Booking.party_size))
                .where(Booking.venue_id.in_([v.id for v in venues]), Booking.cancelled_at.is_(None))
                .group_by(Booking.venue_id, Booking.slot))).all()
    finally:
        await engine.dispose()
    in_sql = {(venue_id, slot[-4:]): int(places) for venue_id, slot, places in rows}
    redis = RedisCluster.from_url(redis_url) if cluster else Redis.from_url(redis_url)
    broken = []
    try:
        for venue in venues:
            counts = await redis.hgetall(keys.booking_day(venue.id, day))
            in_redis = {k.decode(): int(v) for k, v in counts.items() if k != b"loaded"}
            for start in STARTS:
                hhmm = start.replace(":", "")
                sql, live = in_sql.get((venue.id, hhmm), 0), in_redis.get(hhmm, 0)
                if sql != live:
                    broken.append(f"venue {venue.id} slot {hhmm}: SQL {sql}, Redis {live}")
                if sql > SLOT_PLACES:
                    broken.append(f"venue {venue.id} slot {hhmm} overbooked: {sql} > {SLOT_PLACES}")
    finally:
        await redis.aclose()
    return broken


async def line(url: str, database_url: str, redis_url: str, cluster: bool,
               leaving: list[SeededVenue], claiming: list[SeededVenue], seconds: float,
               connections: int) -> Scenario:
    joins, leaves, polls, claims, outs = Timings(), Timings(), Timings(), Timings(), Timings()
    rng = random.Random(19)
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=_limits(connections)) as http:
        walkers = []  # the tickets of the claiming venues' walk-ins
        for n, venue in enumerate(v for v in leaving + claiming for _ in range(LINE_CAPACITY)):
            body = {"name": "Bench Walker", "phone": f"0813 9{n:07d}", "party_size": 1}
            answer = await http.post(f"/api/venues/{venue.signed_code}/check-ins", json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"walk-in: {answer.status_code} {answer.text[:300]}")
            if venue in claiming:
                walkers.append(answer.json()["ticket"])
        deadline = time.monotonic() + seconds

        phones = itertools.count()  # one open place per phone: each join its own

        async def join(venue: SeededVenue) -> str | None:
            answer = await _timed(http, joins, f"/api/venues/{venue.signed_code}/line",
                                  {"party_size": 1, "phone": f"0812 {next(phones):08d}"})
            return answer.json()["line"] if answer is not None and answer.status_code == 201 else None

        async def leaver() -> None:
            while time.monotonic() < deadline:
                if code := await join(rng.choice(leaving)):
                    await _timed(http, leaves, "/api/line-leaves", {"line": code})

        async def walkers_leave() -> None:
            """Once the lines have formed, the claiming venues' walk-ins leave: their places go
            to the line, and each party claiming and leaving frees one for the next."""
            await asyncio.sleep(POLL_SECONDS)
            for ticket in walkers:
                await _timed(http, outs, "/api/check-outs", {"ticket": ticket})

        async def claimer(n: int) -> None:
            while time.monotonic() < deadline:
                venue = rng.choice(claiming)
                if not (code := await join(venue)):
                    continue
                while time.monotonic() < deadline:
                    await asyncio.sleep(POLL_SECONDS)
                    answer = await _timed(http, polls, "/api/line-status", {"line": code})
                    if answer is not None and answer.status_code == 200 and \
                            answer.json()["state"] == "offered":
                        break
                else:
                    return  # the run ended while waiting: the party stays in the line
                body = {"line": code, "name": "Bench Claimer", "phone": f"0813 8{n:07d}",
                        "party_size": 0}
                answer = await _timed(http, claims, f"/api/venues/{venue.signed_code}/check-ins", body)
                if answer is not None and answer.status_code == 201:
                    await _timed(http, outs, "/api/check-outs", {"ticket": answer.json()["ticket"]})

        started = time.monotonic()
        half = max(1, connections // 2)
        await asyncio.gather(*(leaver() for _ in range(half)), *(claimer(n) for n in range(half)),
                             walkers_leave())
        elapsed = time.monotonic() - started
    result = Scenario("line", elapsed)
    result.lines.append(
        f"{joins.statuses.get(201, 0) / elapsed:,.0f} joins/s, POST line p50 {joins.p(50):.1f} ms "
        f"p99 {joins.p(99):.1f} ms; {len(polls.ms) / elapsed:,.0f} status polls/s, p99 "
        f"{polls.p(99):.1f} ms; {claims.statuses.get(201, 0)} offers claimed ({claims.p(99):.1f} ms "
        f"p99), {leaves.statuses.get(200, 0)} left")
    failed = sum(t.errors() for t in (joins, leaves, polls, claims, outs))
    result.lines.append(f"{failed} errors")
    if failed:
        result.broken.append(f"{failed} line requests failed: " + str(
            {k: v for t in (joins, leaves, polls, claims, outs) for k, v in t.failures.items()}))
    if not claims.statuses.get(201):
        result.broken.append("no offer was claimed")
    result.broken += await _check_lines(database_url, redis_url, cluster, leaving + claiming,
                                        claiming)
    return result


async def _check_lines(database_url: str, redis_url: str, cluster: bool,
                       venues: list[SeededVenue], claiming: list[SeededVenue]) -> list[str]:
    engine = make_engine(database_url)
    broken = []
    try:
        async with make_sessionmaker(engine)() as session:
            for venue in claiming:  # nobody leaves these lines: offers follow the turns exactly
                entries = (await session.execute(
                    select(LineEntry.seq, LineEntry.offered_at).where(LineEntry.venue_id == venue.id)
                    .order_by(LineEntry.seq))).all()
                offered = [e.offered_at for e in entries if e.offered_at is not None]
                if [e.offered_at is not None for e in entries] != \
                        [True] * len(offered) + [False] * (len(entries) - len(offered)):
                    broken.append(f"venue {venue.id}: a later party was offered before an earlier one")
                elif offered != sorted(offered):
                    broken.append(f"venue {venue.id}: offers out of the turns' order")
            open_places = dict((await session.execute(
                select(Visit.venue_id, func.sum(Visit.party_size))
                .where(Visit.venue_id.in_([v.id for v in venues]), Visit.checked_out_at.is_(None))
                .group_by(Visit.venue_id))).all())
    finally:
        await engine.dispose()
    redis = RedisCluster.from_url(redis_url) if cluster else Redis.from_url(redis_url)
    try:
        for venue in venues:
            live = int(await redis.get(keys.count(venue.id)) or 0)
            sql = int(open_places.get(venue.id) or 0)
            if live != sql or live > venue.capacity:
                broken.append(f"venue {venue.id}: live {live}, SQL {sql}, capacity {venue.capacity}")
    finally:
        await redis.aclose()
    return broken
