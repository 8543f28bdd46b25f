"""Lua scripts called by SHA, with the calls of concurrent requests sent as one pipeline.

Each request awaits its own result, but every call made during one event-loop tick goes to Redis
in a single write: one round trip (and one syscall pair) for many requests. On a single Redis,
one batch is in flight at a time and the calls made meanwhile wait to go together in the next:
under load the batches grow rather than their number (each costs a task, a pooled connection and
the syscalls of a round trip, far more than a call in it), and Redis, which runs one command at
a time, answers no later. The calls are packed
by hiredis (C) and the replies read straight from a pooled redis-py connection: redis-py's own
Pipeline packs in Python and wraps each batch in more machinery, about a third of the client's
CPU per call (``python -m loadtest.micro.script_calls``).
"""

import asyncio
import hashlib
import math
from pathlib import Path

from hiredis import pack_command
from redis.asyncio import Redis
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class Script:
    """A Lua file; its ``PUBLISH`` names the command that publishes the venue's events: plain
    PUBLISH (a single Redis, or a cluster without sharded pub/sub), or SPUBLISH (see
    ``sharded``)."""

    def __init__(self, path: Path, publish: str = "PUBLISH") -> None:
        self.path = path
        self.name = path.stem
        self.source = f"local PUBLISH = '{publish}'\n{path.read_text()}"
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self._sharded: Script | None = None

    def sharded(self) -> "Script":
        """The same script publishing to the venue's shard channel (SPUBLISH), for a cluster:
        its events stay on the venue's shard instead of crossing every node's cluster bus."""
        if self._sharded is None:
            self._sharded = Script(self.path, "SPUBLISH")
        return self._sharded


async def supports_shard_channels(cluster) -> bool:
    """Whether every node of the cluster has sharded pub/sub (Redis 7.0 and later; Valkey
    reports a Redis version too). Scripts and subscribers ask this alike, so they agree."""
    infos = await cluster.info("server", target_nodes=cluster.ALL_NODES)
    versions = [tuple(int(part) for part in str(info["redis_version"]).split(".")[:2])
                for info in infos.values()]
    return bool(versions) and min(versions) >= (7, 0)


class ScriptRunner:
    # A cluster's runner sends each batch at once instead: one master slow to answer (failing
    # over) must not hold up the calls for the others.
    one_batch_in_flight = True

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

    async def run_each(self, script: Script, calls: list[tuple[tuple, tuple]]) -> list:
        """Many calls of one script, (keys, args) each, sent together; their results in order.
        Raises the first call's error if any failed. Futures, not a task per call: the periodic
        repair surveys thousands of venues."""
        loop = asyncio.get_running_loop()
        futures = []
        for keys, args in calls:
            futures.append(loop.create_future())
            self._enqueue(script, keys, args, futures[-1])
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def post(self, script: Script, keys: tuple, args: tuple) -> None:
        """Send a call with the next batch without waiting for it (its reply is dropped)."""
        self._enqueue(script, keys, args, None)

    def _enqueue(self, script: Script, keys: tuple, args: tuple,
                 future: asyncio.Future | None) -> None:
        self._pending.append((script, keys, args, future))
        if not self._flush_scheduled and not (self.one_batch_in_flight and self._in_flight):
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if self.one_batch_in_flight and not self._flush_scheduled:
            self._flush()  # the calls made while it was out

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
            if self.one_batch_in_flight and isinstance(exc, RedisTimeoutError):
                # Redis did not answer within the bound: the calls queued behind this batch
                # fail with it rather than wait as long again.
                batch, self._pending = batch + self._pending, []
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
        # One timer for the batch's replies, which come together: redis-py arms and cancels one
        # per reply otherwise (its socket timeout, the same bound).
        try:
            async with asyncio.timeout(connection.socket_timeout):
                for _ in range(replies):
                    try:
                        results.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        results.append(exc)
        except TimeoutError as exc:
            raise RedisTimeoutError("Redis did not answer in time") from exc
        return results


# Replies that mean "not here, not now": the slot moved, is moving, or has no master yet.
_MOVING = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError


class NotReplicated(RedisConnectionError):
    """A master ran the calls but no replica confirmed them in time: a failover now could lose
    them, so their requests are answered as unavailable (a retry with the same key replays)."""


class ClusterScriptRunner(ScriptRunner):
    """The same batching on a Redis Cluster: each tick's calls grouped by the master that owns
    their venue's slot (a call's keys share one hash tag), one pipelined write per master, all
    masters at once.

    A master with a replica ends its batch with ``WAIT 1``: a reply is given only once a replica
    holds the change, so a failover never loses an acknowledged check-in (it may keep a
    reservation nobody was told of: an orphan, released after its lease). A MOVED reply (the slot
    has a new owner) refreshes the map of slots and the call is sent once more; a master that
    cannot be reached fails its calls (503) and has the map refreshed, so that requests go to its
    replica once the cluster has promoted it.
    """

    one_batch_in_flight = False

    def __init__(self, client, replica_wait_ms: int = 500) -> None:
        super().__init__(client)
        self.replica_wait_ms = replica_wait_ms
        self.replicas: dict[str, int] = {}  # master name -> replicas in sync with it
        self.sharded: bool | None = None  # publish with SPUBLISH; known once loaded
        self._refreshing: asyncio.Task | None = None

    async def load(self, *scripts: Script) -> None:
        if self.sharded is None:
            self.sharded = await supports_shard_channels(self.client)
        for script in scripts:
            await self.client.execute_command("SCRIPT LOAD", self._variant(script).source,
                                              target_nodes=self.client.PRIMARIES)
        await self.refresh_replicas()

    def _variant(self, script: Script) -> Script:
        return script.sharded() if self.sharded else script

    async def refresh_replicas(self) -> None:
        """How many live replicas each master has, from the cluster's own table of nodes."""
        nodes = await self.client.cluster_nodes()
        names = {info["node_id"]: name for name, info in nodes.items()}
        replicas: dict[str, int] = {}
        for info in nodes.values():
            flags = info["flags"]
            if "slave" in flags and "fail" not in flags and info["connected"]:
                master = names.get(info["master_id"])
                if master:
                    replicas[master] = replicas.get(master, 0) + 1
        self.replicas = replicas

    def refresh_topology(self) -> None:
        """Read the cluster's slots and nodes again, in the background, once at a time."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        try:
            await self.client.nodes_manager.initialize()
            await self.refresh_replicas()
        except Exception:  # the cluster is still electing: the next failure tries again
            await asyncio.sleep(0.2)

    async def _execute(self, batch: list, retry: bool = True) -> list:
        results: list = [None] * len(batch)
        groups: dict = {}
        for i, (_, keys, _, _) in enumerate(batch):
            groups.setdefault(self.client.get_node_from_key(keys[0]), []).append(i)
        outcomes = await asyncio.gather(
            *(self._on_node(node, [batch[i] for i in calls]) for node, calls in groups.items()),
            return_exceptions=True)
        for calls, outcome in zip(groups.values(), outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                self.refresh_topology()
                outcome = [outcome] * len(calls)
            for i, result in zip(calls, outcome, strict=True):
                results[i] = result
        moved = [i for i, result in enumerate(results) if isinstance(result, _MOVING)]
        if moved and retry:
            await self.client.nodes_manager.initialize()
            retried = await self._execute([batch[i] for i in moved], retry=False)
            for i, result in zip(moved, retried, strict=True):
                results[i] = result
        elif moved:  # moved again at once: the cluster is busy changing hands, try in a moment
            for i in moved:
                results[i] = ClusterDownError(f"the cluster is moving this venue ({results[i]})")
        return results

    async def _on_node(self, node, calls: list) -> list:
        packed = b"".join(
            pack_command(("EVALSHA", self._variant(script).sha, len(keys), *keys, *args))
            for script, keys, args, _ in calls)
        wait = self.replicas.get(node.name, 0) > 0
        if wait:
            packed += pack_command(("WAIT", 1, self.replica_wait_ms))
        connection = node.acquire_connection()
        try:
            replies = await self._round_trip(connection, packed, len(calls) + wait)
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        finally:
            node.release(connection)
        if wait:
            acknowledged = replies.pop()
            if not isinstance(acknowledged, int) or acknowledged < 1:
                self.refresh_topology()  # the replica may have failed: stop waiting for it
                failure = NotReplicated("no replica confirmed the change in time")
                return [r if isinstance(r, ResponseError) else failure for r in replies]
        return replies
