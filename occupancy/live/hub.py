"""Fan-out: one Redis subscription per process, coalesced per venue, delivered to local sockets.

The subscription holds the channel ``occ:config`` and, only while someone looks, the channel of
each venue a dashboard or door display watches, and the pattern ``occ:venue:*`` while the city
view is in use. A process with nobody watching receives no events at all: every event costs a
worker CPU to parse, and Redis to send. A socket is served only once Redis confirmed the
subscription it needs, so its snapshot, read afterwards, misses no event.

Events mark venues as changed; the hub keeps the new events of the venues that dashboards watch.
A flush loop reads the changed venues' counts and current minutes from Redis in one round trip
and offers each socket an update with what changed: those figures and the events since the last
update (see ``Outbox``, which folds updates a slow socket has not taken yet into one). After a
lost subscription, every venue dashboard gets a fresh snapshot instead, since events may have
been missed.

Pacing is per venue (see ``Pacing``): a venue is sent at most ``rate`` times a second, so a quiet
venue's change goes out at once even while busy venues are held back, and the process keeps to
``frame_budget`` frames a second, shared fairly: with thousands of sockets open, a busy venue
many watch is sent less often rather than every check-in slowed down. The city view is paced
the same way.
The city table (every venue's count) is kept in memory from the events and re-read after a
reconnect, or when it is needed again after a while unused.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

import msgspec
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import redis_keys as keys
from occupancy.live import frames
from occupancy.live.frames import CityVenue
from occupancy.live.outbox import Frame, Outbox
from occupancy.live.pacing import Pacing
from occupancy.stats.calendar import day_of, minute_of
from occupancy.stats.today import (
    FRESH_MINUTES,
    RECENT_EVENTS,
    TodayReader,
    VenueLive,
    dense_series,
    recent_item,
)
from occupancy.venues import service as venue_service
from occupancy.venues.cache import VenueCache
from occupancy.venues.errors import UnknownVenue
from occupancy.venues.service import VenueInfo

log = logging.getLogger(__name__)

VENUE, DISPLAY, CITY = "venue", "display", "city"
# Changes arriving within this long of a flush go out together in the next one.
MIN_GAP = 0.01
_NEVER = float("-inf")
_VENUE_PREFIX = keys.VENUE_CHANNEL_PREFIX.encode()
_CONFIG = keys.CONFIG_CHANNEL.encode()
_ALL_VENUES = keys.VENUE_CHANNEL_PREFIX + "*"
_CITY = "city"  # the subscription target of the city view; a venue's is its id
# The city table is kept current this long after its last reader (an API call or a socket).
CITY_IDLE_SECONDS = 60.0
SUBSCRIBE_TIMEOUT = 5.0
_decode_event = msgspec.json.Decoder().decode


def _target(kind: str, venue_id: int):
    """What a socket of this kind watches, for subscriptions and pacing: the city, or a venue."""
    return _CITY if kind == CITY else venue_id


class CityTable:
    """Every venue's live count in this process, updated from the published events."""

    def __init__(self) -> None:
        self.venues: dict[int, CityVenue] = {}
        self.series: dict[int, int] = {}  # minute -> city total at its end, today
        self.day = ""

    def all(self) -> list[CityVenue]:
        return list(self.venues.values())

    def total(self) -> int:
        return sum(v.count for v in self.venues.values())


class Hub:
    def __init__(
        self,
        redis: Redis,
        venues: VenueCache,
        sessionmaker: async_sessionmaker[AsyncSession],
        reader: TodayReader,
        *,
        secret: str = "",
        rate: float = 5.0,
        frame_budget: float = 2500.0,
        send_timeout: float = 10.0,
    ) -> None:
        self.redis = redis
        self.venue_cache = venues
        self.sessionmaker = sessionmaker
        self.reader = reader
        self.secret = secret  # signs the venue code in snapshots
        self.pacing = Pacing(rate, frame_budget)
        self.min_gap = min(MIN_GAP, self.pacing.least_interval)
        self.send_timeout = send_timeout
        self._sockets: dict[str, dict[int, set[Outbox]]] = {
            VENUE: defaultdict(set), DISPLAY: defaultdict(set), CITY: defaultdict(set)}
        self._dirty: set[int] = set()
        self._config: set[int] = set()
        self._city_dirty: set[int] = set()
        self._events: dict[int, list[dict]] = {}  # watched venue -> events since its last update
        self._needs_snapshot: set[int] = set()  # venues whose dashboards may have missed events
        self._changed = asyncio.Event()
        self._city: CityTable | None = None
        self._city_lock = asyncio.Lock()
        self._resync_city = False
        self._tasks: list[asyncio.Task] = []
        self.subscribed = asyncio.Event()
        self.reconnects = 0
        # Subscriptions (targets: venue ids and _CITY) on the current Redis connection.
        self._pubsub = None
        self._sent: set = set()  # asked for on this connection, not given up since
        self._unconfirmed: dict = {}  # target -> subscribe requests Redis has not confirmed yet
        self._resubscribing: set = set()  # targets asked for again after a reconnect
        self._waiters: dict = defaultdict(list)  # target -> futures of sockets waiting for it
        self._subscriptions_changed = asyncio.Event()
        self._all_venues_live = False  # the pattern is confirmed: events come as pmessage too
        self._city_read_at = _NEVER
        self.city_idle_seconds = CITY_IDLE_SECONDS

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="hub-listen"),
                       asyncio.create_task(self._keep_subscriptions(), name="hub-subscriptions"),
                       asyncio.create_task(self._flush_loop(), name="hub-flush")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 5)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # -- sockets -----------------------------------------------------------------------------

    def outbox(self, websocket, kind: str) -> Outbox:
        merge = {CITY: frames.merge_city_updates, VENUE: frames.merge_venue_frames}.get(kind)
        return Outbox(websocket, self.send_timeout, merge)

    async def add(self, kind: str, venue_id: int, outbox: Outbox) -> None:
        """Deliver updates for ``venue_id`` (0 for the city) to ``outbox`` from now on; return
        once the events they come from are arriving, so that a snapshot read next misses none."""
        group = self._sockets[kind][venue_id]
        if outbox not in group:
            group.add(outbox)
            self.pacing.watch(_target(kind, venue_id))
        if kind == CITY:
            self._city_read_at = time.monotonic()
        await self._subscription(_target(kind, venue_id))

    def refresh(self, venue_id: int) -> None:
        """An update soon: a flush read before the snapshot may have offered an older count."""
        self.pacing.prompt(venue_id)
        self._mark(venue_id)

    def remove(self, kind: str, venue_id: int, outbox: Outbox) -> None:
        group = self._sockets[kind].get(venue_id)
        if group is not None and outbox in group:
            group.discard(outbox)
            self.pacing.unwatch(_target(kind, venue_id))
            if not group:
                del self._sockets[kind][venue_id]
                if kind == VENUE:
                    self._events.pop(venue_id, None)
                if kind == CITY:  # kept a while: a reload of the page needs no new table
                    self._city_read_at = time.monotonic()
                self._subscriptions_changed.set()

    def sockets(self) -> int:
        return self.pacing.sockets()

    def waiting_frames(self) -> int:
        """Frames held for all local sockets together: at most one per socket."""
        return sum(o.waiting for by_id in self._sockets.values() for g in by_id.values() for o in g)

    # -- snapshots ---------------------------------------------------------------------------

    async def city_snapshot(self) -> dict:
        self._city_read_at = time.monotonic()
        await self._subscription(_CITY)
        city = await self._city_table()
        now = time.time()
        self._roll_day(city, now)
        return frames.city_snapshot(city.all(), dense_series(city.series, minute_of(now)), now)

    def _roll_day(self, city: CityTable, now: float) -> None:
        """A new local day: its series starts at midnight with the total the old day ended on."""
        day = day_of(now, self.reader.tz)
        if day != city.day:
            last = city.series[max(city.series)] if city.series else city.total()
            city.series = {self.reader.midnight(now): last} if last else {}
            city.day = day

    # -- subscription ------------------------------------------------------------------------

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(keys.CONFIG_CHANNEL)
                # A new connection: what the sockets need is asked for again (by
                # _keep_subscriptions), and they get a fresh state once it is confirmed.
                self._resubscribing = set(self._sent)
                self._sent, self._unconfirmed, self._all_venues_live = set(), {}, False
                self._pubsub = pubsub
                self._subscriptions_changed.set()
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

    async def _subscription(self, target) -> None:
        """Wait until Redis confirms the subscription ``target`` (a venue id, or _CITY) needs."""
        if target in self._sent and not self._unconfirmed.get(target):
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters[target].append(future)
        self._subscriptions_changed.set()
        try:
            await asyncio.wait_for(future, SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            # Redis is away: once the subscription is back, the socket gets a fresh state.
            log.warning("no live subscription for %s within %.0fs", target, SUBSCRIBE_TIMEOUT)
        finally:
            waiting = self._waiters.get(target)
            if waiting and future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(target, None)

    def _wanted(self) -> set:
        wanted = set(self._sockets[VENUE]) | set(self._sockets[DISPLAY])
        wanted.update(target for target, waiting in self._waiters.items() if waiting)
        if self._sockets[CITY] or time.monotonic() < self._city_read_at + self.city_idle_seconds:
            wanted.add(_CITY)
        return wanted

    async def _keep_subscriptions(self) -> None:
        """Subscribe to what the sockets need, and give up what nobody needs any more."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscriptions_changed.wait(), self.city_idle_seconds / 4)
            self._subscriptions_changed.clear()
            pubsub = self._pubsub
            if pubsub is None:
                continue  # _listen signals again once connected
            try:
                await self._change_subscriptions(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke: _listen reconnects and we redo this
                log.warning("could not change live subscriptions (%s)", type(exc).__name__)
                await asyncio.sleep(0.1)

    async def _change_subscriptions(self, pubsub) -> None:
        wanted = self._wanted()
        new, gone = wanted - self._sent, self._sent - wanted
        self._resubscribing &= wanted
        if not new and not gone:
            return
        self._sent = (self._sent - gone) | new
        for target in new:
            self._unconfirmed[target] = self._unconfirmed.get(target, 0) + 1
        if _CITY in gone:
            self._city = None  # no longer kept current: read again when next needed
        if added := [keys.venue_channel(t) for t in new if t != _CITY]:
            await pubsub.subscribe(*added)
        if _CITY in new:
            await pubsub.psubscribe(_ALL_VENUES)
        if dropped := [keys.venue_channel(t) for t in gone if t != _CITY]:
            await pubsub.unsubscribe(*dropped)
        if _CITY in gone:
            await pubsub.punsubscribe(_ALL_VENUES)

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
            self._resync(target)
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
            self._confirmed(_CITY)
        elif kind == "punsubscribe":
            self._all_venues_live = False
        elif kind == "subscribe" and channel != _CONFIG:
            self._confirmed(int(channel[len(_VENUE_PREFIX):]))

    def _on_config(self, data: bytes) -> None:
        try:
            venue_id = int(data)
        except ValueError:
            log.warning("ignored a malformed configuration message")
            return
        self.venue_cache.invalidate(venue_id)
        self._config.add(venue_id)
        self._mark(venue_id)

    def _on_event(self, channel: bytes, data: bytes) -> None:
        try:
            venue_id = int(channel[len(_VENUE_PREFIX):])
            watched = venue_id in self._sockets[VENUE]
            # Only dashboards and the city table need the event's body; the channel names the venue.
            event = _decode_event(data) if watched or self._city else None
            if watched and event["e"] != "undo":  # an undo is not in the venue's recent list either
                self._remember(venue_id, recent_item(event))
            if self._city is not None:
                self._update_city(venue_id, event)
        except (KeyError, TypeError, ValueError, AttributeError, msgspec.DecodeError):
            log.warning("ignored a malformed live message on %r", channel)
            return
        self._mark(venue_id)

    def _update_city(self, venue_id: int, event: dict) -> None:
        venue = self._city.venues.get(venue_id)
        if venue is None or "c" not in event:
            self._config.add(venue_id)  # a venue this process has not seen yet: read it
            return
        venue.count = int(event["c"])
        if event.get("cap"):
            venue.capacity = int(event["cap"])

    def _remember(self, venue_id: int, item: dict) -> None:
        events = self._events.setdefault(venue_id, [])
        events.append(item)
        if len(events) > RECENT_EVENTS:
            del events[0]

    def _mark(self, venue_id: int) -> None:
        self._dirty.add(venue_id)
        self._city_dirty.add(venue_id)
        self.pacing.changed(venue_id)
        self.pacing.changed(_CITY)
        self._changed.set()

    def _resync(self, target) -> None:
        """Events of ``target`` may have been missed: send its sockets a fresh state."""
        if target == _CITY:
            self._resync_city = True
            self._changed.set()
        elif target in self._sockets[VENUE] or target in self._sockets[DISPLAY]:
            if target in self._sockets[VENUE]:
                self._needs_snapshot.add(target)
            self._mark(target)

    # -- flushing ----------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._until_next_due(time.monotonic()))
            self._changed.clear()
            try:
                await self._flush(time.monotonic())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live flush failed; will retry")
                self._changed.set()
                await asyncio.sleep(self.pacing.least_interval)  # no busy loop while Redis is away
            await asyncio.sleep(self.min_gap)

    def _until_next_due(self, now: float) -> float | None:
        """Seconds until a held-back venue (or the city view) may be sent again; None: none held."""
        due = [self.pacing.due_at(v) for v in self._dirty]
        if self._city is not None and (self._city_dirty or self._config or self._resync_city):
            due.append(self.pacing.due_at(_CITY))
        return max(0.0, min(due) - now) if due else None

    def _take_due(self, now: float) -> set[int]:
        """The changed venues that may be sent now; the others stay marked for later."""
        self.pacing.rebalance(now)
        due = set(self.pacing.take([v for v in self._dirty if self.pacing.due_at(v) <= now], now))
        self._dirty -= due
        return due

    async def _flush(self, now_mono: float) -> None:
        due = self._take_due(now_mono)
        try:
            await self._flush_venues(due, now_mono)
        except BaseException:
            self._dirty |= due  # not sent: the retry sends them
            raise
        if self._city is None:
            self._city_dirty.clear()
            self._config.clear()
        elif (self._city_dirty or self._config or self._resync_city) and (
                now_mono >= self.pacing.due_at(_CITY) and self.pacing.take([_CITY], now_mono)):
            self.pacing.sent(_CITY, now_mono)
            dirty, self._city_dirty = self._city_dirty, set()
            config, self._config = self._config, set()
            try:
                await self._flush_city(dirty, config, time.time())
            except BaseException:
                self._city_dirty |= dirty
                self._config |= config
                raise

    async def _flush_venues(self, due: set[int], now_mono: float) -> None:
        now = time.time()
        watched = [v for v in due if v in self._sockets[VENUE] or v in self._sockets[DISPLAY]]
        if not watched:
            return
        full = [v for v in watched if v in self._needs_snapshot]
        lives = await self.reader.venues(
            [v for v in watched if v not in self._needs_snapshot], now, minutes=FRESH_MINUTES,
            recent=False)
        if full:
            lives.update(await self.reader.venues(full, now, series=True))
        for venue_id, live in lives.items():
            try:
                info = await self.venue_cache.by_id(venue_id)
            except UnknownVenue:
                continue
            self.pacing.sent(venue_id, now_mono)
            if venue_id in self._sockets[VENUE]:
                self._offer_venue(live, info, now)
            if venue_id in self._sockets[DISPLAY]:
                display = Frame(frames.display_frame(info, live.count, live.capacity, live.paused, now))
                for outbox in self._sockets[DISPLAY][venue_id]:
                    outbox.offer(display)

    def _offer_venue(self, live: VenueLive, info: VenueInfo, now: float) -> None:
        """The venue's dashboards get its new events, or a snapshot if they may have missed some."""
        snapshot = live.venue_id in self._needs_snapshot
        self._needs_snapshot.discard(live.venue_id)
        events = self._events.pop(live.venue_id, [])
        if not snapshot:
            live.recent = events[::-1]  # newest first
        frame = Frame(frames.venue_frame(live, info, now, secret=self.secret, snapshot=snapshot))
        for outbox in self._sockets[VENUE][live.venue_id]:
            outbox.offer(frame)

    async def _flush_city(self, dirty: set[int], config: set[int], now: float) -> None:
        city = self._city
        if self._resync_city:
            self._resync_city = False
            city = await self._city_table(reload=True)
            dirty = set(city.venues)
        elif config:
            await self._refresh_venues(city, config)
        minute = minute_of(now)
        self._roll_day(city, now)
        city.series[minute] = city.total()
        changed = [city.venues[v] for v in sorted(dirty) if v in city.venues]
        if not changed:
            return
        update = Frame(frames.city_update(changed, city.all(), [minute, city.series[minute]], now))
        for outbox in self._sockets[CITY].get(0, ()):
            outbox.offer(update)

    async def _city_table(self, reload: bool = False) -> CityTable:
        async with self._city_lock:
            if self._city is not None and not reload:
                return self._city
            async with self.sessionmaker() as session:
                infos = await venue_service.venue_infos(session)
            now = time.time()
            ids = [info.id for info in infos]
            counts = await self.reader.counts(ids)
            city = CityTable()
            for info in infos:
                count, capacity, paused = counts[info.id]
                city.venues[info.id] = CityVenue(info, count, capacity or info.capacity, paused)
            city.series = await self.reader.city_series(counts, now)
            city.day = day_of(now, self.reader.tz)
            self._city = city
            return city

    async def _refresh_venues(self, city: CityTable, venue_ids: set[int]) -> None:
        """A venue's configuration changed (or it is new): read it again."""
        counts = await self.reader.counts(sorted(venue_ids))
        for venue_id in venue_ids:
            try:
                info = await self.venue_cache.by_id(venue_id)
            except UnknownVenue:
                city.venues.pop(venue_id, None)
                continue
            count, capacity, paused = counts[venue_id]
            city.venues[venue_id] = CityVenue(info, count, capacity or info.capacity, paused)
