"""All configuration, read once from the environment (prefix ``OCCUPANCY_``)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The secret of a development machine: never for real visitors (see health_office_public_key).
DEVELOPMENT_SECRET = "dev-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OCCUPANCY_", env_file=".env", extra="ignore")

    # Empty means the embedded default: SQLite in the working folder.
    database_url: str = "sqlite+aiosqlite:///occupancy.db"
    # Empty means: start a private Redis server (see occupancy.embedded_redis).
    redis_url: str = ""
    # Signs venue codes in QR URLs and derives tickets; set it in production.
    secret_key: str = DEVELOPMENT_SECRET
    # Secrets replaced by secret_key, comma-separated: codes they signed (printed posters, door
    # screens of hosts not yet restarted) are still accepted, and tracing still finds phones they
    # indexed; new codes and tickets use secret_key only (docs/operations.md, "Rotate keys").
    previous_secret_keys: str = ""
    # A trial on one machine (`occupancy serve --demo` sets it): the development secret and a demo
    # health office key pair are allowed. Otherwise the service refuses to start with them.
    development: bool = False
    public_url: str = "http://127.0.0.1:8000"

    # The demo city's door thermometers refuse from this temperature.
    default_fever_threshold: float = 37.5

    # Group commit: a batch is written as soon as the previous one is done, at most this many rows.
    sql_batch_max: int = 500
    # Changes reach every process at once through the config channel; the TTL is only a backstop.
    venue_cache_seconds: float = 300.0
    auto_checkout_interval_seconds: float = 60.0
    # After Redis lost its state, the rebuild waits this long for the SQL writes in flight then.
    rebuild_grace_seconds: float = Field(2.0, ge=0)
    # A reservation with no SQL row after this long is released (and a half-done check-out is
    # settled from SQL); longer than any SQL write may take.
    lease_seconds: float = Field(15.0, gt=0)
    # How often one process settles expired leases and repairs counts that drifted from SQL.
    repair_interval_seconds: float = Field(5.0, gt=0)
    # Visits of a time slot are checked out this long after the slot ends (occupancy.bookings).
    slot_end_grace_minutes: float = Field(10.0, ge=0)
    # How often one process expires unclaimed bookings and ends slots: an expiry is recorded
    # within about this long.
    slot_timers_interval_seconds: float = Field(1.0, gt=0)
    # The waiting line (occupancy.line): how long the head of the line has to claim the places
    # offered to it before they pass to the next party, and how often one process makes offers
    # and passes the ones that ran out.
    line_offer_minutes: float = Field(5.0, gt=0)
    line_interval_seconds: float = Field(1.0, gt=0)
    max_body_bytes: int = 4096
    # How long an access token issued without a --days of its own lasts.
    token_days: float = Field(90.0, gt=0)
    # Every other route's body (forms, venue changes, tracing questions).
    max_other_body_bytes: int = Field(16384, gt=0)
    # A request must arrive whole (headers and body) this long after it begins, and a new
    # connection must begin one this soon (occupancy.kit.limits).
    request_timeout_seconds: float = Field(10.0, gt=0)
    # The balancers whose X-Forwarded-For and X-Forwarded-Proto are believed (comma-separated
    # addresses, or * where only the balancer can reach the service): the client address the
    # rate limits count, and the https that makes cookies Secure.
    trusted_proxies: str = "127.0.0.1"
    # Open connections and sockets per worker process; past it, new requests get 503.
    max_connections_per_process: int = Field(10000, gt=0)
    # The largest message a client may send on a socket (clients send next to nothing).
    socket_max_message_bytes: int = Field(4096, gt=0)
    # Check-ins allowed per window, from one client address at one venue and at a venue in all
    # (0: no limit); past them a visitor gets 429 with Retry-After. Door staff's walk-ins are not
    # limited. A mobile carrier's NAT puts many phones behind one address: keep it generous.
    check_ins_per_address: int = Field(30, ge=0)
    check_ins_per_venue: int = Field(300, ge=0)
    rate_window_seconds: int = Field(10, gt=0)

    # Visitors' personal data is sealed to this public key (base64; `occupancy keys new` makes a
    # pair); only the health office's private half opens it. Empty with the development secret:
    # a demo pair in the working folder. Empty with a real secret: the service refuses to start.
    health_office_public_key: str = ""
    # Each process draws a new data key this often and forgets the old one.
    data_key_seconds: float = Field(3600.0, gt=0)
    # Personal data is purged this many days after the check-in; counts and anonymous rows stay.
    retention_days: float = Field(14.0, gt=0)
    purge_interval_seconds: float = Field(3600.0, gt=0)

    # Live dashboards and statistics: "today" and the hours of history are in this time zone.
    timezone: str = "Asia/Jakarta"
    # The city's name, in the officials' page heading.
    city_name: str = Field("", max_length=80)
    # The districts on the officials' map: a GeoJSON FeatureCollection of Polygons or MultiPolygons,
    # each named by its ``name`` property (as the venues' district). By default the demo city's
    # schematic shapes (not surveyed boundaries).
    city_map: Path = Path(__file__).resolve().parent / "city" / "demo_districts.geojson"
    live_updates_per_second: float = Field(5.0, gt=0)
    # Each frame is a system call per socket: past this many frames a second (per process), the
    # busiest venues' updates are spaced further apart rather than the check-ins slowed down.
    live_frames_per_second_max: float = Field(2500.0, gt=0)
    rollup_interval_seconds: float = 60.0

    # Prometheus multiprocess directory; set by `occupancy serve` when several workers run.
    metrics_dir: str = ""
    # Set by `occupancy serve` for its workers: each marks itself ready there (occupancy.serving)
    # and /readyz answers 200 only once all of them have.
    ready_dir: str = ""
    ready_workers: int = 0

    # Every Redis and SQL call is bounded, so a hung server costs a request seconds, not forever.
    # Redis: a reply (or a write) waits at most this long; connecting too. Pub/sub listeners
    # wait for messages without a limit (redis-py reads them with no timeout) and are kept honest
    # by TCP keepalive and a PING every redis_health_check_seconds.
    redis_timeout_seconds: float = Field(2.0, gt=0)
    redis_connect_timeout_seconds: float = Field(2.0, gt=0)
    redis_health_check_seconds: float = Field(15.0, ge=0)
    # Redis Cluster (or Valkey Cluster): "auto" asks the server at start whether it is one; the
    # URL names any one node. A change on a master with a replica is acknowledged only once a
    # replica holds it, waiting at most redis_replica_wait_ms (docs/operations.md).
    redis_cluster: Literal["auto", "yes", "no"] = "auto"
    redis_replica_wait_ms: int = Field(500, ge=1)
    # SQL: a statement (asyncpg command_timeout; SQLite busy_timeout, the wait for the write
    # lock), connecting, and the wait for a free connection of the pool.
    sql_timeout_seconds: float = Field(10.0, gt=0)
    sql_connect_timeout_seconds: float = Field(5.0, gt=0)
    sql_pool_timeout_seconds: float = Field(10.0, gt=0)
    # SQLite's PRAGMA synchronous (docs/durability.md): FULL syncs the WAL at every commit, so a
    # power cut loses no acknowledged visit; NORMAL syncs only at checkpoints (a power cut can
    # lose up to ~30 s of commits; an application crash loses nothing either way).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"

    @model_validator(mode="after")
    def _lease_outlasts_sql_writes(self) -> "Settings":
        # A write still waiting for SQL when its lease ran out would be released as an orphan,
        # and then, committed after all, put back over whoever took its places meanwhile.
        if self.lease_seconds <= self.sql_timeout_seconds:
            raise ValueError(
                f"OCCUPANCY_LEASE_SECONDS ({self.lease_seconds:g}) must be longer than "
                f"OCCUPANCY_SQL_TIMEOUT_SECONDS ({self.sql_timeout_seconds:g}): a reservation's "
                "SQL write must have succeeded or failed before its lease runs out")
        return self

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """The current secret first, then the previous ones still accepted."""
        return _secret_keys(self.secret_key, self.previous_secret_keys)

    @property
    def web_dir(self) -> Path:
        return Path(__file__).resolve().parent.parent / "web"


@lru_cache(maxsize=8)  # every check-in asks
def _secret_keys(current: str, previous: str) -> tuple[str, ...]:
    keys = (key.strip() for key in previous.split(","))
    return (current, *dict.fromkeys(key for key in keys if key and key != current))


@lru_cache
def get_settings() -> Settings:
    return Settings()


def refuse_unsafe_start(settings: Settings) -> None:
    """The service does not start for real visitors with the development secret."""
    if settings.secret_key == DEVELOPMENT_SECRET and not settings.development:
        raise UnsafeSettings(
            "OCCUPANCY_SECRET_KEY is the development default, which anyone can read in the "
            "source: set it to a long random value (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or try the service with `occupancy serve --demo` "
            "(or OCCUPANCY_DEVELOPMENT=1).")


class UnsafeSettings(Exception):
    """Settings the service refuses to serve real visitors with."""
