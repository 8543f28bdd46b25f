"""Everything a process holds while it runs, built in the app's lifespan (or by a test)."""

import asyncio
import contextlib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy.accounts.service import TokenChecker
from occupancy.db import make_engine, make_sessionmaker
from occupancy.live.hub import Hub
from occupancy.scripts import ScriptRunner
from occupancy.settings import Settings
from occupancy.stats import rollup
from occupancy.stats.today import TodayReader
from occupancy.venues.cache import VenueCache
from occupancy.visits import expiry
from occupancy.visits.capacity import ALL_SCRIPTS, CapacityStore
from occupancy.visits.journal import Journal
from occupancy.visits.reconcile import Reconciler
from occupancy.visits.service import Visits
from occupancy.visits.walkins import WalkIns


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    capacity: CapacityStore
    journal: Journal
    venues: VenueCache
    reconciler: Reconciler
    visits: Visits
    tokens: TokenChecker
    today: TodayReader
    walkins: WalkIns
    hub: Hub | None = None  # the live fan-out; only in serving processes (background=True)
    background: list[asyncio.Task] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, *, background: bool = True) -> "Services":
        if not settings.redis_url:
            raise RuntimeError("OCCUPANCY_REDIS_URL is not set (occupancy serve sets it).")
        engine = make_engine(settings.database_url)
        sessionmaker = make_sessionmaker(engine)
        redis = Redis.from_url(settings.redis_url)
        runner = ScriptRunner(redis)
        await runner.load(*ALL_SCRIPTS)
        tz = ZoneInfo(settings.timezone)
        capacity = CapacityStore(runner, tz)
        journal = Journal(engine, settings.sql_batch_max)
        journal.start()
        reconciler = Reconciler(sessionmaker, redis)
        await reconciler.if_redis_is_empty()
        visits = Visits(capacity, journal, sessionmaker, reconciler, settings.secret_key)
        services = cls(
            settings=settings, engine=engine, sessionmaker=sessionmaker, redis=redis,
            capacity=capacity, journal=journal,
            venues=VenueCache(sessionmaker, settings.venue_cache_seconds),
            reconciler=reconciler, visits=visits, tokens=TokenChecker(sessionmaker),
            today=TodayReader(redis, tz), walkins=WalkIns(visits),
        )
        if background:
            await services.venues.load_all()
            services.background.append(asyncio.create_task(services.venues.refresh_forever()))
            services.background.append(asyncio.create_task(metrics.watch_event_loop()))
            services.background.append(asyncio.create_task(expiry.run_periodically(
                visits, sessionmaker, redis, settings.auto_checkout_interval_seconds)))
            services.background.append(asyncio.create_task(rollup.run_periodically(
                redis, sessionmaker, tz, settings.rollup_interval_seconds)))
            services.hub = Hub(redis, services.venues, sessionmaker, services.today,
                               secret=settings.secret_key, rate=settings.live_updates_per_second,
                               frame_budget=settings.live_frames_per_second_max)
            await services.hub.start()
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
