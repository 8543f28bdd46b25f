"""A crowd of truly simultaneous HTTP requests: one connection each, all sent at the same moment.

httpx queues requests beyond its pool and its pool slows down quadratically with thousands
waiting, so a crowd test needs its own tiny client: open every connection first, then release
all requests together and read the answers.
"""

import asyncio
import json
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Answer:
    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    def json(self):
        return json.loads(self.body)


async def _exchange(host: str, port: int, method: str, path: str, body: dict | None,
                    go: asyncio.Event, opened, tls: ssl.SSLContext | None = None) -> Answer:
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    finally:
        opened()
    try:
        payload = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        await go.wait()
        writer.write(head.encode() + payload)
        await writer.drain()
        status_line = await reader.readline()
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", 0))
        return Answer(int(status_line.split()[1]), await reader.readexactly(length), headers)
    finally:
        writer.close()


async def crowd(base_url: str, requests: list[tuple[str, str, dict | None]]) -> list[Answer]:
    """Send ``(method, path, json_body)`` requests all at once; answers in the same order.

    An https URL is spoken to over TLS without checking the certificate (a test stack's own)."""
    url = urlsplit(base_url)
    tls = None
    if url.scheme == "https":
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    go = asyncio.Event()
    waiting = len(requests)

    def opened() -> None:  # the crowd moves once every connection is open (or failed to)
        nonlocal waiting
        waiting -= 1
        if waiting == 0:
            go.set()

    tasks = [asyncio.create_task(_exchange(url.hostname, url.port, m, p, b, go, opened, tls))
             for m, p, b in requests]
    return await asyncio.gather(*tasks)
