"""One socket's outbox: at most one frame waits (the latest state), so a slow reader never builds
a backlog; a reader stuck for longer than the send timeout is dropped.

The outbox is run by the socket's own task, and no send has a timer of its own: one ``Sweep``
per process looks once a second for sends begun too long ago, and for pages whose keep-alives
stopped. With thousands of sockets open, a timer per frame and a task per socket were a good
part of what the screens cost.
"""

import asyncio
import collections
import contextlib
from collections.abc import Callable

import msgspec
from starlette.websockets import WebSocket

from occupancy.live import wire

CLOSE_TOO_SLOW = 4408
CLOSE_SILENT = 1011  # as a WebSocket keep-alive timeout closes
# A page sends a keep-alive every 20 s; a hidden tab's timers may fire only once a minute.
SILENT_SECONDS = 180.0


class Frame:
    """A frame offered to many sockets: encoded to JSON, and to a WebSocket frame, once, when
    the first one sends it."""

    __slots__ = ("data", "_text", "_wire")

    def __init__(self, data: dict) -> None:
        self.data = data
        self._text: str | None = None
        self._wire: bytes | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = msgspec.json.encode(self.data).decode()
        return self._text

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = wire.text_frame(self.text)
        return self._wire


class Sweep:
    """Deadlines of every socket of a process, looked at together: a send still on its way after
    ``send_timeout`` gives its socket up, and so does a client that sent keep-alives and then
    fell silent for ``silent_seconds`` (its page is gone without a word, say, behind a proxy
    that keeps the connection). The sweeping task runs only while there is something to watch."""

    def __init__(self, send_timeout: float = 10.0, silent_seconds: float = SILENT_SECONDS) -> None:
        self.send_timeout = send_timeout
        self.silent_seconds = silent_seconds
        self.every = min(1.0, send_timeout / 2)
        # Silence is looked for less often: every page that ever sent a keep-alive is walked.
        self.silence_every = min(10.0, silent_seconds / 4)
        self._silence_checked = float("-inf")
        self._sending: dict[Outbox, float] = {}  # outbox -> when its current send began
        self._heard: dict[Outbox, float] = {}  # outbox -> when its client was last heard
        self._task: asyncio.Task | None = None

    def began(self, outbox: "Outbox") -> None:
        self._sending[outbox] = asyncio.get_running_loop().time()
        self._ensure_running()

    def ended(self, outbox: "Outbox") -> None:
        self._sending.pop(outbox, None)

    def heard(self, outbox: "Outbox") -> None:
        self._heard[outbox] = asyncio.get_running_loop().time()
        self._ensure_running()

    def forget(self, outbox: "Outbox") -> None:
        self._sending.pop(outbox, None)
        self._heard.pop(outbox, None)

    def _ensure_running(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="live-sweep")

    async def _run(self) -> None:
        try:
            while self._sending or self._heard:
                await asyncio.sleep(self.every)
                self.sweep(asyncio.get_running_loop().time())
        finally:
            self._task = None

    def sweep(self, now: float) -> None:
        for outbox, since in list(self._sending.items()):
            if now - since > self.send_timeout:
                self._sending.pop(outbox, None)
                outbox.give_up()
        if now - self._silence_checked < self.silence_every:
            return
        self._silence_checked = now
        for outbox, since in list(self._heard.items()):
            if now - since > self.silent_seconds:
                self._heard.pop(outbox, None)
                outbox.stop(CLOSE_SILENT, "keep-alive timeout")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class Outbox:
    def __init__(
        self,
        websocket: WebSocket,
        sweep: Sweep,
        merge: Callable[[dict, dict], dict] | None = None,
        write_now: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.websocket = websocket
        self.sweep = sweep
        self.merge = merge
        self._pending: Frame | None = None
        self._wake = asyncio.Event()
        self._stopped = False
        self._too_slow = False
        self.close_with: tuple[int, str] | None = None  # why ``stop`` was called, if it says
        self._task: asyncio.Task | None = None
        # Writes a frame at once (occupancy.live.wire), where the server offers it; used only
        # while ``run`` waits, so that frames keep their order (the snapshot first).
        self._write_now = write_now
        self._waiting = False
        self.sent = 0
        self.replaced = 0  # frames skipped because a newer state came first (for tests)

    @property
    def waiting(self) -> int:
        """Frames held for this socket: 0 or 1, whatever the rate of updates."""
        return 0 if self._pending is None else 1

    def offer(self, frame: Frame) -> None:
        if (self._waiting and not self._stopped and self._write_now is not None
                and self._write_now(frame.wire)):
            self.sent += 1
            return
        if self._pending is not None:
            self.replaced += 1
            if self.merge:
                frame = Frame(self.merge(self._pending.data, frame.data))
        self._pending = frame
        self._wake.set()

    def heard(self) -> None:
        """The client sent something: it is still there."""
        self.sweep.heard(self)

    def stop(self, code: int | None = None, reason: str = "") -> None:
        """``run`` returns (the client left, or its access ended; ``code``: close with it)."""
        if code is not None and self.close_with is None:
            self.close_with = (code, reason)
        self._stopped = True
        self._wake.set()

    def give_up(self) -> None:
        """A send took too long: ``run`` stops it, closes the socket and returns."""
        self._too_slow = True
        if self._task is not None:
            self._task.cancel()

    async def run(self) -> None:
        """Send frames as they come until ``stop``; return early, after closing the socket,
        when it is too slow."""
        self._task = asyncio.current_task()
        try:
            await self._send_until_stopped()
        except asyncio.CancelledError:
            if not self._too_slow:
                raise
            self._task.uncancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.websocket.close(CLOSE_TOO_SLOW), 1.0)
        finally:
            self._task = None
            self.sweep.forget(self)

    async def _send_until_stopped(self) -> None:
        while not self._stopped:
            if self._pending is None:
                self._wake.clear()
                self._waiting = True
                try:
                    await self._wake.wait()
                finally:
                    self._waiting = False
                continue
            frame, self._pending = self._pending, None
            self.sweep.began(self)
            await self.websocket.send_text(frame.text)
            self.sweep.ended(self)
            self.sent += 1


class DirectOutbox:
    """The outbox of a socket the app has handed over (``occupancy.live.wire.detach``), with no
    task of its own: a frame is written at once while the socket takes it; while its buffer is
    full the latest state waits (merged, as in ``Outbox``) and goes when the buffer drains, and
    a buffer full for longer than the send timeout drops the socket, as a send too slow does.

    Frames offered before ``release`` (while the snapshot is read and sent) wait, so that the
    snapshot goes first. It is the socket's ``Listener``: what the client sends goes to
    ``on_text``; ``closed`` runs the callbacks given to ``on_closed`` (leaving the hub, and the
    token's rechecks), once."""

    def __init__(self, write_now: Callable[[bytes], bool], sweep: Sweep,
                 merge: Callable[[dict, dict], dict] | None = None) -> None:
        self._write_now = write_now
        self.sweep = sweep
        self.merge = merge
        self.on_text: Callable[[str | None], None] | None = None
        self._pending: Frame | None = None
        # Messages for this socket alone (a followed visit's states): never merged nor dropped.
        self._messages: collections.deque[bytes] = collections.deque()
        self._close: Callable[[int, str], None] | None = None  # set by ``release``
        self.close_with: tuple[int, str] | None = None
        self._on_closed: list[Callable[[], object]] = []
        self._closed = False
        self.sent = 0
        self.replaced = 0

    @property
    def waiting(self) -> int:
        return len(self._messages) + (0 if self._pending is None else 1)

    def _idle(self) -> bool:
        return not self._messages and self._pending is None

    def _written_at_once(self, wire_bytes: bytes) -> bool:
        """Written now if nothing waits and the socket takes it. If it does not, the buffer is
        full: from now on it must drain in time."""
        if self._close is None or not self._idle():
            return False
        if self._write_now(wire_bytes):
            self.sent += 1
            return True
        self.sweep.began(self)
        return False

    def offer(self, frame: Frame) -> None:
        if self._closed or self._written_at_once(frame.wire):
            return
        if self._pending is not None:
            self.replaced += 1
            if self.merge:
                frame = Frame(self.merge(self._pending.data, frame.data))
        self._pending = frame

    def send(self, data: dict) -> None:
        """A message for this socket alone, written before the latest state that waits."""
        if self._closed:
            return
        message = Frame(data).wire
        if not self._written_at_once(message):
            self._messages.append(message)

    def release(self, close: Callable[[int, str], None]) -> None:
        """The snapshot is out and the socket handed over: send what waited, or close as asked."""
        self._close = close
        if self.close_with is not None:
            close(*self.close_with)
            return
        if not self._idle():
            self.sweep.began(self)
            self.drained()

    def drained(self) -> None:
        if self._close is None or self._idle():
            return
        while self._messages:
            if not self._write_now(self._messages[0]):
                return
            self._messages.popleft()
            self.sent += 1
        if self._pending is not None:
            if not self._write_now(self._pending.wire):
                return
            self._pending = None
            self.sent += 1
        self.sweep.ended(self)

    def received(self, text: str | None) -> None:
        self.sweep.heard(self)
        if self.on_text is not None:
            self.on_text(text)

    def heard(self) -> None:
        self.sweep.heard(self)

    def stop(self, code: int | None = None, reason: str = "") -> None:
        if code is not None and self.close_with is None:
            self.close_with = (code, reason)
        if self._close is not None:
            self._close(*(self.close_with or (1000, "")))

    def give_up(self) -> None:
        self.stop(CLOSE_TOO_SLOW, "too slow to read its updates")

    def on_closed(self, callback: Callable[[], object]) -> None:
        self._on_closed.append(callback)

    def closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pending = None
        self._messages.clear()
        self.sweep.forget(self)
        for callback in self._on_closed:
            callback()
        self._on_closed.clear()
