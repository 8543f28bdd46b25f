"""Limits against slow and huge clients, against the real server (uvicorn workers): a connection
that never sends a whole request is closed; a body over the limit is refused with 413 before it
is sent; a socket message over the limit closes the socket; sockets themselves outlive the
request deadline."""

import asyncio
import socket
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import LiveServer

DEADLINE = 1.0


@pytest.fixture
def empty_database_url(sqlite_database_url):
    return sqlite_database_url


@pytest.fixture
def server(settings, services):
    live = LiveServer(settings, workers=1, OCCUPANCY_REQUEST_TIMEOUT_SECONDS=str(DEADLINE)).start()
    yield live
    live.stop()


def raw(server: LiveServer, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    if data:
        sock.sendall(data)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """Reads one whole answer: headers and body may arrive in separate packets."""
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < body_length(answer):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def body_length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def seconds_until_closed(sock: socket.socket) -> float:
    """Reads until the server closes the connection; how long that took."""
    started = time.monotonic()
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def test_a_connection_that_sends_nothing_or_half_a_request_is_closed(server):
    idle = raw(server, b"")
    half = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    # Closed by the deadline (well before the 30 s read timeout of this client).
    assert seconds_until_closed(idle) < 15
    assert seconds_until_closed(half) < 15
    whole = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert whole.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("path", ["/api/venues/{code}/check-ins", "/api/venues/{id}"])
async def test_a_body_over_the_limit_is_refused_before_it_is_sent(server, path, make_venue):
    venue, code = await make_venue()
    target = path.format(code=code, id=venue.id).encode()
    method = b"POST" if b"check-ins" in target else b"PATCH"
    sock = raw(server, method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{")
    answer = await asyncio.to_thread(read_answer, sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"body_too_large"' in answer.replace(b" ", b"")


async def test_sockets_outlive_the_deadline_and_refuse_a_huge_message(server, make_venue):
    venue, code = await make_venue()
    async with connect(f"ws://127.0.0.1:{server.port}/ws/display/{code}") as ws:
        await ws.recv()  # the snapshot
        await asyncio.sleep(DEADLINE * 2.5)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)  # still open past the request deadline
        await ws.send("x" * 100_000)
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(10):
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_behind_a_trusted_balancer_each_client_address_has_its_own_allowance(
        settings, services, make_venue):
    """The rate limits count the address the balancer forwards (believed from 127.0.0.1)."""
    import httpx

    from tests.visits.helpers import visitor

    _, code = await make_venue(capacity=100)
    live = LiveServer(settings, workers=1, OCCUPANCY_CHECK_INS_PER_ADDRESS="2").start()
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            async def from_address(address: str) -> int:
                answer = await http.post(f"/api/venues/{code}/check-ins", json=visitor(),
                                         headers={"X-Forwarded-For": address})
                return answer.status_code

            first = [await from_address("203.0.113.7") for _ in range(3)]
            second = [await from_address("203.0.113.8") for _ in range(2)]
    finally:
        live.stop()
    assert first == [201, 201, 429] and second == [201, 201]
