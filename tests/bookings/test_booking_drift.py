"""occupancy reconcile for bookings: a loaded day's booked places per slot and the places held in
the slot under way are compared with SQL, and set to SQL's figures; a day Redis has not loaded is
left to be loaded on first use. On a single Redis and a cluster, SQLite and PostgreSQL."""

from occupancy import redis_keys as keys
from occupancy.bookings.drift import BookingReconciler, SlotDrift
from tests.bookings.helpers import free_places, today
from tests.bookings.test_claims import book, inside, venue_in_its_slot, walk_in
from tests.redis_kinds import redis_kind  # noqa: F401


async def test_reconcile_finds_booking_counts_that_drifted_from_sql_and_sets_them_back(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, later = await venue_in_its_slot(client, make_venue, issue_token,
                                                            capacity=10, advance_percent=50)
    await book(client, signed, slot, 1, 2)
    await book(client, signed, later, 2, 1)
    reconciler = BookingReconciler(services.bookings)
    assert [d for d in await reconciler.compare() if d.venue_id == venue.id] == []

    # Drift, as a lost release or a hand edit would leave it.
    day = keys.booking_day(venue.id, slot[:8])
    await services.redis.hincrby(day, slot[9:], 3)
    await services.redis.hincrby(day, later[9:], -1)
    await services.redis.hset(keys.held(venue.id), slot, 0)
    drift = sorted((d for d in await reconciler.repair() if d.venue_id == venue.id),
                   key=lambda d: (d.slot, d.what))
    assert drift == [SlotDrift(venue.id, slot, "booked", 5, 2),
                     SlotDrift(venue.id, slot, "held", 0, 2),
                     SlotDrift(venue.id, later, "booked", 0, 1)]
    assert [d for d in await reconciler.compare() if d.venue_id == venue.id] == []

    free = await free_places(client, signed, today())
    assert (free[f"{slot[9:11]}:{slot[11:]}"], free[f"{later[9:11]}:{later[11:]}"]) == (3, 4)
    # The held places are kept free again: 8 walk-ins of 10 places, the booked party still fits.
    answers = [await walk_in(client, signed, n) for n in range(9)]
    assert [a.status_code for a in answers] == [201] * 8 + [409]
    assert await inside(services, venue.id) == (8, 8)
