"""CPU per check-in script call on the client side, the ScriptRunner in use against redis-py's
Pipeline doing the same batches, alternating in one process (so machine noise hits both alike).

    uv run python -m loadtest.micro.script_calls

Each round: 64 concurrent CapacityStore.admit calls (as under 64 connections of load), 200 rounds;
the figure is process CPU time per call (client only: Redis is another process).
"""

import asyncio
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
