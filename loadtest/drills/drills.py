"""The drills: each starts a fresh stack, runs a crowd, breaks one thing, mends it, lets the crowd
run on, stops it and judges (``verdict.judge``). One function per fault; ``scale`` says how big.

| drill | fault |
|---|---|
| redis_kill | Redis ``kill -9``, back empty (or from its AOF, everysec) after a couple of seconds |
| flushall | ``FLUSHALL`` several times under load |
| worker_kill_sql_stall | SQL stalled (write lock held), a worker ``kill -9`` while its check-ins |
| | wait for the commit; clients do not retry; the lease is 3 s |
| sql_stall_beyond_lease | SQL stalled longer than the lease (3 s), no kill: a slow write taken |
| | for an orphan must not let a venue overfill |
| sql_down | PostgreSQL ``pg_ctl stop -m immediate`` for a while, then started again |
| redis_down | Redis stopped for a while, then started empty; every route swept meanwhile |
| redis_hung | Redis SIGSTOPped for a while (connections open, no answer), every route swept |
| sigterm | the server SIGTERMed under load, started again on the same port |
"""

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import httpx

from loadtest.drills.harness import Stack
from loadtest.drills.load import Crowd, Load
from loadtest.drills.verdict import DrillResult, judge


@dataclass(frozen=True)
class Scale:
    name: str
    venues: int
    crowd: Crowd
    warm: float  # seconds of load before the fault
    after: float  # seconds of load after the fault is mended
    settle: float  # at most this long for the counts to equal SQL once the crowd stopped
    redis_gone: float  # seconds Redis stays dead after kill -9
    outage: float  # seconds Redis or SQL stays down (down, hung drills)
    flushes: int
    stall: float  # seconds SQL is stalled in the worker-kill drill


SHORT = Scale("short", venues=6, crowd=Crowd(visitors=120), warm=3, after=4, settle=25,
              redis_gone=2, outage=5, flushes=3, stall=2.0)
LONG = Scale("long", venues=20, crowd=Crowd(visitors=700), warm=10, after=20, settle=40,
             redis_gone=3, outage=10, flushes=4, stall=2.0)


@dataclass
class Sweep:
    """Every route, again and again while a dependency is down: what each answered, and how slowly."""

    answers: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    slow: Counter = field(default_factory=Counter)  # answers (or none) after more than SLOW seconds
    rounds: int = 0

    SLOW = 6.0  # seconds; generous: the machine may be busy

    @property
    def bad(self) -> dict[str, dict[str, int]]:
        """Routes that answered a 5xx other than a 503 JSON error with Retry-After."""
        def bad(answer: str) -> bool:
            return answer.startswith("5") and not answer.startswith("503 json+retry")

        return {route: {a: n for a, n in seen.items() if bad(a)}
                for route, seen in self.answers.items() if any(bad(a) for a in seen)}


def _routes(stack: Stack, venue, ticket: str, short_code: str) -> list[tuple[str, str, str, dict]]:
    """(label, method, path, request options) of every route a visitor, door, manager or
    official uses; the API's with an operator's token."""
    auth = {"headers": {"Authorization": f"Bearer {stack.operator_token}"}}
    visitor = {"name": "Sweep Visitor", "phone": "081234567890", "party_size": 1}
    return [
        ("GET /healthz", "GET", "/healthz", {}),
        ("GET /api/venues/{code}/occupancy", "GET", f"/api/venues/{venue.code}/occupancy", {}),
        ("POST /api/venues/{code}/check-ins", "POST", f"/api/venues/{venue.code}/check-ins",
         {"json": visitor}),
        ("POST /api/check-outs", "POST", "/api/check-outs", {"json": {"ticket": ticket}}),
        ("POST /api/venues/{id}/screenings", "POST", f"/api/venues/{venue.id}/screenings",
         {"json": {"ticket": ticket, "temperature": 36.5}, **auth}),
        ("POST /api/venues/{id}/visits/by-code/{code}/screening", "POST",
         f"/api/venues/{venue.id}/visits/by-code/{short_code}/screening",
         {"json": {"temperature": 36.5}, **auth}),
        ("POST /api/ticket-qr", "POST", "/api/ticket-qr", {"json": {"ticket": ticket}}),
        ("GET /api/venues/{id}", "GET", f"/api/venues/{venue.id}", auth),
        ("GET /api/venues/{id}/poster.svg", "GET", f"/api/venues/{venue.id}/poster.svg", auth),
        ("GET /api/venues/{id}/today", "GET", f"/api/venues/{venue.id}/today", auth),
        ("GET /api/venues/{id}/visits.csv", "GET", f"/api/venues/{venue.id}/visits.csv", auth),
        ("GET /api/city/now", "GET", "/api/city/now", auth),
        ("GET /api/city/history", "GET", "/api/city/history", auth),
        ("GET /api/city/history.csv", "GET", "/api/city/history.csv", auth),
        ("GET /metrics", "GET", "/metrics", auth),
        ("GET /", "GET", "/", {}),
        ("GET /v/{code}", "GET", f"/v/{venue.code}", {}),
        ("GET /door/{code}", "GET", f"/door/{venue.code}", {}),
        ("GET /display/{code}", "GET", f"/display/{venue.code}", {}),
        ("GET /city", "GET", "/city", auth),
        ("GET /manage/venues/{id}", "GET", f"/manage/venues/{venue.id}", auth),
        ("GET /login", "GET", "/login", {}),
    ]


def _describe(response: httpx.Response) -> str:
    if response.status_code < 500:
        return str(response.status_code)
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} not-json"
    retry = "+retry" if response.headers.get("retry-after") else " no-retry-after"
    return f"{response.status_code} json{retry} {code}"


async def sweep_routes(stack: Stack, load: Load, until: asyncio.Event, sweep: Sweep) -> None:
    """Every route in turn until ``until`` is set (each request has 10 s)."""
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=10) as http:
        # A visit of the sweep's own, made before the outage, for the ticket routes (at whichever
        # venue has room).
        answer, venue, give_up = None, stack.venues[0], time.monotonic() + 120
        while answer is None and time.monotonic() < give_up:
            for venue in stack.venues:
                try:
                    response = await http.post(f"/api/venues/{venue.code}/check-ins", json={
                        "name": "Sweep Visitor", "phone": "081234567890", "party_size": 1,
                        "idempotency_key": uuid.uuid4().hex})
                except httpx.HTTPError:
                    continue
                if response.status_code == 201:
                    answer = response.json()
                    load.answers.check_ins[answer["visit_id"]] = (answer["ticket"], venue.id)
                    break
            else:
                await asyncio.sleep(0.2)
        if answer is None:
            raise RuntimeError("the sweep could not check in before the outage")
        until.ready.set()  # type: ignore[attr-defined]
        routes = _routes(stack, venue, answer["ticket"], answer["short_code"])
        await until.wait_started.wait()  # type: ignore[attr-defined]
        while not until.is_set():
            sweep.rounds += 1
            for label, method, path, options in routes:
                if until.is_set():
                    break
                started = time.monotonic()
                try:
                    response = await http.request(method, path, **options)
                except httpx.HTTPError as exc:
                    seen = f"no answer ({type(exc).__name__})"
                else:
                    seen = _describe(response)
                    if label.startswith("POST /api/venues/{code}/check-ins") and response.status_code == 201:
                        body = response.json()
                        load.answers.check_ins[body["visit_id"]] = (body["ticket"], venue.id)
                if time.monotonic() - started > Sweep.SLOW:
                    sweep.slow[label] += 1
                sweep.answers[label][seen] += 1


class _Outage(asyncio.Event):
    """Set when the outage is over; ``wait_started`` when it has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()  # the sweep has its visit: the outage may begin
        self.wait_started = asyncio.Event()


async def _run(fault: str, stack: Stack, scale: Scale, act, crowd: Crowd | None = None,
               seed: int = 1) -> DrillResult:
    """A crowd on ``stack``, ``act(stack, load, notes)`` in the middle, then the verdict; at the
    end everyone still inside leaves, so the next drill on the stack starts empty."""
    started = time.monotonic()
    load = await Load(stack, crowd or scale.crowd, seed=seed).start()
    notes: list[str] = []
    try:
        await asyncio.sleep(scale.warm)
        await act(stack, load, notes)
        await asyncio.sleep(scale.after)
    finally:
        await load.stop()
    result = await judge(fault, stack, load, started, settle=scale.settle)
    result.notes += notes
    if left := await load.empty_venues():
        result.notes.append(f"{left} visitors could not be checked out after the drill")
    return result


# The drills -------------------------------------------------------------------------------------


async def redis_kill(stack: Stack, scale: Scale = SHORT) -> DrillResult:
    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        stack.redis.kill9()
        await asyncio.sleep(scale.redis_gone)
        await asyncio.to_thread(stack.redis.restart, not aof)
        notes.append(f"Redis dead {scale.redis_gone:.0f} s, back " + ("from its AOF" if aof else "empty"))

    aof = stack.aof
    name = "Redis kill -9, back from AOF (everysec)" if aof else "Redis kill -9, back empty"
    return await _run(name, stack, scale, act)


async def flushall(stack: Stack, scale: Scale = SHORT) -> DrillResult:
    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        for _ in range(scale.flushes):
            await asyncio.to_thread(stack.redis.flushall)
            await asyncio.sleep(3)

    return await _run(f"FLUSHALL x{scale.flushes} under load", stack, scale, act)


LEASE = "3"
# The stack each drill needs (``Stack`` options); drills not named here run on a plain one.
# The lease outlasts any SQL write (settings refuse otherwise): a stalled write fails at 2 s.
LEASE_ENV = {"OCCUPANCY_LEASE_SECONDS": LEASE, "OCCUPANCY_SQL_TIMEOUT_SECONDS": "2"}
STACKS = {
    "worker_kill_sql_stall": {"env": LEASE_ENV},
    "sql_stall_beyond_lease": {"env": LEASE_ENV},
    "sql_down": {"db": "postgresql", "own_cluster": True},
}


async def worker_kill_sql_stall(stack: Stack, scale: Scale = SHORT) -> DrillResult:
    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        async with stack.database.stalled():
            await asyncio.sleep(scale.stall / 2)  # check-ins pile up waiting for the commit
            pid = stack.server.kill_worker(random.Random(1))
            await asyncio.sleep(scale.stall / 2)
        notes.append(f"SQL stalled {scale.stall:.1f} s; worker {pid} killed halfway; lease {LEASE} s; "
                     "clients do not retry")

    crowd = replace(scale.crowd, retry=False)
    return await _run("worker kill -9 during an SQL stall", stack, scale, act, crowd=crowd)


async def sql_stall_beyond_lease(stack: Stack, scale: Scale = SHORT) -> DrillResult:
    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        async with stack.database.stalled():
            await asyncio.sleep(2 * float(LEASE) + 1)
        notes.append(f"SQL stalled {2 * float(LEASE) + 1:.0f} s, lease {LEASE} s")

    return await _run("SQL stall longer than the lease", stack, scale, act)


async def _outage(stack: Stack, load: Load, notes: list[str], seconds: float, down, up) -> Sweep:
    sweep, over = Sweep(), _Outage()
    sweeper = asyncio.create_task(sweep_routes(stack, load, over, sweep))
    # Its own visit is made before the outage.
    await asyncio.wait([sweeper, asyncio.ensure_future(over.ready.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if sweeper.done():
        await sweeper  # it failed: say why
    await asyncio.to_thread(down)
    try:
        over.wait_started.set()
        await asyncio.sleep(seconds)
        over.set()
        await sweeper
    finally:
        over.set()
        await asyncio.to_thread(up)
    notes.append(f"{sweep.rounds} sweeps of every route during {seconds:.0f} s")
    return sweep


async def sql_down(stack: Stack, scale: Scale = SHORT) -> tuple[DrillResult, Sweep]:
    sweep = Sweep()

    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        cluster = stack.database.cluster
        found = await _outage(stack, load, notes, scale.outage, lambda: cluster.stop("immediate"),
                              cluster.start)
        sweep.__dict__.update(found.__dict__)

    result = await _run(f"PostgreSQL down {scale.outage:.0f} s (stop -m immediate)", stack, scale,
                        act)
    return result, sweep


async def redis_down(stack: Stack, scale: Scale = SHORT) -> tuple[DrillResult, Sweep]:
    sweep = Sweep()

    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        found = await _outage(stack, load, notes, scale.outage, stack.redis.stop, stack.redis.start)
        sweep.__dict__.update(found.__dict__)

    result = await _run(f"Redis down {scale.outage:.0f} s, back empty", stack, scale, act)
    return result, sweep


async def redis_hung(stack: Stack, scale: Scale = SHORT) -> tuple[DrillResult, Sweep]:
    sweep = Sweep()

    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        found = await _outage(stack, load, notes, scale.outage * 2, stack.redis.pause,
                              stack.redis.resume)
        sweep.__dict__.update(found.__dict__)

    result = await _run(f"Redis hung (SIGSTOP) {scale.outage * 2:.0f} s", stack, scale, act)
    return result, sweep


async def sigterm(stack: Stack, scale: Scale = SHORT) -> DrillResult:
    async def act(stack: Stack, load: Load, notes: list[str]) -> None:
        began = time.monotonic()
        stack.server.terminate()
        code = await asyncio.to_thread(stack.server.wait, 60)
        stopped = time.monotonic() - began
        await asyncio.to_thread(stack.server.start)
        notes.append(f"SIGTERM: exited with {code} after {stopped:.1f} s; serving again after "
                     f"{time.monotonic() - began:.1f} s")

    return await _run("SIGTERM under load, restarted", stack, scale, act)
