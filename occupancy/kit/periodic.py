"""Periodic jobs: every N seconds, in one process at a time (whichever takes a Redis lock)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

log = logging.getLogger(__name__)


async def every(interval: float, lock: str, redis: Redis, job: Callable[[], Awaitable[object]],
                name: str) -> None:
    """Run ``job`` every ``interval`` seconds in whichever process takes ``lock`` first.

    The lock lives a little less than one interval, so a process that died holding it blocks
    nobody for long, and a job never runs twice in one interval.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            if await redis.set(lock, "1", nx=True, px=max(1, int(interval * 900))):
                await job()
        except Exception:
            log.exception("%s failed; will try again", name)
