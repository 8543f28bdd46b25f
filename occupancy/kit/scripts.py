"""Lua scripts called by SHA, with the calls of concurrent requests sent as one pipeline.

Each request awaits its own result, but every call made during one event-loop tick goes to Redis
in a single write: one round trip (and one syscall pair) for many requests. The calls are packed
by hiredis (C) and the replies read straight from a pooled redis-py connection: redis-py's own
Pipeline packs in Python and wraps each batch in more machinery, about a third of the client's
CPU per call (``python -m loadtest.micro.script_calls``).
"""

import asyncio
import hashlib
from pathlib import Path

from hiredis import pack_command
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError


class Script:
    def __init__(self, path: Path) -> None:
        self.name = path.stem
        self.source = path.read_text()
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()


class ScriptRunner:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._pending: list[tuple[Script, tuple, tuple, asyncio.Future]] = []
        self._flush_scheduled = False
        self._in_flight: set[asyncio.Task] = set()

    async def load(self, *scripts: Script) -> None:
        for script in scripts:
            await self.client.script_load(script.source)

    async def run(self, script: Script, keys: tuple, args: tuple):
        future = asyncio.get_running_loop().create_future()
        self._enqueue(script, keys, args, future)
        return await future

    def post(self, script: Script, keys: tuple, args: tuple) -> None:
        """Send a call with the next batch without waiting for it (its reply is dropped)."""
        self._enqueue(script, keys, args, None)

    def _enqueue(self, script: Script, keys: tuple, args: tuple,
                 future: asyncio.Future | None) -> None:
        self._pending.append((script, keys, args, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        self._flush_scheduled = False
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send(self, batch: list) -> None:
        try:
            results = await self._execute(batch)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:
                # Redis restarted or was flushed: load the scripts again and retry those calls.
                await self.load(*{batch[i][0] for i in missing})
                retried = await self._execute([batch[i] for i in missing])
                for i, result in zip(missing, retried, strict=True):
                    results[i] = result
        except Exception as exc:  # connection lost: every waiting request learns it
            for *_, future in batch:
                if future is not None and not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if future is None or future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, batch: list) -> list:
        """Each call's reply, in order; a Redis error reply (NOSCRIPT, ...) is that call's result.

        The pool hands out a connection only after checking it is still open (one Redis closed
        is replaced); if it breaks during the round trip, every call of the batch fails.
        """
        packed = b"".join(pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
                          for script, keys, args, _ in batch)
        pool = self.client.connection_pool
        connection = await pool.get_connection()
        try:
            return await self._round_trip(connection, packed, len(batch))
        except BaseException:
            # Replies may still be on their way: nobody else may read them as theirs.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)

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
