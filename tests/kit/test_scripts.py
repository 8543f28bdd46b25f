"""The ScriptRunner on a real Redis: calls made while a batch is out go together in the next one,
each answered with its own result."""

import asyncio

from redis.asyncio import Redis

from occupancy.kit.scripts import Script, ScriptRunner


class BatchesSeen(ScriptRunner):
    """The service's runner, noting the size of each batch it sends."""

    def __init__(self, client) -> None:
        super().__init__(client)
        self.batches: list[int] = []

    async def _execute(self, batch: list) -> list:
        self.batches.append(len(batch))
        return await super()._execute(batch)


async def test_calls_made_while_a_batch_is_out_go_together_in_the_next(redis_url, tmp_path):
    echo_file = tmp_path / "echo.lua"
    # ARGV[2]: a count of empty turns, to keep Redis busy a while (0.1-1 s for the first call)
    echo_file.write_text("for _ = 1, tonumber(ARGV[2]) do end return ARGV[1]")
    echo = Script(echo_file)
    client = Redis.from_url(redis_url)
    runner = BatchesSeen(client)
    await runner.load(echo)
    first = asyncio.ensure_future(runner.run(echo, ("{v1}:a",), ("first", 30_000_000)))
    while not runner.batches:  # its batch goes out; Redis is busy with it a while
        await asyncio.sleep(0)
    runner.post(echo, ("{v1}:posted",), ("posted", 0))
    later = [asyncio.ensure_future(runner.run(echo, (f"{{v1}}:{i}",), (f"call {i}", 0)))
             for i in range(10)]
    assert await first == b"first"
    assert await asyncio.gather(*later) == [f"call {i}".encode() for i in range(10)]
    assert runner.batches == [1, 11]
    await client.aclose()
