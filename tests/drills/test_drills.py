"""The fault drills, short: ``occupancy serve --workers 2`` on real Redis and SQL servers, a crowd
of visitors checking in and out, and one fault each (loadtest/drills; the long versions:
``uv run python -m loadtest.drills --long``, docs/reliability.md).

Each drill asserts the product's promise after the fault:
- no venue ever above its capacity (counts polled every 50 ms, and open visits in SQL at rest);
- every acknowledged check-in and check-out is in SQL;
- at rest, every venue's count equals its open visits in SQL within seconds, by the service
  alone (no ``occupancy reconcile``);
- no 5xx other than a 503 with a JSON error body (and Retry-After).

The drills share a few stacks (starting one is slow on a busy machine); each drill leaves its
venues empty for the next. Assertions are on outcomes, with generous deadlines, not on latencies.
"""

import pytest

from loadtest.drills import drills
from loadtest.drills.harness import Stack, postgres_available
from loadtest.drills.verdict import DrillResult


@pytest.fixture(scope="module")
async def plain_stack():
    async with Stack("sqlite", venues=6) as stack:
        yield stack


@pytest.fixture(scope="module")
async def lease_stack():
    async with Stack("sqlite", venues=6, **drills.STACKS["worker_kill_sql_stall"]) as stack:
        yield stack


@pytest.fixture(scope="module")
async def postgres_stack():
    if not postgres_available():
        pytest.skip("no PostgreSQL binaries for a private cluster")
    async with Stack(venues=6, **drills.STACKS["sql_down"]) as stack:
        yield stack


_done: dict[str, object] = {}


async def _once(name: str, stack: Stack):
    """Each drill runs once; its invariants and its answers are asserted by separate tests."""
    if name not in _done:
        _done[name] = await getattr(drills, name)(stack)
    return _done[name]


def assert_invariants(result: DrillResult) -> None:
    assert result.acked_check_ins >= 20, "the crowd hardly got in:\n" + result.explain()
    assert not result.over_capacity, "a venue went over its capacity:\n" + result.explain()
    assert not result.lost, "an acknowledged visit is not in SQL:\n" + result.explain()
    assert not result.differing, "counts did not come back to SQL at rest:\n" + result.explain()


def assert_clear_answers(result: DrillResult, sweep: drills.Sweep | None = None) -> None:
    assert not result.bad_5xx, "a 5xx other than a 503 JSON error:\n" + result.explain()
    assert not result.no_retry_after, "a 503 without Retry-After:\n" + result.explain()
    if sweep is not None:
        assert sweep.rounds >= 1
        assert not sweep.bad, f"routes answered otherwise during the outage: {sweep.bad}"


# Redis kill -9 -----------------------------------------------------------------------------------

async def test_redis_kill_9_back_empty_keeps_the_invariants(plain_stack):
    assert_invariants(await _once("redis_kill", plain_stack))


async def test_redis_kill_9_back_empty_answers_clearly(plain_stack):
    assert_clear_answers(await _once("redis_kill", plain_stack))


# FLUSHALL under load -----------------------------------------------------------------------------

async def test_flushall_under_load_keeps_the_invariants(plain_stack):
    assert_invariants(await _once("flushall", plain_stack))


async def test_flushall_under_load_answers_clearly(plain_stack):
    assert_clear_answers(await _once("flushall", plain_stack))


# Redis down, Redis hung --------------------------------------------------------------------------

async def test_redis_down_keeps_the_invariants(plain_stack):
    result, _ = await _once("redis_down", plain_stack)
    assert_invariants(result)


async def test_redis_down_every_route_answers_503_json_with_retry_after(plain_stack):
    assert_clear_answers(*await _once("redis_down", plain_stack))


async def test_redis_hung_keeps_the_invariants(plain_stack):
    result, _ = await _once("redis_hung", plain_stack)
    assert_invariants(result)


async def test_redis_hung_every_route_answers_in_time(plain_stack):
    result, sweep = await _once("redis_hung", plain_stack)
    assert not sweep.slow, f"answered after more than {sweep.SLOW} s (or not at all): {dict(sweep.slow)}"
    assert_clear_answers(result, sweep)


# SIGTERM under load ------------------------------------------------------------------------------

async def test_sigterm_under_load_loses_nothing_acknowledged(plain_stack):
    assert_invariants(await _once("sigterm", plain_stack))


async def test_sigterm_under_load_answers_clearly(plain_stack):
    assert_clear_answers(await _once("sigterm", plain_stack))


# A worker killed while its check-ins wait for SQL ------------------------------------------------

async def test_worker_kill_during_sql_stall_releases_its_orphans(lease_stack):
    result = await _once("worker_kill_sql_stall", lease_stack)
    assert_invariants(result)


async def test_worker_kill_during_sql_stall_answers_clearly(lease_stack):
    assert_clear_answers(await _once("worker_kill_sql_stall", lease_stack))


async def test_sql_stall_longer_than_the_lease_keeps_the_invariants(lease_stack):
    assert_invariants(await _once("sql_stall_beyond_lease", lease_stack))


# PostgreSQL down ---------------------------------------------------------------------------------

async def test_postgresql_down_keeps_the_invariants(postgres_stack):
    result, _ = await _once("sql_down", postgres_stack)
    assert_invariants(result)


async def test_postgresql_down_every_route_answers_503_json_with_retry_after(postgres_stack):
    assert_clear_answers(*await _once("sql_down", postgres_stack))
