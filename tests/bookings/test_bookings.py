"""Booking and cancelling a slot's places: atomic in Redis (single and cluster), durable and sealed
in SQL before the answer, idempotent, limited per phone by its keyed hash, never overbooked, and
rebuilt from SQL when Redis lost them."""

import asyncio
import secrets
from datetime import timedelta

from sqlalchemy import select

from occupancy.bookings.models import Booking
from occupancy.privacy.blind_index import index_key, phone_index
from occupancy.privacy.models import DataKey
from occupancy.privacy.sealing import Opener, Personal, Sealed, private_key_from
from tests.bookings.helpers import (
    booked_in_sql,
    booker,
    free_places,
    slot_key,
    slotted_venue,
    tomorrow,
)
from tests.conftest import OFFICE_PRIVATE_KEY, SECRET
from tests.redis_kinds import redis_kind  # noqa: F401


async def test_a_booking_is_sealed_in_sql_replayed_once_and_cancelled_once(
    client, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=20,
                                           advance_percent=50)
    day, key = tomorrow(), "a-retried-booking-key-0001"
    slot = slot_key(day, "09:00")
    first = await client.post(f"/api/venues/{signed}/bookings",
                              json=booker(slot, party_size=3, idempotency_key=key))
    assert first.status_code == 201, first.text
    booking = first.json()
    assert booking["booking"].startswith(f"B{venue.id}.")
    assert (booking["slot"], booking["start"], booking["end"], booking["party_size"],
            booking["state"], booking["free"]) == (slot, "09:00", "11:00", 3, "booked", 7)
    assert await free_places(client, signed, day) == {"07:00": 10, "09:00": 7, "11:00": 10}

    again = await client.post(f"/api/venues/{signed}/bookings",
                              json=booker(slot, party_size=3, idempotency_key=key))
    assert again.status_code == 200
    assert (again.json()["booking"], again.json()["booking_id"], again.json()["replayed"]) == (
        booking["booking"], booking["booking_id"], True)
    assert await booked_in_sql(services, venue.id) == 3

    async with services.sessionmaker() as session:
        row = (await session.execute(select(Booking.personal, Booking.personal_key_id,
                                            Booking.phone_index, Booking.slot)
                                     .where(Booking.id == booking["booking_id"]))).one()
        data_key = await session.get(DataKey, row.personal_key_id)
    assert b"Siti" not in row.personal and b"5555" not in row.personal
    assert row.phone_index == phone_index(index_key(SECRET), "+62 812 5555 0000")
    opener = Opener(private_key_from(OFFICE_PRIVATE_KEY))
    opener.add_key(data_key)
    assert opener.open(booking["booking_id"], Sealed(row.personal_key_id, row.personal)) == Personal(
        "Siti Rahma", "081255550000", "siti@example.id")

    cancelled = await client.post("/api/booking-cancellations", json={"booking": booking["booking"]})
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["replayed"]) == ("cancelled", False)
    assert (await free_places(client, signed, day))["09:00"] == 10
    retried = await client.post("/api/booking-cancellations", json={"booking": booking["booking"]})
    assert retried.json()["replayed"] is True
    assert (await free_places(client, signed, day))["09:00"] == 10
    assert await booked_in_sql(services, venue.id) == 0


async def test_concurrent_bookings_of_mixed_parties_never_overbook_a_slot(
    client, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=50,
                                           advance_percent=60, per_phone=1)
    slot = slot_key(tomorrow(), "07:00")
    parties = [1 + n % 4 for n in range(120)]  # 300 places asked for 30 bookable
    answers = await asyncio.gather(*(
        client.post(f"/api/venues/{signed}/bookings", json=booker(slot, n, party_size=party))
        for n, party in enumerate(parties)))
    admitted = [a.json()["party_size"] for a in answers if a.status_code == 201]
    refused = [a.json()["error"]["code"] for a in answers if a.status_code != 201]
    assert set(refused) == {"slot_full"}
    assert sum(admitted) <= 30 and sum(admitted) >= 30 - 3  # the last places fit no party left
    assert await booked_in_sql(services, venue.id) == sum(admitted)
    assert (await free_places(client, signed, tomorrow()))["07:00"] == 30 - sum(admitted)


async def test_n_concurrent_single_bookings_for_k_places_admit_exactly_k(
    client, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=7)
    slot = slot_key(tomorrow(), "11:00")
    answers = await asyncio.gather(*(
        client.post(f"/api/venues/{signed}/bookings", json=booker(slot, n, party_size=1))
        for n in range(40)))
    assert sorted(a.status_code for a in answers) == [201] * 7 + [409] * 33
    assert await booked_in_sql(services, venue.id) == 7


async def test_a_full_slot_names_the_next_slots_with_room(client, make_venue, issue_token):
    _, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=4)
    day = tomorrow()
    await client.post(f"/api/venues/{signed}/bookings",
                      json=booker(slot_key(day, "07:00"), 1, party_size=4))
    await client.post(f"/api/venues/{signed}/bookings",
                      json=booker(slot_key(day, "09:00"), 2, party_size=3))
    full = await client.post(f"/api/venues/{signed}/bookings",
                             json=booker(slot_key(day, "07:00"), 3, party_size=2))
    assert full.status_code == 409
    error = full.json()["error"]
    assert error["code"] == "slot_full"
    assert error["next_free"] == [{"slot": slot_key(day, "11:00"), "start": "11:00", "free": 4}]


async def test_one_phone_holds_as_many_bookings_a_day_as_the_venue_allows(
    client, make_venue, issue_token
):
    _, signed, _ = await slotted_venue(client, make_venue, issue_token, per_phone=2)
    day = tomorrow()
    same_phone = ("0812 7777 0001", "+62 812-7777-0001", "62812 7777 0001")
    for start, phone in zip(("07:00", "09:00"), same_phone, strict=False):
        made = await client.post(f"/api/venues/{signed}/bookings",
                                 json=booker(slot_key(day, start), phone=phone))
        assert made.status_code == 201, made.text
    third = await client.post(f"/api/venues/{signed}/bookings",
                              json=booker(slot_key(day, "11:00"), phone=same_phone[2]))
    assert third.status_code == 409
    assert (third.json()["error"]["code"], third.json()["error"]["limit"]) == ("booking_limit", 2)
    assert (await free_places(client, signed, day))["11:00"] == 100
    # Another day is another allowance; a cancelled booking gives its place in the limit back.
    other_day = await client.post(f"/api/venues/{signed}/bookings", json=booker(
        slot_key(tomorrow() + timedelta(days=1), "07:00"),
        phone=same_phone[0]))
    assert other_day.status_code == 201


async def test_bad_bookings_are_refused_with_a_stable_code_and_change_nothing(
    client, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=10,
                                           days_ahead=2)
    day = tomorrow()
    cases = [
        (booker("tomorrow-0700"), 404, "unknown_slot"),
        (booker(slot_key(day, "08:00")), 404, "unknown_slot"),
        (booker(slot_key(day - timedelta(days=2), "07:00")), 422, "day_past"),
        (booker(slot_key(day + timedelta(days=2), "07:00")), 422,
         "day_too_far"),
        (booker(slot_key(day, "07:00"), party_size=11), 422, "invalid_input"),
        (booker(slot_key(day, "07:00"), party_size=0), 422, "invalid_input"),
        (booker(slot_key(day, "07:00"), phone="12"), 422, "invalid_input"),
        (booker(slot_key(day, "07:00"), idempotency_key="short"), 422, "invalid_input"),
        (booker(slot_key(day, "07:00"), extra=1), 422, "invalid_input"),
    ]
    for body, status, code in cases:
        answer = await client.post(f"/api/venues/{signed}/bookings", json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (body,
                                                                                       answer.text)
    forged = await client.post(f"/api/venues/{signed[:-1]}x/bookings",
                               json=booker(slot_key(day, "07:00")))
    assert forged.json()["error"]["code"] == "forged_venue_code"
    for code, status, error in (("not-a-booking", 400, "malformed_booking"),
                                (f"{venue.id}.{'A' * 32}", 400, "malformed_booking"),
                                (f"B{venue.id}.{'A' * 32}", 404, "unknown_booking")):
        answer = await client.post("/api/booking-cancellations", json={"booking": code})
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, error)
    assert await booked_in_sql(services, venue.id) == 0
    assert await free_places(client, signed, day) == {"07:00": 10, "09:00": 10, "11:00": 10}
    plain = await make_venue(capacity=10)
    none = await client.post(f"/api/venues/{plain[1]}/bookings", json=booker(slot_key(day, "07:00")))
    assert (none.status_code, none.json()["error"]["code"]) == (404, "no_slots")


async def test_the_slot_counts_are_rebuilt_from_sql_when_redis_lost_them(
    client, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=5)
    day = tomorrow()
    made = [await client.post(f"/api/venues/{signed}/bookings",
                              json=booker(slot_key(day, "07:00"), n, party_size=2))
            for n in range(2)]
    await client.post("/api/booking-cancellations", json={"booking": made[1].json()["booking"]})
    await client.post(f"/api/venues/{signed}/bookings",
                      json=booker(slot_key(day, "09:00"), 7, party_size=5))
    await services.redis.flushall()
    await services.rebuilder.ensure(wait=30)

    assert await free_places(client, signed, day) == {"07:00": 3, "09:00": 0, "11:00": 5}
    full = await client.post(f"/api/venues/{signed}/bookings",
                             json=booker(slot_key(day, "07:00"), 8, party_size=4))
    assert full.json()["error"]["code"] == "slot_full"
    # A booking and a cancellation made before the loss are known again: the retry replays,
    # the cancelled one stays cancelled, the live one can be cancelled.
    again = await client.post("/api/booking-cancellations", json={"booking": made[1].json()["booking"]})
    assert again.json()["replayed"] is True
    gone = await client.post("/api/booking-cancellations", json={"booking": made[0].json()["booking"]})
    assert gone.json()["replayed"] is False
    assert (await free_places(client, signed, day))["07:00"] == 5
    assert await booked_in_sql(services, venue.id) == 5


async def test_one_idempotency_key_at_two_venues_is_two_bookings(client, make_venue, issue_token):
    key = secrets.token_urlsafe(20)
    _, first, _ = await slotted_venue(client, make_venue, issue_token)
    _, second, _ = await slotted_venue(client, make_venue, issue_token)
    slot = slot_key(tomorrow(), "07:00")
    one = await client.post(f"/api/venues/{first}/bookings", json=booker(slot, idempotency_key=key))
    two = await client.post(f"/api/venues/{second}/bookings",
                            json=booker(slot, 9, idempotency_key=key))
    # Codes are derived per venue: the same key at two venues is two bookings.
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["booking"] != two.json()["booking"]

