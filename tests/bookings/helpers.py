"""Shared by the booking tests: a venue run by slots, a booking body, what SQL holds."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from occupancy.bookings.models import Booking
from occupancy.stats.calendar import local_date

JAKARTA = ZoneInfo("Asia/Jakarta")


def today() -> date:
    return local_date(datetime.now(UTC).timestamp(), JAKARTA)


def tomorrow() -> date:
    return today() + timedelta(days=1)


def slot_under_way() -> tuple[str, str, int]:
    """A slot of about an hour that started a few minutes ago (city time): (start, end, hold
    minutes), the hold reaching well past now."""
    now = datetime.now(JAKARTA)
    start = max(0, (now.hour * 60 + now.minute) // 5 * 5 - 10)
    end = min(23 * 60 + 59, start + 60)
    return f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}", min(30, end - start)


def slot_key(day: date, start: str) -> str:
    return f"{day:%Y%m%d}-{start.replace(':', '')}"


async def slotted_venue(client, make_venue, issue_token, capacity: int = 100, **plan):
    """A venue run by slots 07:00-09:00, 09:00-11:00 and 11:00-13:00 every day; (venue, signed
    code, manager headers)."""
    venue, signed = await make_venue(capacity=capacity, max_party=10)
    manager = await issue_token("manager", venue.id)
    body = {"starts": ["07:00", "09:00", "11:00"], "slot_minutes": 120, "capacity": capacity,
            "per_phone": 1} | plan
    answer = await client.put(f"/api/venues/{venue.id}/slots", json=body, headers=manager)
    assert answer.status_code == 200, answer.text
    return venue, signed, manager


def booker(slot: str, n: int = 0, **overrides) -> dict:
    body = {"slot": slot, "name": "Siti Rahma", "phone": f"0812 5555 {n:04d}",
            "email": "siti@example.id", "party_size": 2}
    return body | overrides


async def free_places(client, signed: str, day: date) -> dict[str, int]:
    answer = await client.get(f"/api/venues/{signed}/free-slots", params={"date": str(day)})
    assert answer.status_code == 200, answer.text
    return {slot["start"]: slot["free"] for slot in answer.json()["slots"]}


async def booked_in_sql(services, venue_id: int) -> int:
    async with services.sessionmaker() as session:
        return int((await session.execute(select(func.coalesce(func.sum(Booking.party_size), 0))
                                          .where(Booking.venue_id == venue_id,
                                                 Booking.cancelled_at.is_(None)))).scalar())
