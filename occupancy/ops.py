"""Health, readiness and Prometheus metrics."""

from fastapi import APIRouter, Request, Response
from sqlalchemy import select, text

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.http import json_response
from occupancy.venues.models import Venue

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Redis and SQL answer")
async def readyz(request: Request) -> Response:
    svc = request.app.state.services
    checks = {}
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
    ready = all(checks.values())
    return json_response({"ready": ready, **checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    svc = request.app.state.services
    async with svc.sessionmaker() as session:
        venues = (await session.execute(
            select(Venue.id, Venue.code, Venue.district, Venue.category, Venue.capacity)
        )).all()
    pipe = svc.redis.pipeline(transaction=False)
    for venue in venues:
        pipe.get(keys.count(venue.id))
        pipe.hget(keys.config(venue.id), "capacity")
    values = await pipe.execute() if venues else []
    rows = [
        (v.code, v.district, v.category, int(values[2 * i] or 0),
         int(values[2 * i + 1] or v.capacity))
        for i, v in enumerate(venues)
    ]
    return Response(metrics.render(rows), media_type="text/plain; version=0.0.4; charset=utf-8")
