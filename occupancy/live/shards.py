"""Venue channels on a Redis Cluster with sharded pub/sub: each venue's shard channel is
subscribed (SSUBSCRIBE) on the master that owns the venue's slot, one connection per master.

A cluster delivers a plain PUBLISH to every node over its cluster bus; a shard channel's message
stays on its shard, so a process listens where the venue lives. redis-py's own cluster pub/sub
polls its per-node connections in turn and subscribes again by itself after a reconnect, which
would hide a gap from the hub. Here each master's connection has a reader of its own, never
retried by the library: a connection lost (a master killed) or a channel the server gave up
(its slot moved) is reported ``lost``, the cluster's slot map is read again and the channels are
asked for again on their owners now, and reported ``live`` once confirmed.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot

from occupancy import redis_keys as keys

log = logging.getLogger(__name__)

# What a node's pub/sub connection takes from the cluster client's settings. Not the health
# check: with no channel left on the connection, redis-py would PING and read the reply inside
# the next SSUBSCRIBE, while the reader task waits on the same socket (a dead master's socket is
# closed by its host; TCP keepalive covers the rest).
_CONNECTION_OPTIONS = ("username", "password", "credential_provider", "socket_connect_timeout",
                       "socket_keepalive")


class _NodeChannels:
    """The shard channels subscribed on one master, and the reader of their messages."""

    def __init__(self, node, owner: "ShardChannels") -> None:
        self.name = node.name
        self.owner = owner
        options = {k: v for k, v in node.connection_kwargs.items() if k in _CONNECTION_OPTIONS}
        # No retries: a connection the library reopened and resubscribed by itself would hide
        # the messages missed meanwhile.
        self.client = Redis(host=node.host, port=node.port, retry=Retry(NoBackoff(), 0), **options)
        self.pubsub = self.client.pubsub()
        self.sent: set[int] = set()  # asked for here and not given up
        self.leaving: set[int] = set()  # given up by us: their confirmations are expected
        self.reader: asyncio.Task | None = None
        self.failed = False

    async def subscribe(self, venue_ids: set[int]) -> None:
        self.sent |= venue_ids
        self.leaving -= venue_ids
        # The shard channels of one SSUBSCRIBE must share a slot.
        by_slot: dict[int, list[str]] = defaultdict(list)
        for venue_id in venue_ids:
            channel = keys.venue_channel(venue_id)
            by_slot[key_slot(channel.encode())].append(channel)
        for channels in by_slot.values():
            await self.pubsub.ssubscribe(*channels)
        if self.reader is None:
            self.reader = asyncio.create_task(self._read(), name=f"live-shard-{self.name}")

    async def unsubscribe(self, venue_ids: set[int]) -> None:
        self.sent -= venue_ids
        self.leaving |= venue_ids
        for venue_id in venue_ids:
            await self.pubsub.sunsubscribe(keys.venue_channel(venue_id))

    async def _read(self) -> None:
        try:
            while True:
                message = await self.pubsub.get_message(timeout=None)
                if message is not None:
                    self._on_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.owner.node_failed(self, exc)

    def _on_message(self, message: dict) -> None:
        kind = message["type"]
        try:
            venue_id = keys.venue_of_channel(message["channel"])
        except (TypeError, ValueError):
            log.warning("ignored a malformed live message on %r", message.get("channel"))
            return
        if kind == "smessage":
            self.owner.message(venue_id, message["data"])
        elif kind == "ssubscribe" and venue_id in self.sent:
            self.owner.confirmed(venue_id)
        elif kind == "sunsubscribe":
            if venue_id in self.leaving:
                self.leaving.discard(venue_id)
            elif venue_id in self.sent:  # the server gave it up: its slot has a new owner
                self.sent.discard(venue_id)
                self.owner.gave_up({venue_id})

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()


class ShardChannels:
    """Keeps the venues' shard channels in ``change`` subscribed on their owners.

    ``message(venue_id, data)`` for each event; ``live(venue_ids)`` once subscriptions are
    confirmed; ``lost(venue_ids)`` when they are no longer heard (they are asked for again by
    themselves: ``live`` follows once the cluster has an owner for them).
    """

    def __init__(self, cluster: RedisCluster, *, message: Callable[[int, bytes], None],
                 live: Callable[[set[int]], None], lost: Callable[[set[int]], None]) -> None:
        self.cluster = cluster
        self.message = message
        self._live, self._lost = live, lost
        self.wanted: set[int] = set()
        self.live: set[int] = set()  # confirmed on a connection still open
        self._nodes: dict[str, _NodeChannels] = {}
        self._broken = asyncio.Event()  # a subscription failed: read the slot map and redo
        self._repairer: asyncio.Task | None = None
        self._closing: set[asyncio.Task] = set()  # connections of failed nodes being closed

    def start(self) -> None:
        self._repairer = asyncio.create_task(self._repair(), name="live-shards-repair")

    async def stop(self) -> None:
        if self._repairer is not None:
            self._repairer.cancel()
            await asyncio.gather(self._repairer, return_exceptions=True)
        for node in list(self._nodes.values()):
            await node.close()
        self._nodes.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def change(self, wanted: set[int]) -> None:
        """Subscribe to ``wanted`` and give up the rest (a failure is retried in the background)."""
        self.wanted = set(wanted)
        await self._apply()

    def owner_of(self, venue_id: int) -> str | None:
        """The node the venue's channel is subscribed on (None: not now)."""
        return next((name for name, node in self._nodes.items() if venue_id in node.sent), None)

    # -- from the node readers ---------------------------------------------------------------

    def confirmed(self, venue_id: int) -> None:
        self.live.add(venue_id)
        self._live({venue_id})

    def gave_up(self, venue_ids: set[int]) -> None:
        self.live -= venue_ids
        self._broken.set()
        if venue_ids:
            self._lost(venue_ids)

    def node_failed(self, node: _NodeChannels, exc: Exception) -> None:
        """A node's connection broke (its reader, or a change sent to it, found out first)."""
        if node.failed:
            return
        node.failed = True
        log.warning("live shard connection to %s lost (%s)", node.name, type(exc).__name__)
        if self._nodes.get(node.name) is node:
            del self._nodes[node.name]
        # Kept: the loop holds tasks only weakly, and stop() waits for these.
        closing = asyncio.get_running_loop().create_task(node.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        self.gave_up(node.sent)

    # -- keeping them --------------------------------------------------------------------------

    async def _apply(self) -> None:
        try:
            by_node: dict[str, tuple[object, set[int]]] = {}
            for venue_id in self.wanted:
                node = self.cluster.get_node_from_key(keys.venue_channel(venue_id))
                by_node.setdefault(node.name, (node, set()))[1].add(venue_id)
        except Exception as exc:  # no owner for a slot yet (a failover): try again soon
            log.warning("no owner for a live channel yet (%s)", type(exc).__name__)
            self._broken.set()
            return
        for name, node in list(self._nodes.items()):
            gone = node.sent - by_node.get(name, (None, set()))[1]
            if gone:
                self.live -= gone
                await self._on_node(node, node.unsubscribe(gone))
        for name, (cluster_node, venue_ids) in by_node.items():
            node = self._nodes.get(name)
            if node is None:
                node = self._nodes[name] = _NodeChannels(cluster_node, self)
            if new := venue_ids - node.sent:
                await self._on_node(node, node.subscribe(new))

    async def _on_node(self, node: _NodeChannels, change) -> None:
        try:
            await change
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the node is gone (or is no longer a master)
            self.node_failed(node, exc)

    async def _repair(self) -> None:
        """After a failure: read the cluster's slot map again and subscribe where the channels
        live now; again, a little later each time, until every wanted channel is subscribed."""
        backoff = 0.1
        while True:
            await self._broken.wait()
            self._broken.clear()
            await asyncio.sleep(backoff)
            try:
                await self.cluster.nodes_manager.initialize()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not read the cluster's slot map (%s)", type(exc).__name__)
                self._broken.set()
            else:
                await self._apply()
            backoff = min(backoff * 2, 1.0) if self._broken.is_set() else 0.1
