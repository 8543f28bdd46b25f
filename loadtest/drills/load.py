"""The crowd and the watchers of a drill: simulated visitors checking in and out (retrying with the
same idempotency key, or not), a poller reading every venue's count every 50 ms, and what the
clients were told, counted by status and error code."""

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import redis

from loadtest.drills.harness import Stack
from occupancy import redis_keys as keys


@dataclass
class Answers:
    """What the clients were told: statuses by code, and the acknowledged writes."""

    statuses: Counter = field(default_factory=Counter)  # "201", "409 venue_full", "503 rebuilding"...
    bad_5xx: Counter = field(default_factory=Counter)  # 5xx other than a 503 JSON error: by kind
    bad_examples: list[str] = field(default_factory=list)
    no_retry_after: Counter = field(default_factory=Counter)  # 503s without Retry-After, by code
    check_ins: dict[str, tuple[str, int]] = field(default_factory=dict)  # visit id -> (ticket, venue)
    check_outs: set[str] = field(default_factory=set)  # visit ids
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (time, seconds) of 201s

    def record(self, what: str, response: httpx.Response) -> str:
        """Count one answer; return its error code ('' for a success)."""
        status = response.status_code
        code = ""
        is_json = response.headers.get("content-type", "").startswith("application/json")
        if status >= 400:
            try:
                code = response.json()["error"]["code"] if is_json else ""
            except (ValueError, KeyError, TypeError):
                code = ""
        self.statuses[f"{status} {code or ('' if is_json else 'not-json')}".strip()] += 1
        if status >= 500:
            if status != 503 or not code:
                kind = f"{status} {code or 'not-json'}"
                self.bad_5xx[kind] += 1
                if len(self.bad_examples) < 10:
                    self.bad_examples.append(f"{what}: {kind} {response.text[:160]!r}")
            elif not response.headers.get("retry-after"):
                self.no_retry_after[code] += 1
        return code

    def failed(self, what: str, exc: Exception) -> None:
        self.statuses[f"no answer ({type(exc).__name__})"] += 1

    @property
    def n503(self) -> int:
        return sum(n for key, n in self.statuses.items() if key.startswith("503"))


@dataclass
class Crowd:
    visitors: int = 120
    parties: tuple[int, int] = (1, 4)
    stay: tuple[float, float] = (0.5, 3.0)  # seconds inside
    pause: tuple[float, float] = (0.1, 0.6)  # seconds between visits
    retry: bool = True  # retry a failed request with the same idempotency key
    give_up: float = 30.0  # seconds of retrying one request
    timeout: float = 10.0  # per request


class Load:
    """Visitors and pollers against a running stack; ``start()``, then ``stop()``."""

    def __init__(self, stack: Stack, crowd: Crowd, seed: int = 7) -> None:
        self.stack = stack
        self.crowd = crowd
        self.rng = random.Random(seed)
        self.answers = Answers()
        self.poller = Poller(stack)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.http: httpx.AsyncClient | None = None
        self.inside: dict[str, str] = {}  # visit id -> ticket, of acknowledged visits not checked out

    async def start(self) -> "Load":
        limits = httpx.Limits(max_connections=min(200, self.crowd.visitors), max_keepalive_connections=100)
        self.http = httpx.AsyncClient(base_url=self.stack.server.url, limits=limits,
                                      timeout=self.crowd.timeout)
        self.poller.start()
        self._tasks = [asyncio.create_task(self._visitor(i)) for i in range(self.crowd.visitors)]
        self._tasks.append(asyncio.create_task(self._public_poller()))
        return self

    async def stop(self) -> None:
        """No new visits; the requests under way finish (or give up), then the pollers stop."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.poller.stop()
        await self.http.aclose()

    async def empty_venues(self) -> int:
        """After the verdict: check out everyone the crowd left inside, so that the next drill on
        this stack starts with empty venues. Returns how many could not be checked out."""
        async with httpx.AsyncClient(base_url=self.stack.server.url, timeout=10) as http:
            async def leave(ticket: str) -> bool:
                for _ in range(20):
                    with contextlib.suppress(httpx.HTTPError):
                        response = await http.post("/api/check-outs", json={"ticket": ticket})
                        if response.status_code in (200, 404, 409):
                            return True
                    await asyncio.sleep(0.5)
                return False

            semaphore = asyncio.Semaphore(20)

            async def bounded(ticket: str) -> bool:
                async with semaphore:
                    return await leave(ticket)

            done = await asyncio.gather(*(bounded(t) for t in self.inside.values()))
        return sum(not ok for ok in done)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def _request(self, what: str, method: str, url: str, **kwargs) -> httpx.Response | None:
        """One request, retried (same body, so same idempotency key) on no answer or a 5xx while
        the crowd retries; None if it never got an answer worth keeping."""
        give_up = time.monotonic() + self.crowd.give_up
        while True:
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                self.answers.failed(what, exc)
                response = None
            else:
                self.answers.record(what, response)
                if response.status_code < 500:
                    return response
            if not self.crowd.retry or time.monotonic() > give_up:
                return response
            wait = 0.2
            if response is not None and (after := response.headers.get("retry-after", "")).isdigit():
                wait = min(float(after), 2.0)
            await asyncio.sleep(wait * self.rng.uniform(0.5, 1.5))

    async def _visitor(self, i: int) -> None:
        rng = random.Random(self.rng.random())
        await asyncio.sleep(rng.uniform(0, 0.01 * self.crowd.visitors))  # not all at once
        venues = self.stack.venues
        while not self.stopping:
            venue = rng.choice(venues)
            body = {"name": "Drill Visitor", "phone": "081234567890",
                    "party_size": rng.randint(*self.crowd.parties),
                    "idempotency_key": uuid.uuid4().hex}
            sent = time.monotonic()
            response = await self._request("check-in", "POST", f"/api/venues/{venue.code}/check-ins",
                                           json=body)
            if response is None or response.status_code not in (200, 201):
                await asyncio.sleep(rng.uniform(0.3, 1.0))
                continue
            answer = response.json()
            self.answers.check_ins[answer["visit_id"]] = (answer["ticket"], venue.id)
            self.answers.latencies.append((time.time(), time.monotonic() - sent))
            self.inside[answer["visit_id"]] = answer["ticket"]
            await self._sleep(rng.uniform(*self.crowd.stay))
            if self.stopping:
                return  # the last visitors stay inside: at rest, the counts must include them
            out = await self._request("check-out", "POST", "/api/check-outs",
                                      json={"ticket": answer["ticket"]})
            if out is not None and out.status_code == 200:
                self.answers.check_outs.add(answer["visit_id"])
                self.inside.pop(answer["visit_id"], None)
            await self._sleep(rng.uniform(*self.crowd.pause))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _public_poller(self) -> None:
        """The public headcount of one venue after another, every 50 ms (as phones read it)."""
        for i in range(10**9):
            if self.stopping:
                return
            venue = self.stack.venues[i % len(self.stack.venues)]
            try:
                response = await self.http.get(f"/api/venues/{venue.code}/occupancy")
            except httpx.HTTPError as exc:
                self.answers.failed("occupancy", exc)
            else:
                self.answers.record("occupancy", response)
                if response.status_code == 200:
                    body = response.json()
                    self.poller.seen(venue.id, body["count"], venue.capacity, "public")
            await asyncio.sleep(0.05)


class Poller(threading.Thread):
    """Every venue's count read straight from Redis every 50 ms (in a thread of its own, so a busy
    event loop does not slow it); remembers the fullest moment and every one over capacity."""

    def __init__(self, stack: Stack, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.every = every
        self.samples = 0
        self.failures = 0
        self.max_ratio = 0.0
        self.max_seen = ""
        self.over: list[str] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.client = redis.Redis(host="127.0.0.1", port=stack.redis.port, socket_timeout=0.5,
                                  socket_connect_timeout=0.5)

    def seen(self, venue_id: int, count: int, capacity: int, where: str) -> None:
        with self._lock:
            ratio = count / capacity
            if ratio > self.max_ratio:
                self.max_ratio, self.max_seen = ratio, f"{count}/{capacity} (venue {venue_id}, {where})"
            if count > capacity and len(self.over) < 50:
                self.over.append(f"venue {venue_id}: {count}/{capacity} ({where}, "
                                 f"{time.strftime('%H:%M:%S')})")

    def run(self) -> None:
        venues = self.stack.venues
        while not self._done.wait(self.every):
            try:
                pipe = self.client.pipeline(transaction=False)
                for venue in venues:
                    pipe.get(keys.count(venue.id))
                counts = pipe.execute()
            except redis.RedisError:
                self.failures += 1
                continue
            self.samples += 1
            for venue, count in zip(venues, counts, strict=True):
                self.seen(venue.id, int(count or 0), venue.capacity, "Redis")

    def stop(self) -> None:
        self._done.set()
        if self.ident is not None:
            self.join()
        self.client.close()
