"""Claiming a booking at the door: the booked party gets in during its slot even when walk-ins
filled the rest (check-ins leave the unclaimed bookings' places free, read in the same script),
never over capacity, once however often retried; a claim outside its slot, of a cancelled or
unknown booking, or another venue's, is refused with its code and changes nothing. On a single
Redis and a cluster, SQLite and PostgreSQL."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from occupancy import redis_keys as keys
from occupancy.bookings import codes
from occupancy.bookings.models import Booking
from occupancy.visits.models import Visit
from tests.bookings.helpers import JAKARTA, booker
from tests.redis_kinds import redis_kind  # noqa: F401


async def venue_in_its_slot(client, make_venue, issue_token, capacity: int, **plan):
    """A venue whose slot started a minute ago (an hour long) and a later one; (venue, signed
    code, manager headers, the slot under way, the next slot)."""
    start = datetime.now(JAKARTA).replace(second=0, microsecond=0) - timedelta(minutes=1)
    middle, end = start + timedelta(minutes=60), start + timedelta(minutes=120)
    if end.date() != start.date():
        pytest.skip("the test's slots would cross local midnight")
    venue, signed = await make_venue(capacity=capacity, max_party=10)
    manager = await issue_token("manager", venue.id)
    body = {"ranges": [f"{start:%H:%M}-{middle:%H:%M}", f"{middle:%H:%M}-{end:%H:%M}"],
            "capacity": capacity, "hold_minutes": 30, "per_phone": 1} | plan
    answer = await client.put(f"/api/venues/{venue.id}/slots", json=body, headers=manager)
    assert answer.status_code == 200, answer.text
    return (venue, signed, manager, f"{start:%Y%m%d-%H%M}", f"{middle:%Y%m%d-%H%M}")


async def book(client, signed: str, slot: str, n: int, party: int) -> str:
    answer = await client.post(f"/api/venues/{signed}/bookings",
                               json=booker(slot, n, party_size=party))
    assert answer.status_code == 201, answer.text
    return answer.json()["booking"]


def walk_in(client, signed: str, n: int):
    return client.post(f"/api/venues/{signed}/check-ins",
                       json={"name": "Budi", "phone": f"0813 7777 {n:04d}", "party_size": 1})


async def inside(services, venue_id: int) -> tuple[int, int]:
    """(the live count, the sum of the open visits' parties in SQL)."""
    async with services.sessionmaker() as session:
        in_sql = (await session.execute(select(func.coalesce(func.sum(Visit.party_size), 0))
                                        .where(Visit.venue_id == venue_id,
                                               Visit.checked_out_at.is_(None)))).scalar()
    return (await services.visits.occupancy(venue_id)).count, int(in_sql)


async def test_a_booked_party_gets_in_when_walk_ins_filled_the_rest_and_a_replay_counts_once(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, _ = await venue_in_its_slot(client, make_venue, issue_token,
                                                        capacity=10, advance_percent=60)
    first, second = await book(client, signed, slot, 1, 3), await book(client, signed, slot, 2, 3)
    walk_ins = [await walk_in(client, signed, n) for n in range(8)]
    assert [a.status_code for a in walk_ins] == [201] * 4 + [409] * 4
    assert walk_ins[-1].json()["error"]["code"] == "venue_full"

    # The visitor scans the venue's poster holding the booking; door staff scan the other one.
    by_visitor = await client.post(f"/api/venues/{signed}/check-ins", json={"booking": first})
    assert by_visitor.status_code == 201, by_visitor.text
    assert (by_visitor.json()["party_size"], by_visitor.json()["occupancy"]) == (
        3, {"count": 7, "capacity": 10})
    staff = await issue_token("staff", venue.id)
    by_staff = await client.post(f"/api/venues/{venue.id}/booking-claims",
                                 json={"booking": second}, headers=staff)
    assert by_staff.status_code == 201, by_staff.text
    assert by_staff.json()["occupancy"]["count"] == 10

    again = await client.post(f"/api/venues/{venue.id}/booking-claims", json={"booking": first},
                              headers=staff)
    assert again.status_code == 200
    assert (again.json()["replayed"], again.json()["ticket"], again.json()["visit_id"]) == (
        True, by_visitor.json()["ticket"], by_visitor.json()["visit_id"])
    assert await inside(services, venue.id) == (10, 10)

    # The visit is the booking's: its id, its sealed personal data; the booking is claimed.
    async with services.sessionmaker() as session:
        booking = (await session.execute(select(Booking).options(undefer(Booking.personal)).where(
            Booking.booking_hash == codes.digest(first)))).scalar_one()
        visit = await session.get(Visit, by_visitor.json()["visit_id"],
                                  options=[undefer(Visit.personal)])
        assert (visit.id, visit.kind, visit.party_size, visit.personal_key_id,
                visit.phone_index) == (booking.id, "booking", 3, booking.personal_key_id,
                                       booking.phone_index)
        assert visit.personal == booking.personal and booking.claimed_at is not None

    # The party leaves with the ticket its claim gave it; a claimed booking is not cancelled.
    out = await client.post("/api/check-outs", json={"ticket": by_visitor.json()["ticket"]})
    assert out.json()["occupancy"]["count"] == 7
    refused = await client.post("/api/booking-cancellations", json={"booking": second})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "booking_claimed")


async def test_concurrent_walk_ins_and_claims_never_exceed_capacity_and_every_booked_party_gets_in(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, _ = await venue_in_its_slot(client, make_venue, issue_token,
                                                        capacity=30, advance_percent=50)
    bookings = [await book(client, signed, slot, n, party) for n, party in
                enumerate([1, 2, 3, 4, 5])]
    staff = await issue_token("staff", venue.id)

    def claim(n: int, code: str):
        if n % 2:
            return client.post(f"/api/venues/{signed}/check-ins", json={"booking": code})
        return client.post(f"/api/venues/{venue.id}/booking-claims", json={"booking": code},
                           headers=staff)

    requests = [walk_in(client, signed, n) for n in range(40)]
    requests += [claim(n, code) for n, code in enumerate(bookings * 2)]  # each claimed twice
    answers = await asyncio.gather(*requests)
    walked, claimed = answers[:40], answers[40:]
    assert sum(a.status_code == 201 for a in walked) == 15
    assert {a.json()["error"]["code"] for a in walked if a.status_code != 201} == {"venue_full"}
    assert all(a.status_code in (200, 201) for a in claimed), [a.text for a in claimed]
    assert sorted(a.status_code for a in claimed) == [200] * 5 + [201] * 5
    assert await inside(services, venue.id) == (30, 30)
    assert await services.redis.hget(keys.held(venue.id), slot) in (b"0", "0")


async def test_claims_outside_the_slot_or_of_no_live_booking_are_refused_and_change_nothing(
    client, services, make_venue, issue_token
):
    venue, signed, manager, slot, later = await venue_in_its_slot(
        client, make_venue, issue_token, capacity=10, advance_percent=50)
    other, other_signed = await make_venue(capacity=10)
    staff = await issue_token("staff", venue.id)
    now_code, later_code = await book(client, signed, slot, 1, 2), await book(client, signed,
                                                                              later, 2, 2)
    cancelled = await book(client, signed, slot, 3, 1)
    await client.post("/api/booking-cancellations", json={"booking": cancelled})
    unknown = codes.derive("another secret", venue.id, "never-booked-anywhere")

    async def refused(code: str, where: str = signed) -> tuple[int, str]:
        answer = await client.post(f"/api/venues/{where}/check-ins", json={"booking": code})
        return answer.status_code, answer.json()["error"]["code"]

    assert await refused(later_code) == (409, "claim_too_early")
    assert await refused(cancelled) == (409, "booking_cancelled")
    assert await refused(unknown) == (404, "unknown_booking")
    assert await refused("B12.not-a-booking") == (400, "malformed_booking")
    assert await refused(now_code, other_signed) == (409, "other_venue")
    at_door = await client.post(f"/api/venues/{venue.id}/booking-claims",
                                json={"booking": later_code})
    assert at_door.status_code == 401  # door staff only
    # The hold ran out (the plan now holds bookings 1 minute after their start, a minute or more ago).
    shorter = await client.put(f"/api/venues/{venue.id}/slots", headers=manager, json={
        "ranges": [f"{slot[9:11]}:{slot[11:]}-23:59"], "capacity": 10, "advance_percent": 50,
        "hold_minutes": 1})
    assert shorter.status_code == 200, shorter.text
    expired = await client.post(f"/api/venues/{venue.id}/booking-claims",
                                json={"booking": now_code}, headers=staff)
    assert (expired.status_code, expired.json()["error"]["code"]) == (409, "booking_expired")
    assert await inside(services, venue.id) == (0, 0)
    assert await inside(services, other.id) == (0, 0)


async def test_the_script_refuses_a_claim_outside_its_slot(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, later = await venue_in_its_slot(client, make_venue, issue_token,
                                                            capacity=10)
    code = await book(client, signed, later, 1, 2)
    live = await services.capacity.admit(venue.id, "a" * 64, 2, "c" * 32,
                                         datetime.now(UTC).timestamp(), "booking",
                                         claim=(codes.digest(code), later))
    assert live.status == "outside_slot"
    assert await inside(services, venue.id) == (0, 0)


async def test_a_claim_whose_process_died_before_sql_gives_the_booking_back_after_its_lease(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, _ = await venue_in_its_slot(client, make_venue, issue_token,
                                                        capacity=10, advance_percent=50)
    code = await book(client, signed, slot, 1, 3)
    # A process claimed it in Redis and died before the visit's SQL row: past the lease.
    at = datetime.now(UTC).timestamp() - services.repairer.lease - 1
    live = await services.capacity.admit(venue.id, "d" * 64, 3, "c" * 32, at, "booking",
                                         claim=(codes.digest(code), slot))
    assert live.status == "ok"
    assert (await walk_in(client, signed, 1)).status_code == 201  # 3 in, 3 of 7 free taken

    done = await services.repairer.run()

    assert done.orphans_released == 1
    booking = keys.booking(venue.id, codes.digest(code))
    assert await services.redis.hget(booking, "state") == b"booked"
    assert int(await services.redis.hget(keys.held(venue.id), slot)) == 3  # held again
    claimed = await client.post(f"/api/venues/{signed}/check-ins", json={"booking": code})
    assert claimed.status_code == 201, claimed.text
    assert await inside(services, venue.id) == (4, 4)


async def test_places_held_for_bookings_are_held_again_after_redis_lost_them(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, _ = await venue_in_its_slot(client, make_venue, issue_token,
                                                        capacity=6, advance_percent=50)
    code = await book(client, signed, slot, 1, 3)
    await services.redis.flushall()
    await services.rebuilder.ensure(wait=30)
    walk_ins = [await walk_in(client, signed, n) for n in range(5)]
    assert [a.status_code for a in walk_ins] == [201] * 3 + [409] * 2
    claimed = await client.post(f"/api/venues/{signed}/check-ins", json={"booking": code})
    assert claimed.status_code == 201, claimed.text
    assert await inside(services, venue.id) == (6, 6)


async def test_a_claim_whose_day_redis_no_longer_holds_loads_it_from_sql_and_gets_in(
    client, services, make_venue, issue_token
):
    venue, signed, _, slot, _ = await venue_in_its_slot(client, make_venue, issue_token,
                                                        capacity=6)
    code = await book(client, signed, slot, 1, 3)
    # The day and the booking gone from Redis (the venue's live count kept): the claim loads the
    # day from SQL on its own instead of reading it before every claim.
    await services.redis.delete(keys.booking_day(venue.id, slot[:8]),
                                keys.booking(venue.id, codes.digest(code)))
    claimed = await client.post(f"/api/venues/{signed}/check-ins", json={"booking": code})
    assert claimed.status_code == 201, claimed.text
    assert claimed.json()["party_size"] == 3
    assert await inside(services, venue.id) == (3, 3)
