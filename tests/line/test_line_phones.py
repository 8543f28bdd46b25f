"""One place in a venue's line per phone: joining twice from one phone is refused
(409 ``already_in_line``) and changes nothing; a retry with the same key still answers the same
place; the phone may join again once its place ended (left, claimed, passed); the phone is kept
only as its keyed hash, in Redis and SQL, and the rule holds after Redis lost its state.
On a single Redis and a cluster, SQLite and PostgreSQL."""

import asyncio
import time

from sqlalchemy import func, select

from occupancy import redis_keys as keys
from occupancy.line.models import LineEntry
from occupancy.privacy.blind_index import index_key, phone_index
from tests.line.test_line import check_out, claim, full_venue, join, status
from tests.redis_kinds import redis_kind  # noqa: F401

PHONE = "0812 3456 7890"
DIGITS = "81234567890"


async def join_answer(client, signed: str, phone: str, key: str, party: int = 1):
    return await client.post(f"/api/venues/{signed}/line",
                             json={"party_size": party, "phone": phone, "idempotency_key": key})


async def entries_in_sql(services, venue_id: int) -> int:
    async with services.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(LineEntry).where(
            LineEntry.venue_id == venue_id))


async def assert_refused_changing_nothing(client, services, venue_id: int, signed: str,
                                          phone: str) -> None:
    waiting = (await services.line.summary(venue_id)).waiting
    rows = await entries_in_sql(services, venue_id)
    twice = await join_answer(client, signed, phone, f"again-{time.time_ns()}-abcdef")
    assert twice.status_code == 409, twice.text
    error = twice.json()["error"]
    assert error["code"] == "already_in_line" and error["message"]
    assert DIGITS not in twice.text and "line" not in twice.json()
    assert (await services.line.summary(venue_id)).waiting == waiting
    assert await entries_in_sql(services, venue_id) == rows


async def test_a_phone_joins_a_line_once_and_only_its_keyed_hash_is_kept(
    client, services, make_venue, settings
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=1)
    first = await join_answer(client, signed, PHONE, "first-join-abcdefghij")
    assert first.status_code == 201, first.text
    # The same number written another way is the same phone (the blind index normalises it).
    await assert_refused_changing_nothing(client, services, venue.id, signed, "+62 812-3456-7890")
    replay = await join_answer(client, signed, PHONE, "first-join-abcdefghij")
    assert replay.status_code == 200 and replay.json()["line"] == first.json()["line"]
    # Another venue's line is another line.
    _, other_signed, _ = await full_venue(client, make_venue, capacity=1)
    assert (await join_answer(client, other_signed, PHONE, "other-venue-abcdefghij")).status_code == 201

    # Only the keyed hash: in SQL and in every Redis key of the venue, never the number.
    expected = phone_index(index_key(settings.secret_key), PHONE)
    async with services.sessionmaker() as session:
        stored = await session.scalar(select(LineEntry.phone_index).where(
            LineEntry.venue_id == venue.id))
    assert stored == expected and DIGITS not in stored
    phones = await services.redis.hgetall(keys.line_phones(venue.id))
    assert list(phones) in ([expected], [expected.encode()])
    entries = await services.redis.hgetall(keys.line_entries(venue.id))
    assert entries and all(DIGITS not in str(v) for v in entries.values())

    # Redis forgets everything: the phone's place is loaded again from SQL, still one.
    await services.redis.flushall()
    await services.rebuilder.ensure(wait=30)
    await assert_refused_changing_nothing(client, services, venue.id, signed, PHONE)

    # Once it left, the phone may join again (at the end of the line).
    left = await client.post("/api/line-leaves", json={"line": first.json()["line"]})
    assert left.status_code == 200, left.text
    again = await join_answer(client, signed, PHONE, "after-leaving-abcdefghij")
    assert again.status_code == 201, again.text
    await check_out(client, tickets[0])
    await services.line.advance(venue.id)
    assert (await status(client, again.json()["line"]))["state"] == "offered"
    # Offered places are still the phone's place in the line.
    await assert_refused_changing_nothing(client, services, venue.id, signed, PHONE)
    claimed = await claim(client, signed, again.json()["line"])
    assert claimed.status_code == 201, claimed.text
    # Claimed: inside now, the phone may queue again later (the venue is full again).
    after_claim = await join_answer(client, signed, PHONE, "after-claiming-abcdefghij")
    assert after_claim.status_code == 201, after_claim.text


async def test_a_phone_whose_offer_passed_may_join_again(client, services, make_venue):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=1)
    first = await join_answer(client, signed, PHONE, "will-pass-abcdefghij")
    await join(client, signed)
    await check_out(client, tickets[0])
    services.line.offer_seconds = 1
    assert len(await services.line.advance(venue.id)) == 1
    deadline = time.monotonic() + 60
    while (await status(client, first.json()["line"]))["state"] == "offered":
        assert time.monotonic() < deadline, "the offer never ran out"
        await asyncio.sleep(0.2)
        await services.line.advance(venue.id)
    again = await join_answer(client, signed, PHONE, "after-passing-abcdefghij")
    assert again.status_code == 201, again.text
    assert again.json()["position"] == 1  # the other party holds the offer now


async def test_a_join_without_a_phone_number_is_refused(client, services, make_venue):
    venue, signed, _ = await full_venue(client, make_venue, capacity=1)
    for body in ({"party_size": 1}, {"party_size": 1, "phone": "12"}):
        answer = await client.post(f"/api/venues/{signed}/line", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] in ("invalid_input", "invalid_json"), answer.text
    assert (await services.line.summary(venue.id)).waiting == 0


async def test_joins_at_once_from_one_phone_get_one_place(client, services, make_venue):
    venue, signed, _ = await full_venue(client, make_venue, capacity=1)
    answers = await asyncio.gather(*(join_answer(client, signed, PHONE, f"at-once-{n}-abcdefgh")
                                     for n in range(6)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
    assert (await services.line.summary(venue.id)).waiting == 1
    assert await entries_in_sql(services, venue.id) == 1
