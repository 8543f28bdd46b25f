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
    answers = await crowd(live_server.url, [("POST", path, booker(slot, n, party_size=party))
                                            for n, party in enumerate(parties)])

    assert {a.status_code for a in answers} <= {201, 409}, {a.status_code for a in answers}
    admitted = [p for p, a in zip(parties, answers, strict=True) if a.status_code == 201]
    refused = [a.json()["error"] for a in answers if a.status_code == 409]
    assert {error["code"] for error in refused} == {"slot_full"}
    # ~1,900 parties are refused, hundreds of them of one person: the last place is always taken.
    assert sum(admitted) == BOOKABLE
    assert await booked_in_sql(services, venue.id) == BOOKABLE
    assert (await services.bookings.store.day_counts(venue.id, f"{day:%Y%m%d}"))["0900"] == BOOKABLE
    assert (await free_places(client, signed, day)) == {"07:00": BOOKABLE, "09:00": 0,
                                                        "11:00": BOOKABLE}
    # Each booking's answer has its own code: nobody got another's places.
    codes = {a.json()["booking"] for a in answers if a.status_code == 201}
    assert len(codes) == len(admitted)
