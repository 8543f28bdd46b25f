"""The waiting lines across the city, for officials: parties waiting and places offered now, per
venue (those with a line), district and category, read from Redis (the line's live state).
Counts only: nothing personal exists at this level."""

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy import redis_keys as keys
from occupancy.venues.models import Venue

# Venues read per pipelined round trip, as the metrics' scrape reads them.
CHUNK = 500


@dataclass(slots=True)
class LineFigures:
    waiting: int = 0  # parties waiting for an offer
    offered: int = 0  # places offered and not claimed yet

    def add(self, other: "LineFigures") -> None:
        self.waiting += other.waiting
        self.offered += other.offered

    def as_json(self) -> dict:
        return {"waiting": self.waiting, "places_offered": self.offered}


async def _read(redis: Redis, venue_ids: list[int]) -> list[LineFigures]:
    figures = []
    for i in range(0, len(venue_ids), CHUNK):
        pipe = redis.pipeline(transaction=False)
        for venue_id in venue_ids[i:i + CHUNK]:
            pipe.zcard(keys.line(venue_id))
            pipe.hget(keys.line_meta(venue_id), "offered")
        values = await pipe.execute()
        figures += [LineFigures(int(values[j] or 0), int(values[j + 1] or 0))
                    for j in range(0, len(values), 2)]
    return figures


async def line_figures(session: AsyncSession, redis: Redis) -> dict:
    """Every district's and category's lines now (a line Redis has not loaded reads empty until
    its first use or the rebuild loads it)."""
    venues = (await session.execute(select(Venue.id, Venue.code, Venue.name, Venue.district,
                                           Venue.category).order_by(Venue.id))).all()
    totals = LineFigures()
    by_district: dict[str, LineFigures] = {}
    by_category: dict[str, LineFigures] = {}
    rows = []
    for venue, figures in zip(venues, await _read(redis, [v.id for v in venues]), strict=True):
        for group in (totals, by_district.setdefault(venue.district, LineFigures()),
                      by_category.setdefault(venue.category, LineFigures())):
            group.add(figures)
        if figures.waiting or figures.offered:
            rows.append({"id": venue.id, "code": venue.code, "name": venue.name,
                         "district": venue.district, "category": venue.category,
                         **figures.as_json()})
    rows.sort(key=lambda row: (-row["waiting"], row["name"]))
    return {"totals": totals.as_json(),
            "by_district": {name: f.as_json() for name, f in sorted(by_district.items())},
            "by_category": {name: f.as_json() for name, f in sorted(by_category.items())},
            "venues": rows}
