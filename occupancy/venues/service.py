"""Venue operations shared by the CLI, the API and the demo seed."""

from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy import redis_keys as keys
from occupancy.errors import InvalidInput
from occupancy.venues import signing
from occupancy.venues.errors import UnknownVenue, VenueExists
from occupancy.venues.models import Venue

CATEGORIES = ("mall", "shop", "market", "park", "station", "office")


@dataclass(frozen=True, slots=True)
class VenueInfo:
    """An immutable snapshot of a venue, safe to cache in a process."""

    id: int
    code: str
    name: str
    district: str
    category: str
    capacity: int
    max_party: int
    max_stay_minutes: int
    fever_threshold: float
    paused: bool
    door_code_required: bool = False
    pause_note: str | None = None
    reopens_at: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None

    @classmethod
    def of(cls, venue: Venue) -> "VenueInfo":
        return cls(
            id=venue.id, code=venue.code, name=venue.name, district=venue.district,
            category=venue.category, capacity=venue.capacity, max_party=venue.max_party,
            max_stay_minutes=venue.max_stay_minutes, fever_threshold=venue.fever_threshold,
            paused=venue.paused, door_code_required=venue.door_code_required,
            pause_note=venue.pause_note, reopens_at=venue.reopens_at,
            latitude=venue.latitude, longitude=venue.longitude,
        )


def validate_capacity(capacity: int) -> int:
    if not 1 <= capacity <= 1_000_000:
        raise InvalidInput("Capacity must be between 1 and 1,000,000.", field="capacity")
    return capacity


def _half_a_location(missing: str) -> InvalidInput:
    return InvalidInput("Give both latitude and longitude, or neither.", field=missing,
                        code="invalid_location")


def validate_location(latitude: float | None, longitude: float | None) -> None:
    """Degrees (WGS 84), both or neither: a venue with half a location could be drawn nowhere."""
    if (latitude is None) != (longitude is None):
        raise _half_a_location("longitude" if longitude is None else "latitude")
    # Written so that NaN fails too.
    if latitude is not None and not -90 <= latitude <= 90:
        raise InvalidInput("Latitude must be between -90 and 90 degrees.", field="latitude",
                           code="invalid_location")
    if longitude is not None and not -180 <= longitude <= 180:
        raise InvalidInput("Longitude must be between -180 and 180 degrees.", field="longitude",
                           code="invalid_location")


async def create_venue(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    capacity: int,
    district: str = "",
    category: str = "shop",
    max_party: int = 10,
    max_stay_minutes: int = 240,
    fever_threshold: float = 37.5,
    latitude: float | None = None,
    longitude: float | None = None,
) -> Venue:
    if not signing.CODE_PATTERN.match(code):
        raise InvalidInput(
            "A venue code is 2-40 lowercase letters, digits or dashes, e.g. 'grand-mall'.",
            field="code",
        )
    if not name.strip():
        raise InvalidInput("A venue needs a name.", field="name")
    if category not in CATEGORIES:
        raise InvalidInput(f"Category must be one of: {', '.join(CATEGORIES)}.", field="category")
    if not 1 <= max_party <= 100:
        raise InvalidInput("The maximum party must be between 1 and 100.", field="max_party")
    validate_location(latitude, longitude)
    venue = Venue(
        code=code, name=name.strip(), capacity=validate_capacity(capacity), district=district,
        category=category, max_party=max_party, max_stay_minutes=max_stay_minutes,
        fever_threshold=fever_threshold, paused=False, latitude=latitude, longitude=longitude,
    )
    session.add(venue)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise VenueExists(f"A venue with the code '{code}' exists already.") from exc
    return venue


async def get_venue(session: AsyncSession, *, code: str | None = None, id: int | None = None) -> Venue:
    query = select(Venue).where(Venue.code == code) if code is not None else select(Venue).where(
        Venue.id == id
    )
    venue = (await session.execute(query)).scalar_one_or_none()
    if venue is None:
        raise UnknownVenue(f"There is no venue '{code if code is not None else id}'.")
    return venue


async def list_venues(session: AsyncSession) -> list[Venue]:
    return list((await session.execute(select(Venue).order_by(Venue.id))).scalars())


async def venue_ids(session: AsyncSession) -> list[int]:
    return list((await session.execute(select(Venue.id).order_by(Venue.id))).scalars())


async def enforced_limits(session: AsyncSession, venue_id: int | None = None) -> list:
    """(id, capacity, paused) of every venue, or of one: what the Redis scripts enforce."""
    query = select(Venue.id, Venue.capacity, Venue.paused)
    if venue_id is not None:
        query = query.where(Venue.id == venue_id)
    return list((await session.execute(query)).all())


_INFO_COLUMNS = tuple(getattr(Venue, field.name) for field in fields(VenueInfo))


async def same_kind(session: AsyncSession, venue: VenueInfo, limit: int = 50) -> list[VenueInfo]:
    """Other venues of the venue's category, those of its district first: where a visitor can
    go instead when it is full."""
    query = (select(*_INFO_COLUMNS)
             .where(Venue.category == venue.category, Venue.id != venue.id)
             .order_by((Venue.district != venue.district), Venue.id).limit(limit))
    return [VenueInfo(*row) for row in (await session.execute(query)).all()]
# Venues per query of ``venue_infos``: the loop serves requests between pages.
VENUE_PAGE = 1000


async def venue_infos(session: AsyncSession) -> list[VenueInfo]:
    """Every venue as plain values, read in pages by id. Serving processes read the whole city
    every few minutes; 10,000 ORM objects in one go held a worker's event loop for about 70 ms."""
    infos: list[VenueInfo] = []
    while True:
        after = infos[-1].id if infos else 0
        page = (await session.execute(
            select(*_INFO_COLUMNS).where(Venue.id > after).order_by(Venue.id).limit(VENUE_PAGE)
        )).all()
        infos.extend(VenueInfo(*row) for row in page)
        if len(page) < VENUE_PAGE:
            return infos


async def update_venue(session: AsyncSession, redis: Redis, venue: Venue, **changes) -> Venue:
    """Change capacity, paused and the like; Redis enforces the new values at once. A location
    is changed (or cleared, with None) as a pair."""
    if "capacity" in changes:
        validate_capacity(changes["capacity"])
    if "latitude" in changes or "longitude" in changes:
        if "latitude" not in changes or "longitude" not in changes:  # even half a clearing
            raise _half_a_location("longitude" if "latitude" in changes else "latitude")
        validate_location(changes["latitude"], changes["longitude"])
    if changes.get("paused") is False:  # reopened: the note and the time said while paused go
        changes |= {"pause_note": None, "reopens_at": None}
    for name, value in changes.items():
        setattr(venue, name, value)
    await session.commit()
    await push_config(redis, venue)
    return venue


# Rare (an operator's or manager's change): sent as EVAL, not registered with the hot scripts.
_CONFIG_SCRIPT = (Path(__file__).parent / "config.lua").read_text()


async def push_config(redis: Redis, venue: Venue | VenueInfo, new: bool = False) -> None:
    """Copy what the Lua scripts enforce into Redis and tell every process to drop its cache.

    A ``new`` venue (no visits yet) is loaded into Redis at once; an existing one only if Redis
    holds it: one Redis lost is loaded from SQL by the rebuild, people inside included.
    """
    await redis.eval(_CONFIG_SCRIPT, 2, keys.config(venue.id), keys.count(venue.id),
                     venue.capacity, "1" if venue.paused else "0", "1" if new else "0")
    await redis.publish(keys.CONFIG_CHANNEL, str(venue.id))
