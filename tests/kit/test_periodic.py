"""Periodic jobs against a real Redis: with a lock, one process at a time runs the job; without,
every process does; a failing job is tried again at its next turn."""

import asyncio
import contextlib
import logging
import time

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from occupancy.kit import periodic

INTERVAL = 0.2


@contextlib.asynccontextmanager
async def running(*jobs, redis=None):
    """Each job's loop as if in its own process, for the duration of the block."""
    tasks = [asyncio.create_task(periodic.every(job, redis)) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(condition, timeout: float = 20.0) -> None:
    """Wait for ``condition()``: turns come late on a busy machine, but they come."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_with_a_lock_one_process_at_a_time_runs_the_job(redis_url):
    redis = Redis.from_url(redis_url)
    runs: list[tuple[str, float]] = []

    def job(process: str) -> periodic.Job:
        async def run():
            runs.append((process, time.monotonic()))
        return periodic.Job("rollup", INTERVAL, run, lock="test:periodic:lock")

    async with running(job("a"), job("b"), job("c"), redis=redis):
        await until(lambda: len(runs) >= 5)
    await redis.aclose()

    # All three wake in the same turn; without the lock they would run at the same moment.
    gaps = [later - earlier for (_, earlier), (_, later) in zip(runs, runs[1:], strict=False)]
    assert min(gaps) > INTERVAL / 4, runs


async def test_without_a_lock_every_process_runs_the_job():
    runs: list[str] = []

    def job(process: str) -> periodic.Job:
        async def run():
            runs.append(process)
        return periodic.Job("venue cache refresh", INTERVAL, run)

    async with running(job("a"), job("b")):
        await until(lambda: runs.count("a") >= 2 and runs.count("b") >= 2)


async def test_a_failing_job_is_logged_and_tried_again(caplog):
    calls = 0

    async def run():
        nonlocal calls
        calls += 1
        raise ConnectionError("SQL away")

    with caplog.at_level(logging.WARNING, logger="occupancy.kit.periodic"):
        async with running(periodic.Job("venue cache refresh", INTERVAL, run, quiet=True)):
            await until(lambda: calls >= 2)

    assert "venue cache refresh failed (ConnectionError); will try again" in caplog.text
    assert "Traceback" not in caplog.text


async def test_a_jobs_last_good_run_is_exported_for_the_late_job_alert():
    def last_success(name: str) -> float | None:
        return REGISTRY.get_sample_value("occupancy_periodic_last_success_seconds", {"task": name})

    turns = 0

    async def fails_after_two_turns():
        nonlocal turns
        turns += 1
        if turns > 2:
            raise RuntimeError("the job's dependency is away")

    started = time.time()
    job = periodic.Job("exported job", INTERVAL, fails_after_two_turns, quiet=True)
    async with running(job):
        await until(lambda: turns >= 2)
        after_two = last_success("exported job")
        await until(lambda: turns >= 4)
        assert last_success("exported job") == after_two  # failed turns leave it
    assert started <= after_two <= time.time()
    assert REGISTRY.get_sample_value("occupancy_periodic_interval_seconds",
                                     {"task": "exported job"}) == INTERVAL
