"""Fixtures that start real servers: a private Redis, a SQLite file or a fresh PostgreSQL database.

PostgreSQL runs when OCCUPANCY_TEST_POSTGRES_URL points at a server (an admin URL such as
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres); each test gets a database of its own.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis, RedisCluster
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from loadtest.peak.stack import listening_sockets
from occupancy import migrate
from occupancy.app import create_app
from occupancy.embedded_cluster import EmbeddedCluster
from occupancy.embedded_redis import EmbeddedRedis, free_port
from occupancy.privacy.sealing import new_key_pair
from occupancy.services import Services
from occupancy.settings import Settings
from occupancy.venues import service as venue_service
from occupancy.venues import signing
from occupancy.venues.service import VenueInfo

POSTGRES_ADMIN_URL = os.environ.get("OCCUPANCY_TEST_POSTGRES_URL", "")
SECRET = "test-secret"
# The health office's key pair for this run: every server and Settings of the suite seals
# personal data to its public half (servers started by tests inherit the environment).
OFFICE_PUBLIC_KEY, OFFICE_PRIVATE_KEY = new_key_pair()
os.environ["OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY"] = OFFICE_PUBLIC_KEY
# Crowds of the suite come from one address: the rate limits run but are not reached (the rate
# limit tests set their own).
os.environ["OCCUPANCY_CHECK_INS_PER_ADDRESS"] = os.environ["OCCUPANCY_CHECK_INS_PER_VENUE"] = "1000000"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def redis_server():
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster():
    """A private cluster of three masters, each with a replica (started once, on first use)."""
    with EmbeddedCluster(masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def redis_kind() -> str:
    """Which Redis the services use; a module runs on both by importing tests.redis_kinds.redis_kind."""
    return "single"


@pytest.fixture
async def redis_url(request, redis_kind):
    """The private Redis (or cluster), emptied for each test."""
    if redis_kind == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        client = RedisCluster.from_url(cluster.url)
        await client.flushall(target_nodes=RedisCluster.PRIMARIES)
        await client.aclose()
        return cluster.url
    server = request.getfixturevalue("redis_server")
    client = Redis.from_url(server.url)
    await client.flushall()
    await client.aclose()
    return server.url


def _database_params():
    params = ["sqlite"]
    params.append(
        pytest.param("postgresql", marks=pytest.mark.skipif(
            not POSTGRES_ADMIN_URL, reason="OCCUPANCY_TEST_POSTGRES_URL not set"))
    )
    return params


async def _create_postgres_database() -> tuple[str, str]:
    name = f"occ_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


async def _drop_postgres_database(name: str) -> None:
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture
def sqlite_database_url(tmp_path) -> str:
    """For tests that behave alike on every database (pages): override empty_database_url with it."""
    return f"sqlite+aiosqlite:///{tmp_path / 'occupancy.db'}"


@pytest.fixture(params=_database_params())
async def empty_database_url(request, sqlite_database_url):
    """A database with no tables yet: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_database_url
        return
    url, name = await _create_postgres_database()
    yield url
    await _drop_postgres_database(name)


@pytest.fixture
async def database_url(empty_database_url):
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    return empty_database_url


@pytest.fixture
def settings(database_url, redis_url) -> Settings:
    return Settings(
        database_url=database_url, redis_url=redis_url, secret_key=SECRET,
        public_url="http://testserver", auto_checkout_interval_seconds=3600,
        # Each test starts on an emptied Redis with no writes in flight: no grace to wait.
        rebuild_grace_seconds=0,
    )


@pytest.fixture
async def services(settings):
    svc = await Services.start(settings, background=False)
    yield svc
    await svc.stop()


@asynccontextmanager
async def app_client(services):
    """An HTTP client talking to an app in this process that shares ``services``."""
    app = create_app(services.settings)
    app.state.services = services
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def client(services):
    """An HTTP client talking to the app in this process (the app shares ``services``)."""
    async with app_client(services) as http:
        yield http


@pytest.fixture
async def own_cluster():
    """A Redis Cluster of the test's own (3 masters with a replica each), for tests that leave
    it with a master dead; a module uses it by overriding ``redis_url`` with its url."""
    cluster = await asyncio.to_thread(EmbeddedCluster(masters=3, replicas=1).start)
    yield cluster
    await asyncio.to_thread(cluster.stop)


@pytest.fixture
def make_venue(services):
    """Create a venue (in SQL and Redis); returns (VenueInfo, signed code)."""
    counter = iter(range(1, 10_000))

    async def make(capacity: int = 100, **fields) -> tuple[VenueInfo, str]:
        fields.setdefault("code", f"venue-{next(counter)}")
        fields.setdefault("name", f"Test Venue {fields['code']}")
        async with services.sessionmaker() as session:
            venue = await venue_service.create_venue(session, capacity=capacity, **fields)
            await venue_service.push_config(services.redis, venue, new=True)
            info = VenueInfo.of(venue)
        return info, signing.sign(SECRET, info.code)

    return make


@pytest.fixture
def issue_token(services):
    from occupancy.accounts.service import issue_token as issue

    async def make(role: str, venue_id: int | None = None) -> dict[str, str]:
        async with services.sessionmaker() as session:
            token = await issue(session, role, venue_id)
        return {"Authorization": f"Bearer {token}"}

    return make


class LiveServer:
    """``occupancy serve`` in a subprocess: real uvicorn workers, real sockets."""

    def __init__(self, settings: Settings, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        self.workers = workers
        self.extra_env = env
        self.process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            OCCUPANCY_DATABASE_URL=self.settings.database_url,
            OCCUPANCY_REDIS_URL=self.settings.redis_url,
            OCCUPANCY_SECRET_KEY=self.settings.secret_key,
            OCCUPANCY_PUBLIC_URL=self.url,
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120) -> "LiveServer":
        command = [sys.executable, "-m", "occupancy.cli", "serve", "--port", str(self.port),
                   "--workers", str(self.workers)]
        ARTIFACTS.mkdir(exist_ok=True)
        # Open for the server's whole life (closed in stop()), so no context manager.
        self.log = open(ARTIFACTS / f"server-{self.port}.log", "w")  # noqa: SIM115
        # Its own process group: stop() ends its workers too, even if the supervisor died. A
        # worker outliving its test would go on taking the job locks in the session's Redis
        # (occupancy.kit.periodic), and the next test's server would never run its jobs.
        self.process = subprocess.Popen(command, env=self.env(), stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ready = False
            # Each worker listens on its own socket: wait until all of them do.
            if ready and listening_sockets(self.port) >= self.workers:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def errors(self) -> str:
        """The server log's warnings and errors, with their tracebacks (the rest is noise)."""
        lines = Path(self.log.name).read_text(errors="replace").splitlines()
        kept = [line for line in lines if not line.startswith("INFO:")]
        return "server log (without INFO lines):\n" + "\n".join(kept[-200:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self._end_group()
        self.log.close()

    def _end_group(self) -> None:
        """Kill what is left of the server's process group after a grace (multiprocessing's
        resource tracker ends just after the supervisor), and say so in its log."""
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                os.killpg(self.process.pid, 0)
                time.sleep(0.1)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return  # every process of the group has ended
        self.log.write("WARNING: the server's stop left processes running; killed\n")


@pytest.fixture
def live_server(settings, services):
    server = LiveServer(settings).start()
    yield server
    server.stop()
    # Captured, so pytest shows it only when the test fails (CI keeps no artifacts).
    print(server.errors())


@pytest.fixture(scope="session")
async def playwright():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="session")
async def browser(playwright):
    """One headless Chromium for the whole session; each test opens its own context."""
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    await browser.close()
