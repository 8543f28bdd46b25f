"""Every Redis and SQL call is bounded (Settings: redis_timeout_seconds, sql_timeout_seconds)."""

import asyncio
import os
import signal
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text

from occupancy.db import make_engine
from occupancy.embedded_redis import EmbeddedRedis
from occupancy.kit.scripts import ScriptRunner
from occupancy.services import redis_client
from occupancy.settings import Settings
from occupancy.visits.capacity import ALL_SCRIPTS


@pytest.fixture
def own_redis():
    """A Redis of this test alone: it gets stopped."""
    with EmbeddedRedis() as server:
        yield server


async def test_a_hung_redis_fails_calls_within_the_timeout(own_redis):
    client = redis_client(Settings(redis_url=own_redis.url, redis_timeout_seconds=0.5))
    runner = ScriptRunner(client)
    await runner.load(*ALL_SCRIPTS)
    script = ALL_SCRIPTS[0]
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # hung: connections open, no replies
    try:
        start = time.monotonic()
        with pytest.raises((RedisTimeoutError, RedisConnectionError)):
            await runner.run(script, ("{v1}:x",), ())  # the hot path's pooled connection
        assert time.monotonic() - start < 1.5
        start = time.monotonic()
        with pytest.raises((RedisTimeoutError, RedisConnectionError)):
            await client.get("x")
        assert time.monotonic() - start < 1.5
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert await client.ping()
    await client.aclose()


async def test_calls_queued_behind_a_batch_fail_with_it_when_redis_hangs(own_redis):
    """One batch is in flight at a time: the calls made meanwhile do not wait twice the bound."""
    client = redis_client(Settings(redis_url=own_redis.url, redis_timeout_seconds=0.5))
    runner = ScriptRunner(client)
    await runner.load(*ALL_SCRIPTS)
    script = ALL_SCRIPTS[0]
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        first = asyncio.ensure_future(runner.run(script, ("{v1}:x",), ()))
        await asyncio.sleep(0.1)  # out, unanswered
        queued = asyncio.ensure_future(runner.run(script, ("{v1}:y",), ()))
        for call in (first, queued):
            with pytest.raises(RedisTimeoutError):
                await call
        assert time.monotonic() - start < 0.9  # one bound (0.5 s), not two
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert await client.ping()
    await client.aclose()


async def test_an_idle_subscription_does_not_time_out(own_redis):
    client = redis_client(Settings(redis_url=own_redis.url, redis_timeout_seconds=0.2))
    pubsub = client.pubsub()
    await pubsub.subscribe("channel")
    assert (await pubsub.get_message(timeout=1))["type"] == "subscribe"
    listening = asyncio.ensure_future(pubsub.get_message(timeout=None))
    await asyncio.sleep(1)  # five times the socket timeout, nothing published
    assert not listening.done()
    await client.publish("channel", "hello")
    message = await asyncio.wait_for(listening, 2)
    assert message["data"] == b"hello"
    await pubsub.aclose()
    await client.aclose()


async def test_sqlite_runs_with_the_configured_pragmas(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    for synchronous, level in (("FULL", 2), ("NORMAL", 1)):
        engine = make_engine(url, Settings(sqlite_synchronous=synchronous, sql_timeout_seconds=3))
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == level
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 3000
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        await engine.dispose()
