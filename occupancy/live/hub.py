"""Fan-out: the events of one Redis subscription, coalesced per venue and paced, to local sockets.

Sockets are registered with ``async with hub.watch(kind, venue_id, outbox)``, which holds the
subscription they need (see ``Subscriptions``): a socket is served only once Redis confirmed it,
so its snapshot, read afterwards, misses no event.

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
the same way, from a ``CityTable`` kept while it is in use.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.live import frames
from occupancy.live.city import LiveCity
from occupancy.live.outbox import DirectOutbox, Frame, Outbox, Sweep
from occupancy.live.pacing import Pacing
from occupancy.live.subscriptions import ALL_VENUES, Subscriptions
from occupancy.stats.today import FRESH_MINUTES, RECENT_EVENTS, TodayReader, VenueLive, recent_item
from occupancy.venues.cache import VenueCache
from occupancy.venues.errors import UnknownVenue
from occupancy.venues.service import VenueInfo

log = logging.getLogger(__name__)

VENUE, DISPLAY, CITY = "venue", "display", "city"
# Changes arriving within this long of a flush go out together in the next one.
MIN_GAP = 0.01
# The city table is kept current this long after its last reader (an API call or a socket).
CITY_IDLE_SECONDS = 60.0
_decode_event = msgspec.json.Decoder().decode


def _target(kind: str, venue_id: int):
    """What a socket of this kind watches, for subscriptions and pacing: the city, or a venue."""
    return ALL_VENUES if kind == CITY else venue_id


def _merge_of(kind: str):
    """How two frames waiting for a slow socket of ``kind`` become one (None: the newer wins)."""
    return {CITY: frames.merge_city_updates, VENUE: frames.merge_venue_frames}.get(kind)


class Hub:
    def __init__(
        self,
        subscriptions: Subscriptions,
        venues: VenueCache,
        sessionmaker: async_sessionmaker[AsyncSession],
        reader: TodayReader,
        *,
        secret: str = "",
        rate: float = 5.0,
        frame_budget: float = 2500.0,
        send_timeout: float = 10.0,
    ) -> None:
        self.subscriptions = subscriptions
        subscriptions.route(events=self._on_event, renewed=self._resync, dropped=self._dropped)
        subscriptions.on_config(self._on_config)
        self.venue_cache = venues
        self.reader = reader
        self.city = LiveCity(sessionmaker, reader, venues)
        self.secret = secret  # signs the venue code in snapshots
        self.pacing = Pacing(rate, frame_budget)
        self.min_gap = min(MIN_GAP, self.pacing.least_interval)
        self.sweep = Sweep(send_timeout)
        self.city_idle_seconds = CITY_IDLE_SECONDS
        self._sockets: dict[str, dict[int, set[Outbox]]] = {
            VENUE: defaultdict(set), DISPLAY: defaultdict(set), CITY: defaultdict(set)}
        self._dirty: set[int] = set()
        self._events: dict[int, list[dict]] = {}  # watched venue -> events since its last update
        self._needs_snapshot: set[int] = set()  # venues whose dashboards may have missed events
        self._booking_news: set[int] = set()  # watched venues whose bookings changed since a frame
        # venue -> visit id -> futures of the visitors' pages waiting for that visit to end
        self._visit_ends: dict[int, dict[str, set[asyncio.Future]]] = {}
        self._changed = asyncio.Event()
        self._flusher: asyncio.Task | None = None

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="hub-flush")
        await self.subscriptions.start()

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await self.sweep.stop()
        await self.subscriptions.stop()

    # -- sockets -----------------------------------------------------------------------------

    def outbox(self, websocket, kind: str, write_now=None) -> Outbox:
        return Outbox(websocket, self.sweep, _merge_of(kind), write_now)

    def direct_outbox(self, kind: str, write_now) -> DirectOutbox:
        """The outbox of a socket the app hands over once its snapshot is sent (live.wire)."""
        return DirectOutbox(write_now, self.sweep, _merge_of(kind))

    @contextlib.asynccontextmanager
    async def watch(self, kind: str, venue_id: int, outbox: Outbox):
        """Deliver updates for ``venue_id`` (0 for the city) to ``outbox`` while inside; entered
        once the events they come from are arriving, so that a snapshot read inside misses none."""
        try:
            await self.add(kind, venue_id, outbox)
            yield
        finally:
            self.remove(kind, venue_id, outbox)

    async def add(self, kind: str, venue_id: int, outbox: Outbox) -> None:
        """``watch`` without the block: deliver until ``remove``."""
        group, target = self._sockets[kind][venue_id], _target(kind, venue_id)
        if outbox not in group:
            group.add(outbox)
            self.pacing.watch(target)
            self.subscriptions.acquire(target)
        await self.subscriptions.confirmed(target)

    @contextlib.contextmanager
    def visit_end(self, venue_id: int, visit_id: int):
        """A future of the event that ends this visit (its check-out, by anyone, for any reason),
        while inside. Only under a ``watch`` of the venue: that holds its subscription."""
        ended = asyncio.get_running_loop().create_future()
        waiting = self._visit_ends.setdefault(venue_id, {}).setdefault(str(visit_id), set())
        waiting.add(ended)
        try:
            yield ended
        finally:
            waiting.discard(ended)
            if not waiting:
                del self._visit_ends[venue_id][str(visit_id)]
                if not self._visit_ends[venue_id]:
                    del self._visit_ends[venue_id]

    def refresh(self, venue_id: int) -> None:
        """An update soon: a flush read before the snapshot may have offered an older count."""
        self.pacing.prompt(venue_id)
        self._mark(venue_id)

    def remove(self, kind: str, venue_id: int, outbox: Outbox) -> None:
        group, target = self._sockets[kind].get(venue_id), _target(kind, venue_id)
        if group is None or outbox not in group:
            return
        group.discard(outbox)
        self.pacing.unwatch(target)
        if not group:
            del self._sockets[kind][venue_id]
            if kind == VENUE:
                self._events.pop(venue_id, None)
                self._booking_news.discard(venue_id)
            if kind == CITY:  # kept a while: a reload of the page needs no new table
                self.subscriptions.linger(target, self.city_idle_seconds)
        self.subscriptions.release(target)

    async def city_snapshot(self) -> dict:
        async with self.subscriptions.hold(ALL_VENUES, linger=self.city_idle_seconds):
            city = await self.city.current()
            return city.snapshot(time.time())

    # -- events ------------------------------------------------------------------------------

    def _on_config(self, venue_id: int) -> None:
        self.city.read_again(venue_id)
        self._mark(venue_id)

    def _on_event(self, venue_id: int, data: bytes) -> None:
        try:
            watched = venue_id in self._sockets[VENUE]
            ends = self._visit_ends.get(venue_id)
            # Only dashboards, visitors' tickets and the city table need the event's body; the
            # channel names the venue.
            event = _decode_event(data) if watched or ends or self.city.listening else None
            if event is not None and event["e"] == "booking":
                self._on_booking(venue_id, watched)
                return
            # An undo is not in the venue's recent list either; a line's change (occupancy.line)
            # is only a reason to send the venue's frames again.
            line = event is not None and event["e"] == "line"
            if watched and not line and event["e"] != "undo":
                self._remember(venue_id, recent_item(event))
            if ends and event["e"] == "out":
                for ended in ends.get(str(event.get("id")), ()):
                    if not ended.done():
                        ended.set_result(event)
            if not line:
                self.city.apply(venue_id, event)
        except (KeyError, TypeError, ValueError, AttributeError, msgspec.DecodeError):
            log.warning("ignored a malformed live message on venue %s", venue_id)
            return
        self._mark(venue_id)

    def _on_booking(self, venue_id: int, watched: bool) -> None:
        """A venue's bookings changed: its dashboards' next frame says so (they read the day's
        figures again). No count changed: the city view is left alone, and nothing is sent where
        no dashboard of the venue is open."""
        if watched:
            self._booking_news.add(venue_id)
            self._dirty.add(venue_id)
            self.pacing.changed(venue_id)
            self._changed.set()

    def _remember(self, venue_id: int, item: dict) -> None:
        events = self._events.setdefault(venue_id, [])
        events.append(item)
        if len(events) > RECENT_EVENTS:
            del events[0]

    def _mark(self, venue_id: int) -> None:
        self._dirty.add(venue_id)
        self.city.changed(venue_id)
        self.pacing.changed(venue_id)
        self.pacing.changed(ALL_VENUES)
        self._changed.set()

    def _resync(self, target) -> None:
        """Events of ``target`` may have been missed: send its sockets a fresh state."""
        if target == ALL_VENUES:
            self.city.missed_events()
            self._changed.set()
        elif target in self._sockets[VENUE] or target in self._sockets[DISPLAY]:
            if target in self._sockets[VENUE]:
                self._needs_snapshot.add(target)
            self._mark(target)

    def _dropped(self, target) -> None:
        if target == ALL_VENUES:
            self.city.forget()  # no longer kept current: read again when next needed

    # -- flushing ----------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # comes as the event is set, and stop() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._until_next_due(time.monotonic())):
                    await self._changed.wait()
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
        return self.pacing.wait([*self._dirty, ALL_VENUES] if self.city.pending else self._dirty, now)

    async def _flush(self, now_mono: float) -> None:
        due = set(self.pacing.take_due(self._dirty, now_mono))
        self._dirty -= due  # the others stay marked for later
        try:
            await self._flush_venues(due, now_mono)
        except BaseException:
            self._dirty |= due  # not sent: the retry sends them
            raise
        if self.city.table is None:
            self.city.discard_changes()
        elif self.city.pending and now_mono >= self.pacing.due_at(ALL_VENUES) and (
                self.pacing.take([ALL_VENUES], now_mono)):
            self.pacing.sent(ALL_VENUES, now_mono)
            if (update := await self.city.update(time.time())) is not None:
                frame = Frame(update)
                for outbox in self._sockets[CITY].get(0, ()):
                    outbox.offer(frame)

    async def _flush_venues(self, due: set[int], now_mono: float) -> None:
        now = time.time()
        watched = [v for v in due if v in self._sockets[VENUE] or v in self._sockets[DISPLAY]]
        if not watched:
            return
        full = [v for v in watched if v in self._needs_snapshot]
        # The events heard so far, taken before the counts are read: each was published before
        # that read, so a frame's count always includes its events. One heard during the read
        # waits for the next frame (its venue is marked changed again).
        events = {v: self._events.pop(v) for v in watched if v in self._events}
        try:
            lives = await self.reader.venues(
                [v for v in watched if v not in self._needs_snapshot], now, minutes=FRESH_MINUTES,
                recent=False)
            if full:
                lives.update(await self.reader.venues(full, now, series=True))
        except BaseException:
            for venue_id, taken in events.items():  # not sent: the retry sends them
                self._events[venue_id] = (taken + self._events.get(venue_id, []))[-RECENT_EVENTS:]
            raise
        for venue_id, live in lives.items():
            try:
                info = await self.venue_cache.by_id(venue_id)
            except UnknownVenue:
                continue
            self.pacing.sent(venue_id, now_mono)
            if venue_id in self._sockets[VENUE]:
                self._offer_venue(live, info, now, events.get(venue_id, []))
            if venue_id in self._sockets[DISPLAY]:
                display = Frame(frames.display_frame(info, live.count, live.capacity, live.paused,
                                                     now, line=live.line))
                for outbox in self._sockets[DISPLAY][venue_id]:
                    outbox.offer(display)

    def _offer_venue(self, live: VenueLive, info: VenueInfo, now: float, events: list[dict]) -> None:
        """The venue's dashboards get its new events, or a snapshot if they may have missed some."""
        snapshot = live.venue_id in self._needs_snapshot
        self._needs_snapshot.discard(live.venue_id)
        if snapshot:  # its recent events were read with it
            self._events.pop(live.venue_id, None)
        else:
            live.recent = events[::-1]  # newest first
        frame = frames.venue_frame(live, info, now, secret=self.secret, snapshot=snapshot)
        if live.venue_id in self._booking_news:
            self._booking_news.discard(live.venue_id)
            frame["bookings_changed"] = True
        frame = Frame(frame)
        for outbox in self._sockets[VENUE][live.venue_id]:
            outbox.offer(frame)
