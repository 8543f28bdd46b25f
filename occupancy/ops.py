"""Health and readiness (open), and Prometheus metrics (an operator or monitor token)."""

import asyncio
from pathlib import Path

from fastapi import APIRouter, Response
from sqlalchemy import select, text

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.accounts.permissions import MetricsReader, Public
from occupancy.deps import ServicesDep
from occupancy.kit.http import json_response
from occupancy.serving import workers_ready
from occupancy.venues.models import Venue

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz(_: Public) -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Redis and SQL answer, and every worker of this server is up")
async def readyz(svc: ServicesDep, _: Public) -> Response:
    checks, workers, all_up = {}, {}, True
    if svc.settings.ready_dir:
        # Under `occupancy serve --workers N`: not ready while any worker is still starting
        # (it would not be accepting connections yet), or dead and not yet replaced.
        expected = svc.settings.ready_workers
        up = workers_ready(Path(svc.settings.ready_dir), expected)
        all_up = up == expected
        workers = {"workers": {"ready": up, "expected": expected}}
    try:
        checks["redis"] = bool(await svc.redis.ping())
    except Exception:
        checks["redis"] = False
    try:
        async with svc.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["sql"] = True
    except Exception:
        checks["sql"] = False
    ready = all_up and all(checks.values())
    return json_response({"ready": ready, **checks, **workers}, status_code=200 if ready else 503)


# Venues read from Redis per round trip at a scrape: the loop serves requests between chunks.
METRICS_CHUNK = 500


async def _occupancy_rows(svc) -> tuple[list[tuple[str, str, str, int, int]], int]:
    """(code, district, category, count, capacity) of every venue, counts read from Redis now,
    and the parties waiting in every venue's line (read in the same round trips)."""
    async with svc.sessionmaker() as session:
        venues = (await session.execute(
            select(Venue.id, Venue.code, Venue.district, Venue.category, Venue.capacity)
        )).all()
    rows, waiting = [], 0
    for i in range(0, len(venues), METRICS_CHUNK):
        chunk = venues[i:i + METRICS_CHUNK]
        pipe = svc.redis.pipeline(transaction=False)
        for venue in chunk:
            pipe.get(keys.count(venue.id))
            pipe.hget(keys.config(venue.id), "capacity")
            pipe.zcard(keys.line(venue.id))
        values = await pipe.execute()
        rows.extend(
            (v.code, v.district, v.category, int(values[3 * j] or 0),
             int(values[3 * j + 1] or v.capacity))
            for j, v in enumerate(chunk)
        )
        waiting += sum(int(values[3 * j + 2] or 0) for j in range(len(chunk)))
    return rows, waiting


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def prometheus(svc: ServicesDep, _: MetricsReader) -> Response:
    # Every venue's headcount and the city's totals: more than the public counts show.
    rows, line_waiting = await _occupancy_rows(svc)
    # A city of 10,000 venues is 20,000 samples: rendering them held a worker's event loop for
    # about 180 ms a scrape (docs/benchmarks/history/2026-11.md), so it runs in a thread.
    body = await asyncio.to_thread(metrics.render, rows, line_waiting)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
