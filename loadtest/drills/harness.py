"""What a drill runs against and breaks: a real Redis it can kill, a database it can stall or stop,
and ``occupancy serve --workers 2`` it can signal.

Everything listens on 127.0.0.1 on free ports and lives in a temporary folder removed on exit.
"""

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from loadtest.peak import stack
from loadtest.peak.stack import (
    SeededVenue,
    access_token,
    seed_venues,
)
from occupancy import migrate
from occupancy import redis_keys as keys
from occupancy.embedded_redis import find_server_binary, free_port

PG_BIN = Path(os.environ.get("OCCUPANCY_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGRES_URL = os.environ.get("OCCUPANCY_TEST_POSTGRES_URL", "")


def postgres_available() -> bool:
    return (PG_BIN / "initdb").exists()


# Redis ------------------------------------------------------------------------------------------


class RedisServer:
    """A Redis (Valkey) server on a fixed loopback port: killed, stopped, flushed and started
    again on the same port, empty or (with ``aof``) from its append-only file."""

    def __init__(self, workdir: Path, aof: bool = False) -> None:
        self.port = free_port()
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aof = aof
        self.process: subprocess.Popen | None = None
        self.log_path = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        args = [find_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--dir", str(self.dir), "--daemonize", "no",
                "--loglevel", "warning", "--logfile", str(self.log_path)]
        args += (["--appendonly", "yes", "--appendfsync", "everysec"] if self.aof
                 else ["--appendonly", "no"])
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Redis exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            if self._answers():
                return self
            time.sleep(0.01)
        raise RuntimeError("Redis did not start in time")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """``kill -9``: nothing is saved beyond what the append-only file already holds."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot stop
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a hung server)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def restart(self, empty: bool = True) -> None:
        self.kill9()
        if empty:
            for path in self.dir.glob("appendonly*"):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
        self.start()

    def flushall(self) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            client.flushall()
        finally:
            client.close()


# SQL --------------------------------------------------------------------------------------------


def _as_postgres(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


class PostgresCluster:
    """A private throwaway PostgreSQL cluster (initdb as the postgres user) that a drill may stop
    (``pg_ctl stop -m immediate``, as a crash) and start again."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "pg"
        self.port = free_port()

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> "PostgresCluster":
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            os.chmod(self.dir.parent, 0o755)  # mkdtemp's folder: the postgres user must get through
            shutil.chown(self.dir, "postgres", "postgres")
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust",
                      "-U", "postgres", "--no-sync"])
        self.start()
        return self

    def start(self) -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-w", "-l",
                      str(self.dir / "server.log"), "-o",
                      f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                      "-c max_connections=200", "start"])

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop"])


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


class Database:
    """The drill's database: a SQLite file, a new database on OCCUPANCY_TEST_POSTGRES_URL, or a
    private cluster (always, when the drill stops the server: ``own_cluster``)."""

    def __init__(self, kind: str, workdir: Path, own_cluster: bool = False) -> None:
        assert kind in ("sqlite", "postgresql"), kind
        self.kind = kind
        self.workdir = workdir
        self.own_cluster = own_cluster or not POSTGRES_URL
        self.cluster: PostgresCluster | None = None
        self.url = ""
        self.sqlite_path: Path | None = None
        self._admin_url = ""
        self._name = ""

    async def create(self) -> "Database":
        if self.kind == "sqlite":
            self.sqlite_path = self.workdir / "drill.db"
            self.url = f"sqlite+aiosqlite:///{self.sqlite_path}"
        else:
            if self.own_cluster:
                self.cluster = await asyncio.to_thread(PostgresCluster(self.workdir).init)
                self._admin_url = self.cluster.admin_url
            else:
                self._admin_url = POSTGRES_URL
            self._name = f"occ_drill_{uuid.uuid4().hex[:10]}"
            await _admin(self._admin_url, f'CREATE DATABASE "{self._name}"')
            self.url = self._admin_url.rsplit("/", 1)[0] + f"/{self._name}"
        await asyncio.to_thread(migrate.upgrade, self.url)
        return self

    async def drop(self) -> None:
        if self.cluster:
            await asyncio.to_thread(self.cluster.stop, "immediate")
        elif self._name:
            with contextlib.suppress(Exception):
                await _admin(self._admin_url, f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')

    @contextlib.asynccontextmanager
    async def stalled(self):
        """Hold the write lock the visits need until the block ends: SQLite ``BEGIN IMMEDIATE``
        from another connection, or ``LOCK TABLE visits IN EXCLUSIVE MODE`` (reads still run)."""
        if self.kind == "sqlite":
            locked, release = threading.Event(), threading.Event()

            def hold() -> None:
                conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    locked.set()
                    release.wait(120)
                    conn.execute("ROLLBACK")
                finally:
                    conn.close()

            holder = threading.Thread(target=hold, daemon=True)
            holder.start()
            await asyncio.to_thread(locked.wait, 30)
            try:
                yield
            finally:
                release.set()
                await asyncio.to_thread(holder.join, 30)
        else:
            import asyncpg

            conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                transaction = conn.transaction()
                await transaction.start()
                await conn.execute("LOCK TABLE visits IN EXCLUSIVE MODE")
                try:
                    yield
                finally:
                    await transaction.rollback()
            finally:
                await conn.close()


# The server -------------------------------------------------------------------------------------


class Server(stack.Server):
    """The stack's server, as a drill uses it: on one port for its whole life, stopped (SIGTERM)
    and started again there, its workers killed; one log file across restarts; none of the
    shell's OCCUPANCY_ settings."""

    def __init__(self, database_url: str, redis_url: str, workdir: Path, workers: int = 2,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(database_url, redis_url, workdir, workers, env, log_name="server.log",
                         clean_env=True)

    def start(self, timeout: float = 300) -> "Server":
        # The drill migrated the database already.
        return super().start(timeout, migrate=False, all_workers=True)

    def worker_pids(self) -> list[int]:
        return super().worker_pids() if self.pids()[1:] else []

    def kill_worker(self, rng: random.Random) -> int:
        """``kill -9`` one worker process (uvicorn's supervisor starts another in its place)."""
        pid = rng.choice(self.worker_pids())
        os.kill(pid, signal.SIGKILL)
        return pid


# The whole stack --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Venue:
    id: int
    code: str  # signed, as in the QR code
    capacity: int


class Stack:
    """A database, a Redis and the server, with ``venues`` venues of capacity 30-50."""

    def __init__(self, db: str = "sqlite", venues: int = 6, aof: bool = False, seed: int = 1,
                 env: dict[str, str] | None = None, own_cluster: bool = False,
                 workdir: Path | None = None) -> None:
        self.kind = db
        self.venue_count = venues
        self.aof = aof
        self.rng = random.Random(seed)
        self.env = env or {}
        self.own_cluster = own_cluster
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="occ-drill-"))
        self.database = Database(db, self.workdir, own_cluster)
        self.redis = RedisServer(self.workdir, aof)
        self.server: Server | None = None
        self.venues: list[Venue] = []
        self.operator_token = ""

    async def __aenter__(self) -> "Stack":
        try:
            await self.database.create()
            await asyncio.to_thread(self.redis.start)
            groups = {f"d{i:02d}": (1, self.rng.randint(30, 50)) for i in range(1, self.venue_count + 1)}
            seeded: dict[str, list[SeededVenue]] = await seed_venues(
                self.database.url, self.redis.url, groups)
            self.venues = [Venue(v.id, v.signed_code, v.capacity) for vs in seeded.values() for v in vs]
            self.operator_token = await access_token(self.database.url, "operator")
            # seed_venues loaded every venue (empty) into Redis: nothing for start-up to rebuild.
            client = redis.Redis(host="127.0.0.1", port=self.redis.port)
            client.set(keys.READY_MARKER, "1")
            client.close()
            self.server = Server(self.database.url, self.redis.url, self.workdir, env=self.env)
            await asyncio.to_thread(self.server.start)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.server:
            await asyncio.to_thread(self.server.stop)
        await asyncio.to_thread(self.redis.stop)
        await self.database.drop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def capacities(self) -> dict[int, int]:
        return {v.id: v.capacity for v in self.venues}
