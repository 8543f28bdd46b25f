"""An entry that finishes (claimed, left, passed) leaves Redis in the script that finishes it:
after many joins and their ends, the venue's line keys hold no finished entry, and every retry
(a join with the same key, a leave, a claim, a status) still gets the answer it got before, from
SQL once Redis forgot the entry. A claim SQL refused puts its entry back, offered. On a single
Redis and a cluster, SQLite and PostgreSQL."""

import asyncio
import json
import time

from sqlalchemy import func, select, text

from occupancy import redis_keys as keys
from occupancy.line.models import LineEntry
from tests.line.test_line import check_out, claim, full_venue, inside, join, status
from tests.redis_kinds import redis_kind  # noqa: F401


async def line_keys_content(services, venue_id: int) -> dict:
    redis = services.redis
    return {
        "entries": {h.decode(): json.loads(e)["s"]
                    for h, e in (await redis.hgetall(keys.line_entries(venue_id))).items()},
        "waiting": await redis.zcard(keys.line(venue_id)),
        "offers": await redis.zcard(keys.line_offers(venue_id)),
        "phones": await redis.hlen(keys.line_phones(venue_id)),
        "pending": await redis.zcard(keys.line_pending(venue_id)),
        "offered": int(await redis.hget(keys.line_meta(venue_id), "offered") or 0),
    }


async def leave(client, code: str):
    return await client.post("/api/line-leaves", json={"line": code})


async def rows_in_sql(services, venue_id: int) -> int:
    async with services.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(LineEntry).where(
            LineEntry.venue_id == venue_id))


async def test_finished_entries_leave_redis_and_retries_answer_as_before(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=3)
    keys_of = [f"finish-{n}-{time.time_ns()}" for n in range(9)]
    joined = [await join(client, signed, 1, key=key) for key in keys_of]
    # Three leave while waiting; three are offered places (one claims, one leaves, one lets its
    # offer pass); the last three then leave.
    for j in joined[6:]:
        assert (await leave(client, j["line"])).status_code == 200
    for ticket in tickets:
        await check_out(client, ticket)
    services.line.offer_seconds = 2
    assert len(await services.line.advance(venue.id)) == 3
    claimed = await claim(client, signed, joined[0]["line"])
    assert claimed.status_code == 201, claimed.text
    assert (await leave(client, joined[1]["line"])).status_code == 200
    deadline = time.monotonic() + 60
    while (await status(client, joined[2]["line"]))["state"] != "passed":
        assert time.monotonic() < deadline, "the offer never ran out"
        await asyncio.sleep(0.3)
        await services.line.advance(venue.id)
    # joins 3-5 were offered next: they leave too.
    for j in joined[3:6]:
        assert (await leave(client, j["line"])).status_code == 200

    assert await line_keys_content(services, venue.id) == {
        "entries": {}, "waiting": 0, "offers": 0, "phones": 0, "pending": 0, "offered": 0}

    expected = ["claimed", "left", "passed"] + ["left"] * 6
    assert [(await status(client, j["line"]))["state"] for j in joined] == expected
    # A retried join answers the place as it ended, replayed, and adds nothing anywhere.
    for key, j, state in zip(keys_of, joined, expected, strict=True):
        again = await client.post(f"/api/venues/{signed}/line", json={
            "party_size": 1, "phone": "0857 0000 1111", "idempotency_key": key})
        assert again.status_code == 200, again.text
        assert (again.json()["line"], again.json()["state"]) == (j["line"], state)
        assert again.json()["replayed"] and again.json()["position"] == 0
    assert await rows_in_sql(services, venue.id) == 9
    assert (await line_keys_content(services, venue.id))["entries"] == {}
    # A leave retried answers left; a claimed or passed one is refused as before.
    for j in joined[1:2] + joined[3:]:
        again = await leave(client, j["line"])
        assert again.status_code == 200 and again.json()["state"] == "left", again.text
    assert (await leave(client, joined[0]["line"])).json()["error"]["code"] == "line_claimed"
    assert (await leave(client, joined[2]["line"])).json()["error"]["code"] == "offer_passed"
    # A claim retried is the same visit, counted once; claims of the others are refused.
    again = await claim(client, signed, joined[0]["line"])
    assert again.status_code == 200 and again.json()["ticket"] == claimed.json()["ticket"]
    assert (await claim(client, signed, joined[1]["line"])).json()["error"]["code"] == "line_left"
    assert (await claim(client, signed, joined[2]["line"])).json()["error"]["code"] == (
        "offer_passed")
    assert await inside(services, venue.id) == (1, 1)
    assert (await line_keys_content(services, venue.id))["entries"] == {}


async def test_a_claim_sql_refused_is_offered_again_and_claimed_later(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=1)
    head = await join(client, signed, 1)
    await check_out(client, tickets[0])
    await services.line.advance(venue.id)
    sqlite = services.engine.dialect.name == "sqlite"
    refuse = (["CREATE TRIGGER refuse BEFORE UPDATE ON line_entries BEGIN "
               "SELECT RAISE(ABORT, 'refused'); END"] if sqlite else
              ["CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; "
               "END $$ LANGUAGE plpgsql",
               "CREATE TRIGGER refuse BEFORE UPDATE ON line_entries FOR EACH ROW EXECUTE "
               "FUNCTION refuse()"])
    allow = (["DROP TRIGGER refuse"] if sqlite else
             ["DROP TRIGGER refuse ON line_entries", "DROP FUNCTION refuse()"])
    async with services.engine.begin() as conn:
        for statement in refuse:
            await conn.execute(text(statement))
    try:
        refused = await claim(client, signed, head["line"])
        assert refused.status_code == 503, refused.text
    finally:
        async with services.engine.begin() as conn:
            for statement in allow:
                await conn.execute(text(statement))
    assert (await status(client, head["line"]))["state"] == "offered"
    content = await line_keys_content(services, venue.id)
    assert (content["offers"], content["offered"], content["phones"]) == (1, 1, 1)
    assert await inside(services, venue.id) == (0, 0)
    claimed = await claim(client, signed, head["line"])
    assert claimed.status_code == 201, claimed.text
    assert await inside(services, venue.id) == (1, 1)
    assert (await line_keys_content(services, venue.id))["entries"] == {}
