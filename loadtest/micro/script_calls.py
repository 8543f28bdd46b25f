"""CPU per check-in script call on the client side, the ScriptRunner in use against redis-py's
Pipeline doing the same batches, alternating in one process (so machine noise hits both alike).

    uv run python -m loadtest.micro.script_calls

Each round: 64 concurrent CapacityStore.admit calls (as under 64 connections of load), 200 rounds;
the figure is process CPU time per call (client only: Redis is another process). Then check-ins
arriving spread out in time, as requests do over HTTP, with one batch in flight at a time (the
calls made meanwhile go together in the next) against a batch sent every event-loop tick.
"""

import asyncio
import random
import statistics
import time
import uuid

import uvloop
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from occupancy import redis_keys as keys
from occupancy.embedded_redis import EmbeddedRedis
from occupancy.kit.scripts import ScriptRunner
from occupancy.visits.capacity import ALL_SCRIPTS, CapacityStore

VENUE = 1


class TimerPerReply(ScriptRunner):
    """The ScriptRunner before 2026-12-07: redis-py's read_response arms (and cancels) a timer
    for its socket timeout around every reply of a batch."""

    @staticmethod
    async def _round_trip(connection, packed: bytes, replies: int) -> list:
        await connection.send_packed_command(packed, check_health=False)
        results = []
        for _ in range(replies):
            try:
                results.append(await connection.read_response())
            except ResponseError as exc:
                results.append(exc)
        return results


class BatchEveryTick(ScriptRunner):
    """The ScriptRunner before it kept one batch in flight: every tick's calls sent at once."""

    one_batch_in_flight = False


class PipelineRunner(ScriptRunner):
    """The reference: each tick's calls through redis-py's non-transactional Pipeline."""

    async def _execute(self, batch: list) -> list:
        pipe = self.client.pipeline(transaction=False)
        for script, script_keys, args, _ in batch:
            pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
        return await pipe.execute(raise_on_error=False)


async def cpu_per_call(client: Redis, runner_class: type[ScriptRunner], rounds: int, width: int) -> float:
    runner = runner_class(client)
    await runner.load(*ALL_SCRIPTS)
    store = CapacityStore(runner)

    async def admit() -> None:
        live = await store.admit(VENUE, uuid.uuid4().hex, 1, uuid.uuid4().hex, time.time())
        assert live.status == "ok", live

    started = time.process_time()
    for _ in range(rounds):
        await asyncio.gather(*(admit() for _ in range(width)))
    return (time.process_time() - started) / (rounds * width) * 1e6


async def cpu_per_check_in(client: Redis, runner_class: type[ScriptRunner], clients: int,
                           check_ins: int) -> float:
    """Requests arriving spread out, as over HTTP: ``clients`` loops, each an admit awaited and
    its confirm posted (a check-in's two calls), then a pause of 0-2 ms."""
    runner = runner_class(client)
    await runner.load(*ALL_SCRIPTS)
    store = CapacityStore(runner)
    pauses = random.Random(1)

    async def visitor() -> None:
        for _ in range(check_ins):
            ticket, visit = uuid.uuid4().hex, uuid.uuid4().hex
            live = await store.admit(VENUE, ticket, 1, visit, time.time())
            assert live.status == "ok", live
            store.confirm(VENUE, ticket, visit, 1, live.checked_in_at)
            await asyncio.sleep(pauses.uniform(0, 0.002))

    started = time.process_time()
    await asyncio.gather(*(visitor() for _ in range(clients)))
    return (time.process_time() - started) / (clients * check_ins) * 1e6


async def spread_out(url: str, repeats: int = 6, clients: int = 32, check_ins: int = 100) -> None:
    client = Redis.from_url(url, socket_timeout=2.0, health_check_interval=5)
    await client.hset(keys.config(VENUE), mapping={"capacity": 10**12, "paused": "0"})
    figures: dict[str, list[float]] = {"a batch every tick": [], "one batch in flight (in use)": []}
    for _ in range(repeats):
        for name, runner_class in zip(figures, (BatchEveryTick, ScriptRunner), strict=True):
            figures[name].append(await cpu_per_check_in(client, runner_class, clients, check_ins))
    await client.aclose()
    print(f"check-ins arriving spread out ({clients} clients, admit + confirm each):")
    for name, values in figures.items():
        print(f"{name:<40} median {statistics.median(values):6.1f} us CPU/check-in  "
              f"({' '.join(f'{v:.0f}' for v in values)})")


async def main(url: str, repeats: int = 4, rounds: int = 200, width: int = 64) -> None:
    # The service's client options that matter here (occupancy.services.redis_client).
    client = Redis.from_url(url, socket_timeout=2.0, health_check_interval=5)
    await client.hset(keys.config(VENUE), mapping={"capacity": 10**12, "paused": "0"})
    figures: dict[str, list[float]] = {"PipelineRunner (redis-py Pipeline)": [],
                                       "ScriptRunner, a timer per reply": [], "ScriptRunner (in use)": []}
    for _ in range(repeats):
        for name, runner_class in zip(figures, (PipelineRunner, TimerPerReply, ScriptRunner), strict=True):
            figures[name].append(await cpu_per_call(client, runner_class, rounds, width))
    await client.aclose()
    for name, values in figures.items():
        print(f"{name:<36} median {statistics.median(values):6.1f} us CPU/call  "
              f"({' '.join(f'{v:.0f}' for v in values)})")


if __name__ == "__main__":
    with EmbeddedRedis() as server:
        uvloop.run(main(server.url))  # the service's event loop
        uvloop.run(spread_out(server.url))
