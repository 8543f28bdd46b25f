"""A booking Redis holds but SQL never got (its process died in between) is taken back after its
lease, and its places are free again; one SQL holds is only confirmed."""

import asyncio
import time

from occupancy import redis_keys as keys
from occupancy.bookings import codes
from occupancy.bookings.leases import BookingLeases
from occupancy.privacy.blind_index import index_key, phone_index
from tests.bookings.helpers import (
    booked_in_sql,
    booker,
    free_places,
    slot_key,
    slotted_venue,
    tomorrow,
)
from tests.conftest import SECRET
from tests.redis_kinds import redis_kind  # noqa: F401


async def test_an_orphaned_booking_is_released_after_its_lease_and_a_written_one_kept(
    client, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=5)
    day = tomorrow()
    written = await client.post(f"/api/venues/{signed}/bookings",
                                json=booker(slot_key(day, "07:00"), 1, party_size=2))
    assert written.status_code == 201
    # A process books in Redis and dies before its SQL write: the script alone, as it ran.
    code = codes.derive(SECRET, venue.id, "a-booking-whose-process-died")
    phone = phone_index(index_key(SECRET), "0812 9999 0000")
    plan = await services.bookings.plans.get(venue.id)
    orphan = await services.bookings.store.book(
        venue.id, f"{day:%Y%m%d}", "0700", codes.digest(code), phone, "f" * 32, 3, 5, 1,
        time.time(), 3600, (time.time() + 86400, time.time() + 87300), plan.version)
    assert orphan.status == "ok"
    assert (await free_places(client, signed, day))["07:00"] == 0
    # The written booking's confirmation was lost too.
    await services.redis.zadd(keys.pending_bookings(venue.id),
                              {codes.digest(written.json()["booking"]): time.time()})

    leases = BookingLeases(services.sessionmaker, services.redis, services.bookings.store, lease=60)
    assert await leases.settle() == 0  # within the lease: a write may still be in flight
    assert (await free_places(client, signed, day))["07:00"] == 0

    expired = BookingLeases(services.sessionmaker, services.redis, services.bookings.store,
                            lease=0)
    assert await expired.settle() == 1
    assert (await free_places(client, signed, day))["07:00"] == 3
    # The written one is confirmed (posted with the next script batch, not awaited).
    deadline = time.monotonic() + 30
    while await services.redis.zcard(keys.pending_bookings(venue.id)) != 0:
        assert time.monotonic() < deadline, "the written booking was not confirmed"
        await asyncio.sleep(0.05)
    assert await expired.settle() == 0
    # The phone of the orphan may book again, the written booking stands.
    again = await client.post(f"/api/venues/{signed}/bookings",
                              json=booker(slot_key(day, "07:00"), phone="0812 9999 0000",
                                          party_size=3))
    assert again.status_code == 201, again.text
    assert await booked_in_sql(services, venue.id) == 5
