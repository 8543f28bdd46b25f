"""Failed logins slowed per client address: past a few failures in a quarter of an hour, the login
form refuses for a while, before checking anything. Counted in Redis, so every worker agrees."""

from redis.asyncio import Redis

FREE_FAILURES = 10
WINDOW_SECONDS = 15 * 60


def _key(address: str) -> str:
    return f"occ:login-failures:{address}"


async def failed(redis: Redis, address: str) -> None:
    key = _key(address)
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.incr(key).expire(key, WINDOW_SECONDS, nx=True).execute()


async def wait_seconds(redis: Redis, address: str) -> int:
    """0 if this address may try now; else how long until its failures are forgotten."""
    failures = int(await redis.get(_key(address)) or 0)
    if failures < FREE_FAILURES:
        return 0
    return max(1, await redis.ttl(_key(address)))
