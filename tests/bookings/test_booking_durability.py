"""A booking or cancellation SQL could not record is answered 503 and undone in Redis: no places
are lost or given twice."""

from sqlalchemy import text

from tests.bookings.helpers import (
    booked_in_sql,
    booker,
    free_places,
    slot_key,
    slotted_venue,
    tomorrow,
)
from tests.redis_kinds import redis_kind  # noqa: F401


async def _rename(services, old: str, new: str) -> None:
    async with services.engine.begin() as conn:
        await conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def _refuse_updates(services, refuse: bool) -> None:
    """The database refuses to change a booking row (reading it still works)."""
    sqlite = services.engine.dialect.name == "sqlite"
    statements = (
        ["CREATE TRIGGER refuse BEFORE UPDATE ON bookings BEGIN SELECT RAISE(ABORT, 'refused'); END"]
        if sqlite else
        ["CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ "
         "LANGUAGE plpgsql",
         "CREATE TRIGGER refuse BEFORE UPDATE ON bookings FOR EACH ROW EXECUTE FUNCTION refuse()"])
    if not refuse:
        statements = (["DROP TRIGGER refuse"] if sqlite else
                      ["DROP TRIGGER refuse ON bookings", "DROP FUNCTION refuse()"])
    async with services.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_when_sql_fails_a_booking_gives_its_places_back_and_a_cancellation_keeps_them(
    client, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=4)
    day, slot = tomorrow(), slot_key(tomorrow(), "07:00")
    kept = await client.post(f"/api/venues/{signed}/bookings", json=booker(slot, 1, party_size=1))
    assert kept.status_code == 201

    await _rename(services, "bookings", "bookings_away")
    try:
        refused = await client.post(f"/api/venues/{signed}/bookings",
                                    json=booker(slot, 2, party_size=3))
    finally:
        await _rename(services, "bookings_away", "bookings")
    await _refuse_updates(services, True)
    try:
        not_cancelled = await client.post("/api/booking-cancellations",
                                          json={"booking": kept.json()["booking"]})
    finally:
        await _refuse_updates(services, False)
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "service_unavailable")
    assert refused.headers["retry-after"]
    assert (not_cancelled.status_code, not_cancelled.json()["error"]["code"]) == (
        503, "service_unavailable")
    assert (await free_places(client, signed, day))["07:00"] == 3
    assert await booked_in_sql(services, venue.id) == 1

    # Nothing was lost: the same party books now, and the booking made before is still there.
    again = await client.post(f"/api/venues/{signed}/bookings", json=booker(slot, 2, party_size=3))
    assert again.status_code == 201
    cancelled = await client.post("/api/booking-cancellations",
                                  json={"booking": kept.json()["booking"]})
    assert (cancelled.status_code, cancelled.json()["replayed"]) == (200, False)
    assert (await free_places(client, signed, day))["07:00"] == 1
    assert await booked_in_sql(services, venue.id) == 3
