"""Venues run by time slots with places held for bookings, for the "booked" mix of the harness.

Each venue gets, through the service's own API, a slot plan whose one slot is under way now and
a few bookings in it that nobody claims during the run: their places stay held, so every
check-in there makes ``checkin.lua`` read the venue's ``holds`` and ``held`` keys (issue 18's
cost on the check-in) as a plain venue's does not.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from redis import Redis
from redis.cluster import RedisCluster

from loadtest.peak.stack import SeededVenue
from occupancy import redis_keys as keys
from occupancy.accounts.service import issue_token
from occupancy.db import make_engine, make_sessionmaker
from occupancy.settings import get_settings

BOOKINGS_PER_VENUE = 3
PARTY = 2
LONGEST_HOLD_MINUTES = 240  # the most a plan allows
SHORTEST_USEFUL_MINUTES = 30  # a run of the harness must end inside the slot's hold


def slot_under_way(now: datetime) -> tuple[str, int] | None:
    """A range of local time (``HH:MM-HH:MM``) that began a minute ago, and its length in minutes;
    None in the last half hour of the day (a slot cannot run past 23:59)."""
    start = (now - timedelta(minutes=1)).replace(second=0, microsecond=0)
    if start.date() != now.date():
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end_of_day = now.replace(hour=23, minute=59, second=0, microsecond=0)
    minutes = min(LONGEST_HOLD_MINUTES, int((end_of_day - start).total_seconds() // 60))
    if minutes < SHORTEST_USEFUL_MINUTES:
        return None
    end = start + timedelta(minutes=minutes)
    return f"{start:%H:%M}-{end:%H:%M}", minutes


@dataclass(frozen=True)
class Holds:
    slot: str  # <day>-<HHMM>
    places: int  # held at each venue


async def hold_places(url: str, database_url: str, venues: list[SeededVenue]) -> Holds:
    """Run every venue by a slot under way with ``BOOKINGS_PER_VENUE`` unclaimed bookings in it.
    Raises if the service refuses any step."""
    tz = ZoneInfo(get_settings().timezone)
    now = datetime.now(UTC).astimezone(tz)
    slot = slot_under_way(now)
    if slot is None:
        raise RuntimeError("no slot can be under way in the last half hour of the local day")
    ranges, minutes = slot
    slot_name = f"{now:%Y%m%d}-{ranges[:5].replace(':', '')}"
    tokens = await _manager_tokens(database_url, venues)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(
            _hold(client, venue, token, ranges, minutes, slot_name)
            for venue, token in zip(venues, tokens, strict=True)))
    return Holds(slot_name, BOOKINGS_PER_VENUE * PARTY)


def not_held(redis_url: str, cluster: bool, venues: list[SeededVenue], holds: Holds) -> list[int]:
    """The venues whose places for bookings are no longer all held in Redis (none should be: the
    load only checks visitors in, who must leave them free)."""
    client = RedisCluster.from_url(redis_url) if cluster else Redis.from_url(redis_url)
    try:
        pipe = client.pipeline(transaction=False)
        for venue in venues:
            pipe.hget(keys.held(venue.id), holds.slot)
        held = pipe.execute()
    finally:
        client.close()
    return [v.id for v, places in zip(venues, held, strict=True) if int(places or 0) != holds.places]


async def _manager_tokens(database_url: str, venues: list[SeededVenue]) -> list[str]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return [await issue_token(session, "manager", v.id, "load test") for v in venues]
    finally:
        await engine.dispose()


async def _hold(client: httpx.AsyncClient, venue: SeededVenue, token: str, ranges: str,
                minutes: int, slot: str) -> None:
    plan = {"ranges": [ranges], "capacity": 100, "advance_percent": 100, "hold_minutes": minutes,
            "per_phone": 1, "days_ahead": 0}
    answer = await client.put(f"/api/venues/{venue.id}/slots", json=plan,
                              headers={"Authorization": f"Bearer {token}"})
    _expect(answer, 200, "slot plan")
    for n in range(BOOKINGS_PER_VENUE):
        booking = {"slot": slot, "name": "Bench Booker", "phone": f"0812 7{venue.id:05d} {n:03d}",
                   "party_size": PARTY}
        _expect(await client.post(f"/api/venues/{venue.signed_code}/bookings", json=booking),
                201, "booking")


def _expect(answer: httpx.Response, status: int, what: str) -> None:
    if answer.status_code != status:
        raise RuntimeError(f"{what}: {answer.status_code} {answer.text[:300]}")
