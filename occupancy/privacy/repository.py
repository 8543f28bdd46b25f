"""The queries of contact tracing: a case's visits, the visits that overlapped them, data keys."""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.privacy.models import DataKey, TraceAudit
from occupancy.venues.models import Venue
from occupancy.visits.models import Visit

_COLUMNS = (Visit.id, Visit.venue_id, Venue.name.label("venue_name"), Visit.checked_in_at,
            Visit.checked_out_at, Visit.party_size, Visit.personal, Visit.personal_key_id)


async def visits_by_phone(session: AsyncSession, phone_indexes: list[str], start: datetime,
                          end: datetime) -> list:
    """A phone's visits, by its index under each key in use (more than one after a rotation)."""
    query = (select(*_COLUMNS).join(Venue, Venue.id == Visit.venue_id)
             .where(Visit.phone_index.in_(phone_indexes), Visit.checked_in_at >= start,
                    Visit.checked_in_at < end)
             .order_by(Visit.checked_in_at))
    return list((await session.execute(query)).all())


async def visit_by_ticket(session: AsyncSession, ticket_hash: str) -> list:
    query = (select(*_COLUMNS).join(Venue, Venue.id == Visit.venue_id)
             .where(Visit.ticket_hash == ticket_hash))
    return list((await session.execute(query)).all())


async def overlapping(session: AsyncSession, venue_id: int, start: datetime, end: datetime) -> list:
    """Visitor visits at the venue whose stay overlapped [start, end) (open ones: until now)."""
    query = (select(*_COLUMNS).join(Venue, Venue.id == Visit.venue_id)
             .where(Visit.venue_id == venue_id, Visit.kind == "visitor",
                    Visit.checked_in_at < end,
                    or_(Visit.checked_out_at.is_(None), Visit.checked_out_at > start))
             .order_by(Visit.checked_in_at))
    return list((await session.execute(query)).all())


async def data_keys(session: AsyncSession, key_ids: set[str]) -> list[DataKey]:
    if not key_ids:
        return []
    return list((await session.execute(select(DataKey).where(DataKey.id.in_(key_ids)))).scalars())


async def audit_records(session: AsyncSession, limit: int) -> list[TraceAudit]:
    query = select(TraceAudit).order_by(TraceAudit.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def audit_head(session: AsyncSession) -> str | None:
    """The digest of the newest audit record (None before the first)."""
    query = select(TraceAudit.digest).order_by(TraceAudit.id.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def all_audit_records(session: AsyncSession) -> list[TraceAudit]:
    return list((await session.execute(select(TraceAudit).order_by(TraceAudit.id))).scalars())
