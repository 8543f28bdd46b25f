"""A crowd booking one slot: 2,000 simultaneous bookings of mixed parties through real uvicorn
workers take exactly the slot's bookable places, never more, and SQL and Redis agree on them.
On a single Redis and a cluster, SQLite and PostgreSQL."""

import random

from tests.bookings.helpers import booked_in_sql, booker, free_places, slot_key, slotted_venue, tomorrow
from tests.crowd import crowd
from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)

CROWD = 2000
CAPACITY = 500
BOOKABLE = 300  # 60 % of the slot booked in advance
RETRIES = 20


async def test_2000_simultaneous_bookings_of_mixed_parties_take_exactly_the_bookable_places(
    client, live_server, services, make_venue, issue_token
):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=CAPACITY,
                                           advance_percent=60, per_phone=1)
    day = tomorrow()
    slot = slot_key(day, "09:00")
    rng = random.Random(18)
    parties = [rng.choice([1, 1, 2, 2, 3, 4, 5, 6]) for _ in range(CROWD)]
    path = f"/api/venues/{signed}/bookings"
    bodies = [booker(slot, n, party_size=party, idempotency_key=f"crowd-booking-key-{n:08d}")
              for n, party in enumerate(parties)]
    answers = await crowd(live_server.url, [("POST", path, body) for body in bodies])
    # An overloaded service may answer 503 with Retry-After (its SQL pool busy on a loaded
    # machine); the page retries with the same key, and so do these, all at once again.
    unavailable = 0
    for _ in range(RETRIES):
        again = [n for n, a in enumerate(answers) if a.status_code == 503]
        if not again:
            break
        unavailable += len(again)
        assert all(answers[n].headers.get("retry-after") and answers[n].json()["error"]["code"]
                   for n in again)
        for n, answer in zip(again, await crowd(live_server.url, [("POST", path, bodies[n])
                                                                  for n in again]), strict=True):
            answers[n] = answer
    print(f"{unavailable} answers of 503 retried")

    assert {a.status_code for a in answers} <= {200, 201, 409}, {a.status_code for a in answers}
    admitted = [p for p, a in zip(parties, answers, strict=True) if a.status_code in (200, 201)]
    refused = [a.json()["error"] for a in answers if a.status_code == 409]
    assert {error["code"] for error in refused} == {"slot_full"}
    # ~1,900 parties are refused, hundreds of them of one person: the last place is always taken.
    assert sum(admitted) == BOOKABLE
    assert await booked_in_sql(services, venue.id) == BOOKABLE
    assert (await services.bookings.store.day_counts(venue.id, f"{day:%Y%m%d}"))["0900"] == BOOKABLE
    assert (await free_places(client, signed, day)) == {"07:00": BOOKABLE, "09:00": 0,
                                                        "11:00": BOOKABLE}
    # Each booking's answer has its own code: nobody got another's places.
    codes = {a.json()["booking"] for a in answers if a.status_code in (200, 201)}
    assert len(codes) == len(admitted)
