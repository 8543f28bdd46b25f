"""Everything a process holds while it runs, built in the app's lifespan (or by a test)."""

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from redis.asyncio import Redis, RedisCluster
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.accounts.service import TokenChecker
from occupancy.bookings import store as booking_store
from occupancy.bookings import writes as booking_writes
from occupancy.bookings.claims import Claims
from occupancy.bookings.expiry import SlotTimers
from occupancy.bookings.leases import BookingLeases
from occupancy.bookings.plan_cache import PlanCache
from occupancy.bookings.service import Bookings
from occupancy.db import make_engine, make_sessionmaker
from occupancy.kit import periodic
from occupancy.kit.scripts import ClusterScriptRunner, ScriptRunner
from occupancy.line import store as line_store
from occupancy.line import writes as line_writes
from occupancy.line.leases import LineLeases
from occupancy.line.service import Line
from occupancy.live.hub import Hub
from occupancy.live.rechecks import Rechecks
from occupancy.live.subscriptions import Subscriptions
from occupancy.privacy.blind_index import index_key
from occupancy.privacy.purge import purge
from occupancy.privacy.sealing import Sealer, office_public_key
from occupancy.privacy.tracing import Tracer
from occupancy.settings import Settings
from occupancy.stats import rollup
from occupancy.stats.today import TodayReader
from occupancy.venues.cache import VenueCache
from occupancy.visits import expiry
from occupancy.visits.capacity import ALL_SCRIPTS, CapacityStore, RateLimits
from occupancy.visits.journal import Journal
from occupancy.visits.rebuild import Rebuilder
from occupancy.visits.repair import Repairer
from occupancy.visits.service import Visits
from occupancy.visits.walkins import WalkIns


def redis_client(settings: Settings) -> Redis:
    """A client whose every call is bounded (Settings.redis_timeout_seconds).

    The pub/sub connections of the same pool wait for messages without a limit (redis-py reads
    them with no timeout); TCP keepalive and the health check find a dead peer. No retries (as
    ``from_url`` gives): a retried command may run twice, and a pub/sub connection retried is
    silently resubscribed, hiding from the live hub that it missed messages meanwhile.
    """
    options = dict(
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
        health_check_interval=settings.redis_health_check_seconds,
    )
    if not settings.redis_url.startswith("unix:"):
        options.update(socket_keepalive=True, socket_keepalive_options={
            socket.TCP_KEEPIDLE: 10, socket.TCP_KEEPINTVL: 5, socket.TCP_KEEPCNT: 3})
    return Redis.from_url(settings.redis_url, **options)


async def is_cluster(settings: Settings) -> bool:
    if settings.redis_cluster != "auto":
        return settings.redis_cluster == "yes"
    if settings.redis_url.startswith("unix:"):
        return False
    probe = redis_client(settings)
    try:
        return (await probe.info("cluster")).get("cluster_enabled") == 1
    finally:
        await probe.aclose()


async def connect_redis(settings: Settings) -> tuple[Redis | RedisCluster, ScriptRunner]:
    """The client and the script runner for a single Redis or for a cluster.

    The cluster client retries its own commands after a failover (reads, locks, statistics);
    the scripts that change counts go through the runner, which never retries by itself.
    """
    if not await is_cluster(settings):
        client = redis_client(settings)
        return client, ScriptRunner(client)
    client = RedisCluster.from_url(
        settings.redis_url, socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
        health_check_interval=settings.redis_health_check_seconds, socket_keepalive=True)
    await client.initialize()
    return client, ClusterScriptRunner(client, settings.redis_replica_wait_ms)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    capacity: CapacityStore
    journal: Journal
    venues: VenueCache
    rebuilder: Rebuilder
    repairer: Repairer
    visits: Visits
    tokens: TokenChecker
    today: TodayReader
    walkins: WalkIns
    tracer: Tracer
    bookings: Bookings
    claims: Claims
    line: Line
    hub: Hub | None = None  # the live fan-out; only in serving processes (background=True)
    rechecks: Rechecks | None = None  # closes sockets whose token was revoked; with the hub
    background: list[asyncio.Task] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, *, background: bool = True) -> "Services":
        if not settings.redis_url:
            raise RuntimeError("OCCUPANCY_REDIS_URL is not set (occupancy serve sets it).")
        engine = make_engine(settings.database_url, settings)
        sessionmaker = make_sessionmaker(engine)
        redis, runner = await connect_redis(settings)
        await runner.load(*ALL_SCRIPTS, *booking_store.ALL_SCRIPTS, *line_store.ALL_SCRIPTS)
        tz = ZoneInfo(settings.timezone)
        capacity = CapacityStore(runner, tz)
        journal = Journal(engine, settings.sql_batch_max,
                          kinds=(booking_writes.WRITES, line_writes.WRITES))
        journal.start()
        rebuilder = Rebuilder(sessionmaker, redis, runner, grace=settings.rebuild_grace_seconds)
        sealer = Sealer(sessionmaker, office_public_key(settings), settings.data_key_seconds)
        bookings = Bookings(booking_store.BookingStore(runner), journal, sessionmaker, rebuilder,
                            sealer, settings.secret_key, tz,
                            PlanCache(sessionmaker, redis, settings.venue_cache_seconds))
        rebuilder.also_load.append(bookings.load_today)
        limits = RateLimits(settings.check_ins_per_address, settings.check_ins_per_venue,
                            settings.rate_window_seconds)
        visits = Visits(capacity, journal, sessionmaker, rebuilder, sealer, settings.secret_key,
                        limits)
        line = Line(line_store.LineStore(runner), visits, journal, sessionmaker, rebuilder,
                    settings.secret_key, settings.line_offer_minutes * 60)
        rebuilder.also_load.append(line.load_open)
        # Another process may be rebuilding: its work is done in seconds, ours answers 503 meanwhile.
        await rebuilder.ensure(wait=30.0)
        repairer = Repairer(sessionmaker, redis, runner, capacity, lease=settings.lease_seconds,
                            unclaim=bookings.store.unclaim, unclaim_offer=line.store.unclaim)
        services = cls(
            settings=settings, engine=engine, sessionmaker=sessionmaker, redis=redis,
            capacity=capacity, journal=journal,
            venues=VenueCache(sessionmaker, settings.venue_cache_seconds),
            rebuilder=rebuilder, repairer=repairer, visits=visits, tokens=TokenChecker(sessionmaker),
            today=TodayReader(redis, tz), walkins=WalkIns(visits),
            tracer=Tracer(sessionmaker, tuple(map(index_key, settings.secret_keys)), tz),
            bookings=bookings, claims=Claims(bookings, visits), line=line,
        )
        if background:
            await services.venues.load_all()
            services.background.append(asyncio.create_task(metrics.watch_event_loop()))
            metrics.CONNECTION_LIMIT.set(settings.max_connections_per_process)
            services.background += [asyncio.create_task(periodic.every(job, redis))
                                     for job in _jobs(services, settings, tz)]
            subscriptions = Subscriptions(redis, venue_ids=services.venues.ids)
            # Configuration changes reach the venue cache from here: the venues know no live/.
            subscriptions.on_config(services.venues.invalidate)
            subscriptions.on_config(services.bookings.plans.invalidate)
            services.hub = Hub(subscriptions, services.venues, sessionmaker, services.today,
                               secret=settings.secret_key, rate=settings.live_updates_per_second,
                               frame_budget=settings.live_frames_per_second_max)
            await services.hub.start()
            services.rechecks = Rechecks(services.tokens.principal)
            services.background.append(asyncio.create_task(periodic.every(periodic.Job(
                "checking the open sockets' tokens", services.rechecks.every,
                services.rechecks.check_all))))
        return services

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        for task in self.background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.visits.close()
        await self.journal.close()  # commit what was acknowledged-to-be before leaving
        await self.redis.aclose()
        await self.engine.dispose()


def _jobs(services: "Services", settings: Settings, tz: ZoneInfo) -> list[periodic.Job]:
    """What a serving process does by itself, every few seconds."""
    redis, sessionmaker = services.redis, services.sessionmaker
    return [
        # Each process keeps its own venue cache; SQL away: entries expire and are read one by one.
        periodic.Job("venue cache refresh", settings.venue_cache_seconds / 2,
                     services.venues.load_all, quiet=True),
        # A loss of Redis's state is noticed in venues nobody is visiting, too.
        periodic.Job("checking whether Redis holds the live counts", 1.0,
                     services.rebuilder.ensure, quiet=True),
        periodic.Job("repairing the live counts", settings.repair_interval_seconds,
                     services.repairer.run, lock=keys.REPAIR_LOCK),
        periodic.Job("settling bookings past their lease", settings.repair_interval_seconds,
                     BookingLeases(sessionmaker, redis, services.bookings.store,
                                   settings.lease_seconds).settle, lock=keys.BOOKING_LEASE_LOCK),
        periodic.Job("booking expiry and slot ends", settings.slot_timers_interval_seconds,
                     SlotTimers(services.bookings, services.visits,
                                timedelta(minutes=settings.slot_end_grace_minutes)).run,
                     lock=keys.SLOT_TIMERS_LOCK),
        periodic.Job("settling line joins past their lease", settings.repair_interval_seconds,
                     LineLeases(sessionmaker, redis, services.line.store,
                                settings.lease_seconds).settle, lock=keys.LINE_LEASE_LOCK),
        periodic.Job("waiting line offers", settings.line_interval_seconds,
                     services.line.advance_all, lock=keys.LINE_LOCK),
        periodic.Job("automatic check-out", settings.auto_checkout_interval_seconds,
                     lambda: expiry.auto_check_out(services.visits, sessionmaker),
                     lock=keys.AUTO_CHECKOUT_LOCK),
        periodic.Job("personal data purge", settings.purge_interval_seconds,
                     lambda: purge(sessionmaker, settings.retention_days), lock=keys.PURGE_LOCK),
        periodic.Job("statistics rollup", settings.rollup_interval_seconds,
                     lambda: rollup.rollup_recent(redis, sessionmaker, tz), lock=keys.ROLLUP_LOCK),
    ]
