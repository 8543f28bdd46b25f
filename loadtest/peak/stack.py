"""The system under test: a throwaway database, a real Redis, `occupancy serve` and seeded venues.

Everything is started here and torn down on exit; nothing outside 127.0.0.1 is touched.
"""

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from occupancy import migrate
from occupancy import redis_keys as keys
from occupancy.accounts.service import issue_token
from occupancy.db import make_engine, make_sessionmaker
from occupancy.embedded_cluster import EmbeddedCluster
from occupancy.embedded_redis import EmbeddedRedis, free_port
from occupancy.privacy.sealing import new_key_pair
from occupancy.venues import signing
from occupancy.venues.models import Venue

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-secret"
# Personal data is sealed as in production: to a health office key made for this run.
OFFICE_PUBLIC_KEY, OFFICE_PRIVATE_KEY = new_key_pair()
# The load comes from one address: the rate limits run on every check-in but are never reached.
UNREACHED_RATE_LIMITS = {"OCCUPANCY_CHECK_INS_PER_ADDRESS": "100000000",
                         "OCCUPANCY_CHECK_INS_PER_VENUE": "100000000"}
# 20,000 screens on two workers: SO_REUSEPORT spreads them unevenly, so each worker may take
# more than half (the service's default guards a worker with 10,000).
SCREENS_ROOM = {"OCCUPANCY_MAX_CONNECTIONS_PER_PROCESS": "25000"}
POSTGRES_ADMIN_URL = os.environ.get(
    "OCCUPANCY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DISTRICTS = ("Karawaci", "Cipondoh", "Ciledug", "Tangerang", "Batuceper", "Neglasari")
CATEGORIES = ("mall", "shop", "market", "park", "station", "office")


@dataclass(frozen=True)
class SeededVenue:
    id: int
    signed_code: str
    capacity: int


class Database:
    """A database that exists only for one benchmark: a SQLite file or a new PostgreSQL database."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.url = ""
        self._pg_name = ""
        self._pg_admin = POSTGRES_ADMIN_URL
        self._cluster: Path | None = None
        self._sqlite: Path | None = None

    def create(self) -> "Database":
        if self.kind == "sqlite":
            # One file per database: a run on another Redis starts from an empty one.
            self._sqlite = self.workdir / f"bench-{uuid.uuid4().hex[:10]}.db"
            self.url = f"sqlite+aiosqlite:///{self._sqlite}"
        else:
            if not _answers(self._pg_admin):
                self._start_cluster()
            self._pg_name = f"occ_bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(_admin(self._pg_admin, f'CREATE DATABASE "{self._pg_name}"'))
            self.url = self._pg_admin.rsplit("/", 1)[0] + f"/{self._pg_name}"
        migrate.upgrade(self.url)
        return self

    def drop(self) -> None:
        if self._sqlite:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self._sqlite}{suffix}").unlink(missing_ok=True)
            self._sqlite = None
        if self._pg_name:
            asyncio.run(_admin(self._pg_admin, f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
            self._pg_name = ""
        if self._cluster:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self._cluster), "-m", "fast", "stop"])
            shutil.rmtree(self._cluster, ignore_errors=True)
            self._cluster = None

    def _start_cluster(self) -> None:
        """No server on 5432: a throwaway cluster on a free port, run as the postgres user."""
        self._cluster = Path(tempfile.mkdtemp(prefix="occ-bench-pg-"))
        shutil.chown(self._cluster, "postgres", "postgres")
        port = free_port()
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self._cluster), "-A", "trust", "-U", "postgres"])
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self._cluster), "-w", "-o",
                      f"-p {port} -k {self._cluster} -c listen_addresses=127.0.0.1", "start"])
        self._pg_admin = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


def _as_postgres(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _answers(url: str) -> bool:
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            return True
    except OSError:
        return False


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def seed_venues(
    database_url: str, redis_url: str, groups: dict[str, tuple[int, int]], cluster: bool = False
) -> dict[str, list[SeededVenue]]:
    """Add venues ``{prefix: (count, capacity)}`` in one transaction, push their configuration
    to Redis (``cluster``: a Redis Cluster); return them by prefix."""
    engine = make_engine(database_url)
    redis = AsyncRedisCluster.from_url(redis_url) if cluster else Redis.from_url(redis_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = [
                {"code": f"{prefix}-{i:05d}", "name": f"Bench Venue {prefix} {i}",
                 "district": DISTRICTS[i % len(DISTRICTS)],
                 "category": CATEGORIES[i % len(CATEGORIES)], "capacity": capacity,
                 "max_party": 10, "max_stay_minutes": 240, "fever_threshold": 37.5,
                 "paused": False}
                for prefix, (count, capacity) in groups.items()
                for i in range(1, count + 1)
            ]
            for start in range(0, len(rows), 2000):
                await session.execute(insert(Venue), rows[start:start + 2000])
            await session.commit()
            venues = (await session.execute(select(Venue).order_by(Venue.id))).scalars().all()
        pipe = redis.pipeline(transaction=False)
        for venue in venues:
            pipe.hset(keys.config(venue.id), mapping={"capacity": venue.capacity, "paused": "0"})
            pipe.setnx(keys.count(venue.id), 0)
        await pipe.execute()  # processes read new venues from SQL when first asked for them
        by_prefix: dict[str, list[SeededVenue]] = {prefix: [] for prefix in groups}
        for v in venues:
            by_prefix[v.code.rsplit("-", 1)[0]].append(
                SeededVenue(v.id, signing.sign(SECRET, v.code), v.capacity))
        return by_prefix
    finally:
        await redis.aclose()
        await engine.dispose()


async def access_token(database_url: str, role: str) -> str:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await issue_token(session, role, None, "load test")
    finally:
        await engine.dispose()


class Server:
    """``occupancy serve --workers N`` on a free port of its own (kept across restarts), with one
    log file; the peak harness starts it once, the drills stop, start and kill it."""

    def __init__(self, database_url: str, redis_url: str, workdir: Path, workers: int = 2,
                 extra_env: dict[str, str] | None = None, log_name: str | None = None,
                 clean_env: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.redis_url = redis_url
        self.workdir = workdir
        self.workers = workers
        self.extra_env = extra_env or {}
        self.clean_env = clean_env  # none of this shell's OCCUPANCY_ settings
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / (log_name or f"server-{self.port}.log")

    def start(self, timeout: float = 60, migrate: bool = True,
              all_workers: bool = False) -> "Server":
        """Start and wait until ready (``all_workers``: until every worker listens, too)."""
        with open(self.log_path, "a") as log:
            # The working folder is a temporary one so that no developer's .env is picked up.
            self.process = subprocess.Popen(self.command(migrate), env=self.env(), cwd=self.workdir,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()[-3000:]}")
            if self.ready() and (not all_workers or listening_sockets(self.port) >= self.workers):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.log()[-3000:]}")

    def command(self, migrate: bool = True) -> list[str]:
        return [sys.executable, "-m", "occupancy.cli", "serve", "--port", str(self.port),
                "--workers", str(self.workers), *([] if migrate else ["--no-migrate"])]

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items()
                if not (self.clean_env and k.startswith("OCCUPANCY_"))}
        # The extra environment comes last: it may override anything, the rate limits included.
        return {**base, "OCCUPANCY_DATABASE_URL": self.database_url,
                "OCCUPANCY_REDIS_URL": self.redis_url, "OCCUPANCY_SECRET_KEY": SECRET,
                "OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY": OFFICE_PUBLIC_KEY, **UNREACHED_RATE_LIMITS,
                **SCREENS_ROOM, "OCCUPANCY_PUBLIC_URL": self.url, **self.extra_env}

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def expire_everyone(self) -> None:
        """``occupancy expire`` as if days had passed: every open visit is checked out ('auto')."""
        subprocess.run([sys.executable, "-m", "occupancy.cli", "expire", "--hours-ahead", "100000"],
                       env=self.env(), cwd=self.workdir, check=True, capture_output=True, timeout=600)

    def pids(self) -> list[int]:
        """The serve process and its worker processes."""
        if not self.process or self.process.poll() is not None:
            return []
        found, frontier = [self.process.pid], [self.process.pid]
        while frontier:
            for child in _children(frontier.pop()):
                found.append(child)
                frontier.append(child)
        return found

    def worker_pids(self) -> list[int]:
        """The uvicorn workers (multiprocessing children running the app), or the server itself."""
        workers = [pid for pid in self.pids()[1:] if "spawn_main" in _cmdline(pid)
                   and "resource_tracker" not in _cmdline(pid)]
        return workers or self.pids()[:1]

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a process: it drains and exits."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int | None:
        if not self.process:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def stop(self) -> int | None:
        self.terminate()
        return self.wait()


class BareServer(Server):
    """The bare FastAPI endpoint (loadtest.peak.bare) on the service's uvicorn options and
    worker count, with the service's environment (its settings set the same limits)."""

    def command(self, migrate: bool = True) -> list[str]:
        return [sys.executable, "-m", "loadtest.peak.bare", "--port", str(self.port),
                "--workers", str(self.workers)]

    def env(self) -> dict[str, str]:
        inherited = os.environ.get("PYTHONPATH", "")
        return {**super().env(), "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), inherited) if p)}

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


class BenchRedis:
    """The Redis the service runs on: one private server, or a private cluster of ``masters``
    (each with ``replicas``) on loopback."""

    def __init__(self, kind: str, masters: int = 3, replicas: int = 0) -> None:
        self.kind = kind
        self.cluster = kind == "cluster"
        # Not the drills' 1 s: under a benchmark on a busy machine a master stalled that long
        # and the cluster declared itself down.
        self._server = (EmbeddedCluster(masters, replicas, node_timeout_ms=15_000) if self.cluster
                        else EmbeddedRedis())

    def start(self) -> "BenchRedis":
        self._server.start()
        return self

    @property
    def url(self) -> str:
        return self._server.url

    def pids(self) -> list[int]:
        if self.cluster:
            return [node.process.pid for node in self._server.nodes if node.process]
        return [self._server.process.pid]

    def port_of(self, key: str) -> int:
        """The TCP port of the server (a cluster: the master) holding ``key``."""
        if not self.cluster:
            return self._server.port
        client = RedisCluster.from_url(self.url)
        try:
            return client.get_node_from_key(key).port
        finally:
            client.close()

    def stop(self) -> None:
        self._server.stop()


def listening_sockets(port: int) -> int:
    """Sockets in LISTEN state on ``port`` (from /proc/net/tcp: state 0A)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time these processes (all their threads) have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            # The command name (field 2) may hold spaces: count fields after its ")".
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return children
