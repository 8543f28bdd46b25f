"""Time and bookings: an unclaimed booking's places stop being held when its hold ends (in the
check-in script, whoever runs the job), the job records the expiry once however many processes
run it, and a slot's visits are checked out at its end plus the grace (reason slot_end). On a
single Redis and a cluster, SQLite and PostgreSQL."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from occupancy.bookings import codes
from occupancy.bookings.expiry import SlotTimers
from occupancy.bookings.models import Booking
from occupancy.visits.models import Visit
from tests.bookings.test_claims import book, inside, venue_in_its_slot, walk_in
from tests.redis_kinds import redis_kind  # noqa: F401

GRACE = timedelta(minutes=10)


def slot_times(slot: str) -> tuple[datetime, datetime]:
    """The test slot's start and end (an hour long), in UTC."""
    from tests.bookings.helpers import JAKARTA
    start = datetime.strptime(slot, "%Y%m%d-%H%M").replace(tzinfo=JAKARTA).astimezone(UTC)
    return start, start + timedelta(minutes=60)


async def test_an_unclaimed_booking_expires_after_its_hold_once_and_gives_its_places_back(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, _ = await venue_in_its_slot(client, make_venue, issue_token,
                                                        capacity=6, advance_percent=50)
    code = await book(client, signed, slot, 1, 3)
    assert [(await walk_in(client, signed, n)).status_code for n in range(4)] == [201] * 3 + [409]
    start, _ = slot_times(slot)
    hold_ends = start + timedelta(minutes=30)

    # Once the hold has ended the places are free again, in the script itself, before any job ran.
    after_hold = await services.capacity.admit(venue.id, "e" * 64, 3, "e" * 32,
                                               hold_ends.timestamp() + 1, "walkin")
    assert (after_hold.status, after_hold.count) == ("ok", 6)
    await services.capacity.undo("checkin", venue.id, "e" * 64, "e" * 32, time.time(),
                                 after_hold.checked_in_at, "walkin")

    timers = SlotTimers(services.bookings, services.visits, GRACE)
    assert await timers.run(hold_ends - timedelta(seconds=1)) == (0, 0)
    # Two processes at once (a lock that expired): the expiry is counted once.
    runs = await asyncio.gather(timers.run(hold_ends), timers.run(hold_ends))
    assert sorted(expired for expired, _ in runs) == [0, 1]
    async with services.sessionmaker() as session:
        row = (await session.execute(select(Booking.expired_at, Booking.claimed_at).where(
            Booking.booking_hash == codes.digest(code)))).one()
    assert row.expired_at is not None and row.claimed_at is None

    claim = await client.post(f"/api/venues/{signed}/check-ins", json={"booking": code})
    assert (claim.status_code, claim.json()["error"]["code"]) == (409, "booking_expired")
    cancel = await client.post("/api/booking-cancellations", json={"booking": code})
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (409, "booking_expired")
    assert await inside(services, venue.id) == (3, 3)


async def test_a_slots_visits_are_checked_out_at_its_end_plus_grace_once(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, later = await venue_in_its_slot(client, make_venue, issue_token,
                                                            capacity=10, advance_percent=50)
    code = await book(client, signed, slot, 1, 4)
    claimed = await client.post(f"/api/venues/{signed}/check-ins", json={"booking": code})
    assert claimed.status_code == 201, claimed.text
    assert [(await walk_in(client, signed, n)).status_code for n in range(2)] == [201, 201]
    assert await inside(services, venue.id) == (6, 6)
    _, ends = slot_times(slot)

    timers = SlotTimers(services.bookings, services.visits, GRACE)
    assert await timers.run(ends + GRACE - timedelta(seconds=1)) == (0, 0)
    # Two processes at once: each visit is checked out once (its places released once).
    runs = await asyncio.gather(timers.run(ends + GRACE), timers.run(ends + GRACE))
    assert sum(ended for _, ended in runs) >= 3
    assert await inside(services, venue.id) == (0, 0)
    async with services.sessionmaker() as session:
        reasons = (await session.execute(select(Visit.checkout_reason).where(
            Visit.venue_id == venue.id))).scalars().all()
    assert reasons == ["slot_end"] * 3
    assert await timers.run(ends + GRACE) == (0, 0)
