"""Small assertions shared by the visit tests: what SQL and Redis hold right now."""

from sqlalchemy import func, select

from occupancy import redis_keys as keys
from occupancy.visits.models import Visit
from occupancy.visits.schemas import ValidCheckIn


def visitor(**overrides) -> dict:
    body = {"name": "Budi Santoso", "phone": "0812 3456 7890", "email": "budi@example.id",
            "party_size": 2}
    body.update(overrides)
    return body


def check_in(services, venue, party: int):
    """A check-in through the service, without HTTP (for tests of what follows from it)."""
    return services.visits.check_in(venue, ValidCheckIn(
        idempotency_key=None, party_size=party, name="Budi", phone="0812 3456 7890", email=None))


async def live_count(services, venue_id: int) -> int:
    return int(await services.redis.get(keys.count(venue_id)) or 0)


async def open_people_in_sql(services, venue_id: int) -> int:
    async with services.sessionmaker() as session:
        query = select(func.coalesce(func.sum(Visit.party_size), 0)).where(
            Visit.venue_id == venue_id, Visit.checked_out_at.is_(None))
        return int((await session.execute(query)).scalar())


async def visit_rows(services, venue_id: int) -> list[Visit]:
    async with services.sessionmaker() as session:
        query = select(Visit).where(Visit.venue_id == venue_id).order_by(Visit.checked_in_at)
        return list((await session.execute(query)).scalars())


async def screen(client, ticket: str, temperature, headers: dict):
    """Door staff screening a scanned ticket at its venue's door."""
    venue_id = ticket.split(".", 1)[0]
    return await client.post(f"/api/venues/{venue_id}/screenings",
                             json={"ticket": ticket, "temperature": temperature}, headers=headers)
