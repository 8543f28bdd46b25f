"""Frames written straight to a socket's transport (occupancy.live.wire), through a real uvicorn
server with the service's WebSocket protocol and a real websockets client."""

import asyncio
import json
import socket

import pytest
import uvicorn
from websockets.asyncio.client import connect

from occupancy.live import wire
from occupancy.live.outbox import DirectOutbox, Frame, Sweep
from occupancy.serving import UVICORN_OPTIONS


class FrameWriter:
    """An ASGI app that writes frames with the protocol's ``write_frame`` until told to stop."""

    def __init__(self) -> None:
        self.writer = None
        self.connected = asyncio.Event()
        self.close = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        self.writer = wire.writer_in(scope)
        self.connected.set()
        await self.close.wait()
        await send({"type": "websocket.close", "code": 1000})


class HandsOver:
    """An ASGI app that hands each socket over to itself (``wire.detach``) and returns at once;
    as the socket's listener it records what the protocol tells it."""

    def __init__(self) -> None:
        self.writer = self.close = None
        self.returned = asyncio.Event()
        self.texts: list[str | None] = []
        self.closes = 0
        self.heard = asyncio.Event()
        self.gone = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        self.writer = wire.writer_in(scope)
        self.close = wire.detacher_in(scope)(self)
        self.returned.set()

    def received(self, text: str | None) -> None:
        self.texts.append(text)
        self.heard.set()

    def drained(self) -> None:
        pass

    def closed(self) -> None:
        self.closes += 1
        self.gone.set()


class HandsOverToOutbox:
    """An ASGI app handing each socket over to a ``DirectOutbox``, as the live sockets do."""

    def __init__(self, send_timeout: float) -> None:
        self.sweep = Sweep(send_timeout=send_timeout)
        self.outbox: DirectOutbox | None = None
        self.ready = asyncio.Event()
        self.left = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        self.outbox = DirectOutbox(wire.writer_in(scope), self.sweep)
        self.outbox.on_closed(self.left.set)
        self.outbox.release(wire.detacher_in(scope)(self.outbox))
        self.ready.set()


async def _serve(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = {k: v for k, v in UVICORN_OPTIONS.items() if k != "timeout_worker_healthcheck"}
    # log_config=None: uvicorn's own logging setup would stop its loggers propagating for the
    # rest of the test session (tests/test_logs.py reads them through the root logger).
    config = uvicorn.Config(app, log_config=None, **{**options, "loop": "none"})
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve(sockets=[sock]))
    while not running.started:
        await asyncio.sleep(0.01)
    return running, task, f"ws://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.fixture
async def server():
    app = FrameWriter()
    running, task, url = await _serve(app)
    yield app, url
    running.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
async def handed_over():
    app = HandsOver()
    running, task, url = await _serve(app)
    yield app, url
    running.should_exit = True
    await asyncio.wait_for(task, 10)


def frame(n: int) -> bytes:
    return wire.text_frame(json.dumps({"n": n, "pad": "x" * 200}))


async def test_frames_written_straight_arrive_in_order_and_not_after_close(server):
    app, url = server
    async with connect(url) as client:
        await asyncio.wait_for(app.connected.wait(), 5)
        assert app.writer is not None
        assert all(app.writer(frame(n)) for n in range(100))
        received = [json.loads(await asyncio.wait_for(client.recv(), 5))["n"] for _ in range(100)]
        assert received == list(range(100))

        app.close.set()
        await asyncio.wait_for(client.wait_closed(), 5)
        assert client.close_code == 1000
    assert app.writer(frame(100)) is False


async def test_a_reader_that_stops_reading_is_refused_frames_once_its_buffer_is_full(server):
    """The caller then sends through ASGI, where the send timeout gives the socket up."""
    app, url = server
    # A client that reads one frame into its queue and then stops reading from the network.
    async with connect(url, max_queue=1) as client:
        await asyncio.wait_for(app.connected.wait(), 5)
        written = 0
        while app.writer(frame(written)):
            written += 1
            assert written < 200_000, "never refused: the server's buffer grows without bound"
            if written % 100 == 0:
                await asyncio.sleep(0)  # let the transport try to send
        assert written > 0
        app.close.set()
        client.transport.abort()


async def test_a_socket_handed_over_stays_open_after_the_app_returns_and_its_listener_is_told(
        handed_over):
    app, url = handed_over
    async with connect(url) as client:
        await asyncio.wait_for(app.returned.wait(), 5)
        assert app.close is not None, "the open socket should have been handed over"
        await asyncio.sleep(0.2)  # the app's task has ended: the socket must stay open
        assert all(app.writer(frame(n)) for n in range(10))
        received = [json.loads(await asyncio.wait_for(client.recv(), 5))["n"] for _ in range(10)]
        assert received == list(range(10))

        await client.send("still here")
        await asyncio.wait_for(app.heard.wait(), 5)
        assert app.texts == ["still here"]

        app.close(4408, "too slow")
        await asyncio.wait_for(client.wait_closed(), 5)
        assert (client.close_code, client.close_reason) == (4408, "too slow")
    await asyncio.wait_for(app.gone.wait(), 5)
    assert app.writer(frame(10)) is False


async def test_a_handed_over_socket_closed_by_its_client_tells_the_listener(handed_over):
    app, url = handed_over
    async with connect(url):
        await asyncio.wait_for(app.returned.wait(), 5)
    await asyncio.wait_for(app.gone.wait(), 5)
    assert app.closes >= 1
    assert app.writer(frame(0)) is False


async def _fill_until_one_waits(outbox: DirectOutbox) -> int:
    """Offer frames until the socket's buffer is full and one waits; how many were offered."""
    n = 0
    while outbox.waiting == 0:
        outbox.offer(Frame({"n": n, "pad": "x" * 2000}))
        n += 1
        assert n < 200_000, "never held back: the server's buffer grows without bound"
        if n % 100 == 0:
            await asyncio.sleep(0)
    return n


async def test_a_slow_reader_of_a_handed_over_socket_gets_the_latest_state_when_it_reads_again():
    app = HandsOverToOutbox(send_timeout=30)
    running, task, url = await _serve(app)
    try:
        async with connect(url, max_queue=1) as client:
            await asyncio.wait_for(app.ready.wait(), 5)
            n = await _fill_until_one_waits(app.outbox)
            for later in range(n, n + 50):  # the frame waiting, and each of these but the last,
                # is replaced by the next
                app.outbox.offer(Frame({"n": later, "pad": ""}))
            assert app.outbox.waiting == 1

            last = None
            while last != n + 49:
                last = json.loads(await asyncio.wait_for(client.recv(), 5))["n"]
            assert app.outbox.waiting == 0 and app.outbox.replaced == 50
    finally:
        running.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_a_handed_over_socket_whose_reader_is_stuck_is_let_go_after_the_send_timeout():
    app = HandsOverToOutbox(send_timeout=0.3)
    running, task, url = await _serve(app)
    try:
        async with connect(url, max_queue=1) as client:
            await asyncio.wait_for(app.ready.wait(), 5)
            await _fill_until_one_waits(app.outbox)
            await asyncio.wait_for(app.left.wait(), 10)  # closed, and its callbacks run
            app.outbox.offer(Frame({"n": -1}))
            assert app.outbox.waiting == 0
            client.transport.abort()
    finally:
        running.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_a_handed_over_sockets_own_messages_wait_in_order_before_the_latest_state():
    """A followed visit's states are the page's own: a slow reader gets every one of them, in
    order and before the state that waits, where states replace each other."""
    app = HandsOverToOutbox(send_timeout=30)
    running, task, url = await _serve(app)
    try:
        async with connect(url, max_queue=1) as client:
            await asyncio.wait_for(app.ready.wait(), 5)
            heard = []
            app.outbox.on_text = heard.append
            await client.send('{"ticket": "t"}')
            n = await _fill_until_one_waits(app.outbox)
            for k in range(3):
                app.outbox.send({"m": k})
                app.outbox.offer(Frame({"n": n + k, "pad": ""}))
            assert app.outbox.waiting == 4  # three messages and one state

            seen = []
            while not seen or seen[-1].get("n") != n + 2:
                seen.append(json.loads(await asyncio.wait_for(client.recv(), 5)))
            assert [f["m"] for f in seen if "m" in f] == [0, 1, 2]
            assert "m" in seen[-2] and seen[-1]["n"] == n + 2  # the messages, then the state
            assert app.outbox.waiting == 0 and heard == ['{"ticket": "t"}']
    finally:
        running.should_exit = True
        await asyncio.wait_for(task, 15)
