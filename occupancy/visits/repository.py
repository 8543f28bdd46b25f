"""Every query that reads visits: the services orchestrate, this module holds the SELECTs.

Personal data (name, phone, email) is deferred on the model and selected by no query here.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.venues.models import Venue
from occupancy.visits.models import Visit

_OPEN_VISITS = select(
    Visit.venue_id, Visit.ticket_hash, Visit.id, Visit.party_size, Visit.checked_in_at
).where(Visit.checked_out_at.is_(None))


async def by_ticket(session: AsyncSession, ticket_hash: str) -> Visit | None:
    query = select(Visit).where(Visit.ticket_hash == ticket_hash)
    return (await session.execute(query)).scalar_one_or_none()


async def find_by_ticket(sessionmaker: async_sessionmaker[AsyncSession],
                         ticket_hash: str) -> Visit | None:
    """``by_ticket`` in a session of its own."""
    async with sessionmaker() as session:
        return await by_ticket(session, ticket_hash)


async def by_tickets(session: AsyncSession, ticket_hashes: list[str]) -> dict[str, object]:
    """ticket hash -> (ticket_hash, id, party_size, checked_in_at, checked_out_at, checkout_reason)."""
    query = (select(Visit.ticket_hash, Visit.id, Visit.party_size, Visit.checked_in_at,
                    Visit.checked_out_at, Visit.checkout_reason)
             .where(Visit.ticket_hash.in_(ticket_hashes)))
    return {row.ticket_hash: row for row in (await session.execute(query)).all()}


async def by_short_code(session: AsyncSession, venue_id: int, prefix: str,
                        closed_since: datetime) -> list:
    """(ticket_hash, checked_out_at) of the venue's visitor visits whose ticket hash starts with
    ``prefix``, open or closed since ``closed_since``; at most 20."""
    query = (
        select(Visit.ticket_hash, Visit.checked_out_at)
        .where(
            Visit.venue_id == venue_id,
            Visit.kind != "walkin",
            # A range on the unique ticket_hash index (hex digits sort before "g").
            Visit.ticket_hash >= prefix,
            Visit.ticket_hash < prefix + "g",
            or_(Visit.checked_out_at.is_(None), Visit.checked_out_at >= closed_since),
        )
        .limit(20)
    )
    return list((await session.execute(query)).all())


async def oldest_open_walk_in(session: AsyncSession, venue_id: int, skip: int) -> str | None:
    """The ticket hash of the venue's ``skip``-th oldest open walk-in."""
    query = (
        select(Visit.ticket_hash)
        .where(Visit.venue_id == venue_id, Visit.kind == "walkin", Visit.checked_out_at.is_(None))
        .order_by(Visit.checked_in_at, Visit.id)
        .offset(skip)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def open_visits_by_venue(session: AsyncSession, venue_id: int | None = None) -> dict[int, list]:
    """Open visits (venue_id, ticket_hash, id, party_size, checked_in_at), by venue."""
    query = _OPEN_VISITS if venue_id is None else _OPEN_VISITS.where(Visit.venue_id == venue_id)
    by_venue = defaultdict(list)
    for visit in (await session.execute(query)).all():
        by_venue[visit.venue_id].append(visit)
    return by_venue


async def open_totals(session: AsyncSession, venue_ids: list[int]) -> dict[int, tuple[int, int]]:
    """venue id -> (people inside, open visits), for venues with any open visit."""
    query = (select(Visit.venue_id, func.sum(Visit.party_size).label("people"),
                    func.count().label("visits"))
             .where(Visit.checked_out_at.is_(None), Visit.venue_id.in_(venue_ids))
             .group_by(Visit.venue_id))
    return {row.venue_id: (int(row.people), row.visits) for row in (await session.execute(query)).all()}


async def overdue_candidates(session: AsyncSession, now: datetime, after: str, limit: int) -> list:
    """A page (by visit id, after ``after``) of open visits in for longer than the shortest
    maximum stay of any venue: (id, venue_id, ticket_hash, checked_in_at, max_stay_minutes)."""
    shortest = (await session.execute(select(func.min(Venue.max_stay_minutes)))).scalar()
    if shortest is None:
        return []
    query = (
        select(Visit.id, Visit.venue_id, Visit.ticket_hash, Visit.checked_in_at,
               Venue.max_stay_minutes)
        .join(Venue, Venue.id == Visit.venue_id)
        .where(Visit.checked_out_at.is_(None),
               Visit.checked_in_at < now - timedelta(minutes=shortest),
               Visit.id > after)
        .order_by(Visit.id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


# Only these columns are read for the manager's CSV: personal data never enters that path.
_DAY_COLUMNS = (Visit.checked_in_at, Visit.checked_out_at, Visit.party_size, Visit.kind,
                Visit.checkout_reason, Visit.temperature)


async def checked_in_between(session: AsyncSession, venue_id: int, start: datetime,
                             end: datetime) -> list:
    """The venue's visits that began in [start, end), oldest first, without personal data."""
    query = (
        select(*_DAY_COLUMNS)
        .where(Visit.venue_id == venue_id, Visit.checked_in_at >= start, Visit.checked_in_at < end)
        .order_by(Visit.checked_in_at)
    )
    return list((await session.execute(query)).all())
