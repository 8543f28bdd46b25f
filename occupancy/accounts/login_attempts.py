"""Failed logins slowed per client address and per account: past a few failures in a quarter of an
hour, the login form refuses for a while, before checking anything. Counted in Redis, so every
worker agrees."""

from redis.asyncio import Redis

FREE_FAILURES = 10
WINDOW_SECONDS = 15 * 60


def _key(address: str) -> str:
    return f"occ:login-failures:{address}"


async def failed(redis: Redis, *who: str) -> None:
    """A failed sign-in by these (a client address, an account)."""
    # Not a transaction: the keys of an address and of an account may live on different nodes of
    # a Redis Cluster. Each key's INCR and EXPIRE still go together in one write.
    async with redis.pipeline(transaction=False) as pipe:
        for key in map(_key, who):
            pipe.incr(key).expire(key, WINDOW_SECONDS, nx=True)
        await pipe.execute()


async def wait_seconds(redis: Redis, *who: str) -> int:
    """0 if these may try now; else how long until the failures are forgotten."""
    wait = 0
    for key in map(_key, who):
        if int(await redis.get(key) or 0) >= FREE_FAILURES:
            wait = max(wait, await redis.ttl(key), 1)
    return wait
