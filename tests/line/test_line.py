"""The waiting line of a full venue: parties get distinct places in order of joining, freed
places are offered to the head of the line (never to a walk-in while anyone waits), an offer
not claimed in time passes to the next party, a claim counts once however often retried, a
paused line makes no offers but the manager can offer by hand, and a Redis that lost its state
gets the line back from SQL. On a single Redis and a cluster, SQLite and PostgreSQL."""

import asyncio
import itertools
import time

from sqlalchemy import func, select

from occupancy.line.models import LineEntry
from occupancy.visits.models import Visit
from tests.redis_kinds import redis_kind  # noqa: F401


def visitor(n: int, **overrides) -> dict:
    return {"name": "Budi Santoso", "phone": f"0813 7777 {n:04d}", "party_size": 1} | overrides


async def check_in(client, signed: str, n: int, **overrides):
    return await client.post(f"/api/venues/{signed}/check-ins", json=visitor(n, **overrides))


_phones = itertools.count(1)


async def join(client, signed: str, party: int = 1, key: str | None = None,
               phone: str | None = None) -> dict:
    """Join the line; each party from its own phone unless one is given."""
    body = {"party_size": party, "phone": phone or f"0857 1111 {next(_phones):04d}"}
    body |= {"idempotency_key": key} if key else {}
    answer = await client.post(f"/api/venues/{signed}/line", json=body)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def status(client, code: str) -> dict:
    answer = await client.post("/api/line-status", json={"line": code})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def claim(client, signed: str, code: str, n: int = 900):
    return await client.post(f"/api/venues/{signed}/check-ins",
                             json=visitor(n, line=code, party_size=0))


async def full_venue(client, make_venue, capacity: int = 2, **venue_fields):
    """A venue with every place taken; (venue, signed code, the tickets inside)."""
    venue, signed = await make_venue(capacity=capacity, max_party=6, **venue_fields)
    tickets = []
    for n in range(capacity):
        answer = await check_in(client, signed, n)
        assert answer.status_code == 201, answer.text
        tickets.append(answer.json()["ticket"])
    return venue, signed, tickets


async def check_out(client, ticket: str) -> None:
    answer = await client.post("/api/check-outs", json={"ticket": ticket})
    assert answer.status_code == 200, answer.text


async def inside(services, venue_id: int) -> tuple[int, int]:
    """(the live count, the sum of the open visits' parties in SQL)."""
    async with services.sessionmaker() as session:
        in_sql = (await session.execute(select(func.coalesce(func.sum(Visit.party_size), 0))
                                        .where(Visit.venue_id == venue_id,
                                               Visit.checked_out_at.is_(None)))).scalar()
    return (await services.visits.occupancy(venue_id)).count, int(in_sql)


async def test_concurrent_joins_get_distinct_places_in_order_and_a_retry_keeps_its_place(
    client, services, make_venue
):
    venue, signed, _ = await full_venue(client, make_venue, capacity=3)
    joined = await asyncio.gather(*(join(client, signed, 1 + n % 3, key=f"phone-{n:04d}-abcdefghij")
                                    for n in range(40)))
    positions = sorted(j["position"] for j in joined)
    assert positions == list(range(1, 41))
    assert len({j["line"] for j in joined}) == 40
    again = await join(client, signed, 1, key="phone-0007-abcdefghij")
    assert again["replayed"] and again["line"] == joined[7]["line"]
    assert again["position"] == joined[7]["position"]
    # The places are kept in SQL too, once each, in the same order (by turn).
    async with services.sessionmaker() as session:
        rows = (await session.execute(select(LineEntry.entry_hash, LineEntry.seq).where(
            LineEntry.venue_id == venue.id).order_by(LineEntry.seq))).all()
    assert len(rows) == 40
    summary = await services.line.summary(venue.id)
    assert (summary.waiting, summary.offers_out) == (40, 0)


async def test_a_walk_in_never_jumps_the_line_and_the_head_claims_its_offer_once(
    client, services, make_venue, issue_token
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=3)
    first, second = await join(client, signed, 2), await join(client, signed, 1)
    assert (first["position"], second["position"]) == (1, 2)
    await check_out(client, tickets[0])
    await check_out(client, tickets[1])
    refused = await check_in(client, signed, 50)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "line_waiting"
    assert "line" in refused.json()["error"]["message"]
    staff = await issue_token("staff", venue.id)
    door = await client.post(f"/api/venues/{venue.id}/walk-ins", json={"delta": 1},
                             headers=staff)
    assert door.status_code == 409 and door.json()["error"]["code"] == "line_waiting"
    # Not its turn yet: the second party cannot claim.
    early = await claim(client, signed, second["line"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "line_not_offered"

    offered = await services.line.advance(venue.id)
    assert len(offered) == 1  # the head (2 places) fits in the 2 freed; the next does not
    head = await status(client, first["line"])
    assert head["state"] == "offered" and head["offer_seconds_left"] > 0
    assert (await status(client, second["line"]))["position"] == 1
    still = await check_in(client, signed, 51)
    assert still.json()["error"]["code"] == "line_waiting"

    answers = await asyncio.gather(*(claim(client, signed, first["line"]) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert {a.json()["visit_id"] for a in answers} == {answers[0].json()["visit_id"]}
    assert answers[0].json()["party_size"] == 2
    assert await inside(services, venue.id) == (3, 3)
    assert (await status(client, first["line"]))["state"] == "claimed"
    async with services.sessionmaker() as session:
        row = (await session.execute(select(LineEntry).where(
            LineEntry.entry_hash == _hash(first["line"])))).scalar_one()
    assert row.claimed_at is not None


async def test_an_offer_not_claimed_in_time_passes_to_the_next_party(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=1)
    first, second = await join(client, signed), await join(client, signed)
    await check_out(client, tickets[0])
    services.line.offer_seconds = 1
    assert len(await services.line.advance(venue.id)) == 1
    deadline = time.monotonic() + 60
    while (await status(client, first["line"]))["state"] == "offered":
        assert time.monotonic() < deadline, "the offer never ran out"
        await asyncio.sleep(0.2)
        await services.line.advance(venue.id)
    assert (await status(client, first["line"]))["state"] == "passed"
    assert (await status(client, second["line"]))["state"] == "offered"
    late = await claim(client, signed, first["line"])
    assert late.status_code == 409 and late.json()["error"]["code"] == "offer_passed"
    assert await inside(services, venue.id) == (0, 0)
    async with services.sessionmaker() as session:
        passed = (await session.execute(select(LineEntry.passed_at).where(
            LineEntry.entry_hash == _hash(first["line"])))).scalar_one()
    assert passed is not None


async def test_leaving_gives_the_place_up_and_an_offered_party_leaving_passes_its_places_on(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=1)
    first, second, third = [await join(client, signed) for _ in range(3)]
    left = await client.post("/api/line-leaves", json={"line": second["line"]})
    assert left.status_code == 200 and left.json()["state"] == "left"
    again = await client.post("/api/line-leaves", json={"line": second["line"]})
    assert again.status_code == 200 and again.json()["state"] == "left"
    assert (await status(client, third["line"]))["position"] == 2
    await check_out(client, tickets[0])
    await services.line.advance(venue.id)
    assert (await status(client, first["line"]))["state"] == "offered"
    await client.post("/api/line-leaves", json={"line": first["line"]})
    await services.line.advance(venue.id)
    assert (await status(client, third["line"]))["state"] == "offered"
    claimed = await claim(client, signed, third["line"])
    assert claimed.status_code == 201, claimed.text
    assert await inside(services, venue.id) == (1, 1)


async def test_a_paused_line_makes_no_offers_but_the_manager_offers_by_hand(
    client, services, make_venue, issue_token
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=2)
    manager = await issue_token("manager", venue.id)
    first, second = await join(client, signed), await join(client, signed)
    paused = await client.post(f"/api/venues/{venue.id}/line/pause", headers=manager)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    await check_out(client, tickets[0])
    assert await services.line.advance(venue.id) == []
    # Paused, the freed place stays free: still nobody jumps the line.
    assert (await check_in(client, signed, 60)).json()["error"]["code"] == "line_waiting"
    by_hand = await client.post(f"/api/venues/{venue.id}/line/offers", headers=manager)
    assert by_hand.status_code == 200, by_hand.text
    assert (by_hand.json()["waiting"], by_hand.json()["offers_out"]) == (1, 1)
    assert (await status(client, first["line"]))["state"] == "offered"
    none_free = await client.post(f"/api/venues/{venue.id}/line/offers", headers=manager)
    assert none_free.status_code == 409
    assert none_free.json()["error"]["code"] == "no_free_places"
    staff = await issue_token("staff", venue.id)
    seen = await client.get(f"/api/venues/{venue.id}/line", headers=staff)
    assert seen.status_code == 200
    assert seen.json()["waiting"] == 1 and seen.json()["longest_wait_seconds"] >= 0
    assert (await client.post(f"/api/venues/{venue.id}/line/pause", headers=staff)).status_code == 403
    resumed = await client.post(f"/api/venues/{venue.id}/line/resume", headers=manager)
    assert resumed.json()["paused"] is False
    await check_out(client, tickets[1])
    await services.line.advance(venue.id)
    assert (await status(client, second["line"]))["state"] == "offered"


async def test_redis_losing_its_state_keeps_the_line_from_sql(client, services, make_venue,
                                                              issue_token):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=2)
    manager = await issue_token("manager", venue.id)
    first, second, third = [await join(client, signed) for _ in range(3)]
    await check_out(client, tickets[0])
    await services.line.advance(venue.id)
    await client.post("/api/line-leaves", json={"line": second["line"]})
    await client.post(f"/api/venues/{venue.id}/line/pause", headers=manager)

    await services.redis.flushall()
    await services.rebuilder.ensure(wait=30)

    assert (await status(client, first["line"]))["state"] == "offered"
    assert (await status(client, second["line"]))["state"] == "left"  # from SQL: not in Redis
    assert (await status(client, third["line"]))["position"] == 1
    assert (await check_in(client, signed, 70)).json()["error"]["code"] == "line_waiting"
    summary = await services.line.summary(venue.id)
    assert (summary.waiting, summary.offers_out, summary.paused) == (1, 1, True)
    fourth = await join(client, signed)
    assert fourth["position"] == 2
    claimed = await claim(client, signed, first["line"])
    assert claimed.status_code == 201, claimed.text
    assert await inside(services, venue.id) == (2, 2)


async def test_bad_line_codes_are_refused_and_change_nothing(client, services, make_venue):
    venue, signed, _ = await full_venue(client, make_venue, capacity=1)
    other, other_signed = await make_venue(capacity=1)
    place = await join(client, signed)
    for code, expected in (("nonsense", "malformed_line_code"),
                           ("L1." + "x" * 32 if venue.id != 1 else "L2." + "x" * 32,
                            "unknown_line_entry")):
        answer = await client.post("/api/line-status", json={"line": code})
        assert answer.json()["error"]["code"] == expected, answer.text
    wrong = await claim(client, other_signed, place["line"])
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "other_venue"
    too_big = await client.post(f"/api/venues/{signed}/line",
                                json={"party_size": 99, "phone": "0857 0000 0099"})
    assert too_big.status_code == 422
    # Within the venue's max_party (6) but more than its capacity (1): it would stop the line.
    larger_than_venue = await client.post(f"/api/venues/{signed}/line", json={"party_size": 2,
                                                                   "phone": "0857 0000 0002"})
    assert larger_than_venue.json()["error"]["code"] == "invalid_input"
    assert (await services.line.summary(venue.id)).waiting == 1


def _hash(code: str) -> str:
    from occupancy.line.codes import digest
    return digest(code)
