"""One Redis pub/sub connection per process, subscribed to exactly the targets someone holds.

A target is a venue id (its channel ``occ:venue:{v<id>}``) or ``ALL_VENUES`` (the pattern
``occ:venue:*``, for the city view). The connection always holds ``occ:config``; the rest only
while someone holds them: a process with nobody watching receives no events at all, since every
event costs a worker CPU to parse, and Redis to send. Holders count references
(``acquire``/``release``, or ``async with hold(target)``), and a target may ``linger`` a while
after its last holder. ``confirmed`` returns once Redis confirmed the subscription, so that a
snapshot read next misses no event.

A lost connection is opened again and what is held is asked for again; each target renewed so is
reported to ``renewed``, since its events may have been missed meanwhile. Messages are routed, not
interpreted: a venue's event to ``events``, a configuration change to every ``on_config`` callback
(the venue cache among them, so the venues need not know who listens).

On a Redis Cluster with sharded pub/sub (Redis 7+), the scripts SPUBLISH to the venue's shard
channel and venues are subscribed on their own masters (``ShardChannels``); this connection then
holds ``occ:config`` only. Shard channels take no patterns, so the city view subscribes to every
venue's channel: the venues are read from SQL when it is first held (and after this connection
was lost, since a new venue announces itself on ``occ:config``), and each new venue is added as it
is announced. A city of 10,000 venues is 10,000 channels spread over the masters, each event
still sent once, to the processes that want it, instead of to every node.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable

from redis.asyncio import Redis, RedisCluster

from occupancy import redis_keys as keys
from occupancy.kit.scripts import supports_shard_channels
from occupancy.live.shards import ShardChannels

log = logging.getLogger(__name__)

ALL_VENUES = "city"  # the target of the pattern (every venue's events); a venue's is its id
SUBSCRIBE_TIMEOUT = 5.0
RECHECK_SECONDS = 15.0  # a change of subscriptions that failed is tried again at least this often
_CONFIG = keys.CONFIG_CHANNEL.encode()
_PATTERN = keys.VENUE_CHANNEL_PREFIX + "*"


def _ignore(*_) -> None:
    pass


class Subscriptions:
    def __init__(self, redis: Redis, *, venue_ids: Callable[[], Awaitable[Iterable[int]]]) -> None:
        """``venue_ids``: every venue's id (for the city view on shard channels)."""
        self.redis = redis
        self.venue_ids = venue_ids
        self.subscribed = asyncio.Event()  # connected (at least once)
        self.reconnects = 0
        self._holders: Counter = Counter()  # target -> holders
        self._lingering: dict = {}  # target -> until when it is kept without holders (monotonic)
        self._config: list[Callable[[int], None]] = []
        self._events: Callable[[int, bytes], None] = _ignore
        self._renewed: Callable[[object], None] = _ignore
        self._dropped: Callable[[object], None] = _ignore
        self._tasks: list[asyncio.Task] = []
        # Subscriptions on the current Redis connection.
        self._pubsub = None
        self._sent: set = set()  # asked for on this connection, not given up since
        self._unconfirmed: dict = {}  # target -> subscribe requests Redis has not confirmed yet
        self._resubscribing: set = set()  # targets asked for again after a reconnect
        self._waiters: dict = defaultdict(list)  # target -> futures of those waiting for it
        self._changed = asyncio.Event()
        self._all_venues_live = False  # the pattern is confirmed: events come as pmessage too
        # On shard channels (a cluster of Redis 7+): the venues' subscriptions, and the city's.
        self.shards: ShardChannels | None = None
        self._city: set[int] = set()  # the venues the city view subscribes to
        self._city_unheard: set[int] = set()  # of those, not confirmed yet
        self._city_stale = True  # read the venues again (new ones may not have been announced)
        self._city_new: set[int] = set()  # announced while the city is held: read once heard

    def route(self, *, events: Callable[[int, bytes], None], renewed: Callable[[object], None],
              dropped: Callable[[object], None]) -> None:
        """Where messages go: each venue event (its id and body); each target subscribed again
        after a reconnect (its events may have been missed); each target given up."""
        self._events, self._renewed, self._dropped = events, renewed, dropped

    def on_config(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(venue_id)`` whenever a venue's configuration changes."""
        self._config.append(callback)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if isinstance(self.redis, RedisCluster) and await supports_shard_channels(self.redis):
            self.shards = ShardChannels(self.redis, message=lambda v, data: self._events(v, data),
                                        live=self._shards_live, lost=self._shards_lost)
            self.shards.start()
        self._tasks = [asyncio.create_task(self._listen(), name="live-listen"),
                       asyncio.create_task(self._keep(), name="live-subscriptions")]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.subscribed.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.shards is not None:
            await self.shards.stop()

    # -- holding -----------------------------------------------------------------------------

    def acquire(self, target) -> None:
        self._holders[target] += 1
        if self._holders[target] == 1:
            self._changed.set()

    def release(self, target) -> None:
        left = self._holders[target] - 1
        if left > 0:
            self._holders[target] = left
            return
        self._holders.pop(target, None)
        self._changed.set()

    def linger(self, target, seconds: float) -> None:
        """Keep ``target`` for ``seconds`` more, held or not."""
        self._lingering[target] = max(self._lingering.get(target, 0.0), time.monotonic() + seconds)
        self._changed.set()

    @contextlib.asynccontextmanager
    async def hold(self, target, linger: float = 0.0):
        """Hold ``target`` inside, entered once its events are arriving; kept ``linger`` seconds
        after."""
        self.acquire(target)
        try:
            await self.confirmed(target)
            yield
        finally:
            if linger:
                self.linger(target, linger)
            self.release(target)

    async def confirmed(self, target) -> None:
        """Wait until Redis confirms the subscription of ``target``; after ``SUBSCRIBE_TIMEOUT``
        (Redis away) go on anyway: once it is back, the target is reported ``renewed``."""
        if target in self._sent and not self._unconfirmed.get(target):
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters[target].append(future)
        self._changed.set()
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):  # wait_for could swallow a cancel
                await future
        except TimeoutError:
            log.warning("no live subscription for %s within %.0fs", target, SUBSCRIBE_TIMEOUT)
        finally:
            waiting = self._waiters.get(target)
            if waiting and future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(target, None)

    # -- the connection ----------------------------------------------------------------------

    def _new_pubsub(self):
        if isinstance(self.redis, RedisCluster):
            # Plain PUBLISH reaches every node of a cluster: listen on any one, a different one
            # after a failure (a dead node leaves the client's map once the cluster drops it).
            return self.redis.pubsub(node=random.choice(self.redis.get_nodes()))
        return self.redis.pubsub()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._new_pubsub()
            try:
                await pubsub.subscribe(keys.CONFIG_CHANNEL)
                if self.shards is None:
                    # A new connection: what is held is asked for again (by _keep), and reported
                    # renewed once confirmed.
                    self._resubscribing = set(self._sent)
                    self._sent, self._unconfirmed, self._all_venues_live = set(), {}, False
                else:  # only occ:config is on it: a new venue may have gone unannounced
                    self._city_stale = True
                self._pubsub = pubsub
                self._changed.set()
                if self.subscribed.is_set():
                    self.reconnects += 1
                self.subscribed.set()
                backoff = 0.1
                async for message in pubsub.listen():
                    self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live subscription lost (%s); resubscribing in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _wanted(self, now: float) -> set:
        wanted = set(self._holders)
        wanted.update(target for target, waiting in self._waiters.items() if waiting)
        wanted.update(target for target, until in self._lingering.items() if until > now)
        return wanted

    def _next_check(self, now: float) -> float:
        """Seconds until the next lingering target may be given up (the expired ones are
        forgotten), or until a failed change is tried again."""
        self._lingering = {t: until for t, until in self._lingering.items() if until > now}
        return min([RECHECK_SECONDS, *(until - now for until in self._lingering.values())])

    async def _keep(self) -> None:
        """Subscribe to what is held, and give up what nobody holds any more."""
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # arrives as the event is set (a hold given up just before stop()), and this loop
            # would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_check(time.monotonic())):
                    await self._changed.wait()
            self._changed.clear()
            pubsub = self._pubsub
            if pubsub is None and self.shards is None:
                continue  # _listen signals again once connected
            try:
                await (self._change(pubsub) if self.shards is None else self._change_shards())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke: _listen reconnects and we redo this
                log.warning("could not change live subscriptions (%s)", type(exc).__name__)
                await asyncio.sleep(0.1)

    async def _change(self, pubsub) -> None:
        wanted = self._wanted(time.monotonic())
        new, gone = wanted - self._sent, self._sent - wanted
        self._resubscribing &= wanted
        if not new and not gone:
            return
        self._sent = (self._sent - gone) | new
        for target in new:
            self._unconfirmed[target] = self._unconfirmed.get(target, 0) + 1
        for target in gone:
            self._dropped(target)
        if added := [keys.venue_channel(t) for t in new if t != ALL_VENUES]:
            await pubsub.subscribe(*added)
        if ALL_VENUES in new:
            await pubsub.psubscribe(_PATTERN)
        if dropped := [keys.venue_channel(t) for t in gone if t != ALL_VENUES]:
            await pubsub.unsubscribe(*dropped)
        if ALL_VENUES in gone:
            await pubsub.punsubscribe(_PATTERN)

    async def _change_shards(self) -> None:
        """The same on shard channels: venues (the city's among them) on their masters."""
        wanted = self._wanted(time.monotonic())
        new, gone = wanted - self._sent, self._sent - wanted
        self._resubscribing &= wanted
        self._sent = (self._sent - gone) | new
        for target in new:
            self._unconfirmed[target] = 1
        for target in gone:
            self._dropped(target)
        if ALL_VENUES not in wanted:
            self._city, self._city_unheard, self._city_new = set(), set(), set()
            self._city_stale = True
        elif self._city_stale:
            self._city_stale = False
            try:
                self._city = set(await self.venue_ids()) | self._city_new
            except BaseException:
                self._city_stale = True
                raise
            self._city_unheard = self._city - self.shards.live
        self._city_new -= self.shards.live  # heard already (a dashboard watched it)
        await self.shards.change({t for t in wanted if t != ALL_VENUES} | self._city)
        self._settle()

    def _shards_live(self, venue_ids: set[int]) -> None:
        self._city_unheard -= venue_ids
        if heard := venue_ids & self._city_new:
            # A venue announced while the city is held: heard from now on, read it now.
            self._city_new -= heard
            for venue_id in heard:
                self._config_changed(venue_id)
        self._settle()

    def _shards_lost(self, venue_ids: set[int]) -> None:
        """Not heard any more (they are subscribed again by themselves): events may be missed."""
        lost = [v for v in venue_ids if v in self._sent]
        if ALL_VENUES in self._sent and venue_ids & self._city:
            self._city_unheard |= venue_ids & self._city
            lost.append(ALL_VENUES)
        for target in lost:
            self._unconfirmed[target] = 1
            self._resubscribing.add(target)

    def _settle(self) -> None:
        """Confirm the targets whose channels are all subscribed now."""
        for target in list(self._unconfirmed):
            if target == ALL_VENUES:
                heard = not self._city_stale and not self._city_unheard
            else:
                heard = target in self.shards.live
            if heard:
                self._confirmed(target)

    def _confirmed(self, target) -> None:
        """Redis confirmed a subscription: whoever waits for it may read their snapshot now."""
        left = self._unconfirmed.get(target, 0) - 1
        if left > 0:
            self._unconfirmed[target] = left  # another request for it is still on its way
            return
        self._unconfirmed.pop(target, None)
        if left < 0 or target in self._resubscribing:
            # A subscription renewed after a reconnect (ours, or the client library's own):
            # events may have been missed meanwhile.
            self._resubscribing.discard(target)
            self._renewed(target)
        if target in self._sent:
            for future in self._waiters.pop(target, ()):
                if not future.done():
                    future.set_result(None)

    def _on_message(self, message: dict) -> None:
        kind, channel = message.get("type"), message.get("channel")
        if kind == "pmessage" or (kind == "message" and channel != _CONFIG):
            # With the pattern confirmed, a watched venue's event comes twice: once is enough.
            if kind == "pmessage" or not self._all_venues_live:
                self._on_event(channel, message["data"])
        elif kind == "message":
            self._on_config(message["data"])
        elif kind == "psubscribe":
            self._all_venues_live = True
            self._confirmed(ALL_VENUES)
        elif kind == "punsubscribe":
            self._all_venues_live = False
        elif kind == "subscribe" and channel != _CONFIG:
            self._confirmed(keys.venue_of_channel(channel))

    def _on_event(self, channel: bytes, data: bytes) -> None:
        try:
            venue_id = keys.venue_of_channel(channel)
        except (TypeError, ValueError):
            log.warning("ignored a malformed live message on %r", channel)
            return
        self._events(venue_id, data)

    def _on_config(self, data: bytes) -> None:
        try:
            venue_id = int(data)
        except ValueError:
            log.warning("ignored a malformed configuration message")
            return
        if self.shards is not None and ALL_VENUES in self._sent and venue_id not in self._city:
            # A new venue: the city view subscribes to it too.
            self._city.add(venue_id)
            self._city_new.add(venue_id)
            self._changed.set()
        self._config_changed(venue_id)

    def _config_changed(self, venue_id: int) -> None:
        for callback in self._config:
            callback(venue_id)
