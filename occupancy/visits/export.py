"""The visits of one day as plain rows for the manager's CSV: times, party size, reason,
temperature. Never names, phones or emails (those leave only through the audited tracing export)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.stats.calendar import day_bounds
from occupancy.visits import repository

COLUMNS = ("checked_in_at", "checked_out_at", "stay_minutes", "party_size", "kind",
           "checkout_reason", "temperature")


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat(timespec="seconds") if at else ""


async def visits_of_day(session: AsyncSession, venue_id: int, day: date, tz: ZoneInfo) -> list[dict]:
    start, end = day_bounds(day, tz)
    rows = []
    for visit in await repository.checked_in_between(session, venue_id, start, end):
        stay = (
            round((visit.checked_out_at - visit.checked_in_at).total_seconds() / 60, 1)
            if visit.checked_out_at else ""
        )
        rows.append({
            "checked_in_at": _local(visit.checked_in_at, tz),
            "checked_out_at": _local(visit.checked_out_at, tz),
            "stay_minutes": stay,
            "party_size": visit.party_size,
            "kind": visit.kind,
            "checkout_reason": visit.checkout_reason or "",
            "temperature": "" if visit.temperature is None else visit.temperature,
        })
    return rows
