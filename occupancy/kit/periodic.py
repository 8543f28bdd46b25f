"""Periodic jobs, declared once: every N seconds, either in one process at a time (whichever
takes a Redis lock) or in every process (for what each process keeps, such as its venue cache).

A job that fails is logged and tried again at its next turn; the loop never ends by itself.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Gauge
from redis.asyncio import Redis

log = logging.getLogger(__name__)

# For the alert "a job has not run": its last good run (or the start of its schedule) and how
# often it should run. The newest of all processes counts (a locked job runs in any one of them).
LAST_SUCCESS = Gauge("occupancy_periodic_last_success_seconds", "When a periodic job last ran "
                     "without failing (Unix time; the start of its schedule before that)", ["task"],
                     multiprocess_mode="max")
INTERVAL = Gauge("occupancy_periodic_interval_seconds", "How often a periodic job is due",
                 ["task"], multiprocess_mode="max")


@dataclass(frozen=True)
class Job:
    name: str  # for the log: "automatic check-out"
    interval: float  # seconds between runs
    run: Callable[[], Awaitable[object]]
    lock: str | None = None  # a Redis key: one process at a time; None: every process
    quiet: bool = False  # a failure is expected now and then (a dependency away): no traceback


async def every(job: Job, redis: Redis | None = None) -> None:
    """Run ``job`` every ``job.interval`` seconds, forever.

    With a lock, the lock lives a little less than one interval, so a process that died holding
    it blocks nobody for long, and the job never runs twice in one interval.
    """
    if job.lock is not None and redis is None:
        raise ValueError(f"{job.name}: a job with a lock needs Redis")
    INTERVAL.labels(job.name).set(job.interval)
    LAST_SUCCESS.labels(job.name).set_to_current_time()
    while True:
        await asyncio.sleep(job.interval)
        try:
            if job.lock is None or await redis.set(
                    job.lock, "1", nx=True, px=max(1, int(job.interval * 900))):
                await job.run()
                LAST_SUCCESS.labels(job.name).set_to_current_time()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if job.quiet:
                log.warning("%s failed (%s); will try again", job.name, type(exc).__name__)
            else:
                log.exception("%s failed; will try again", job.name)
