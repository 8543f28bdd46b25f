"""Door screening (fever ends the visit), automatic check-out, Redis dropping connections."""

import asyncio
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy import update

from occupancy.visits import expiry, unconfirmed
from occupancy.visits.expiry import auto_check_out
from occupancy.visits.models import Visit

from .helpers import live_count, open_people_in_sql, screen, visit_rows, visitor


async def test_fever_refuses_the_visit_and_releases_its_places_at_once(
    client, services, make_venue, issue_token
):
    venue, code = await make_venue(capacity=4)
    staff = await issue_token("staff", venue.id)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=4))).json()["ticket"]
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 409
    response = await screen(client, ticket, 38.2, staff)
    assert response.status_code == 200
    assert response.json()["result"] == "refused_fever"
    assert response.json()["occupancy"]["count"] == 0
    [row] = await visit_rows(services, venue.id)
    assert (row.checkout_reason, row.temperature) == ("fever", 38.2)
    # The places are free again for the next party.
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=4))).status_code == 201
    # Screening the same ticket again is idempotent.
    again = await screen(client, ticket, 38.2, staff)
    assert again.json()["result"] == "refused_fever"
    assert await live_count(services, venue.id) == 4


async def test_threshold_is_the_venues_and_inclusive(client, services, make_venue, issue_token):
    venue, code = await make_venue(fever_threshold=37.5)
    staff = await issue_token("staff", venue.id)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]
    ok = await screen(client, ticket, 37.4, staff)
    assert ok.json()["result"] == "admitted"
    [row] = await visit_rows(services, venue.id)
    assert row.temperature == 37.4 and row.checked_out_at is None
    refused = await screen(client, ticket, 37.5, staff)
    assert refused.json()["result"] == "refused_fever"
    assert await live_count(services, venue.id) == 0


async def test_screening_needs_this_venues_staff(client, make_venue, issue_token):
    venue, code = await make_venue()
    other, _ = await make_venue()
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]
    assert (await screen(client, ticket, 36.6, {})).status_code == 401
    other_staff = await issue_token("staff", other.id)
    denied = await screen(client, ticket, 36.6, other_staff)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    # The deprecated form, with the ticket in the path, holds the same rule.
    path = f"/api/tickets/{ticket}/screening"
    denied = await client.post(path, json={"temperature": 36.6}, headers=other_staff)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"


async def test_a_ticket_of_another_venue_is_named_as_such_at_the_door(
        client, make_venue, issue_token):
    venue, code = await make_venue()
    other, _ = await make_venue()
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]
    staff_of_both = await issue_token("operator")
    for path, body in ((f"/api/venues/{other.id}/screenings", {"ticket": ticket, "temperature": 36.6}),
                       (f"/api/venues/{other.id}/door-check-outs", {"ticket": ticket})):
        refused = await client.post(path, json=body, headers=staff_of_both)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "other_venue"
    # Nothing changed: the visit is still open at its own venue, and its door checks it out.
    out = await client.post(f"/api/venues/{venue.id}/door-check-outs", json={"ticket": ticket},
                            headers=await issue_token("staff", venue.id))
    assert out.status_code == 200 and out.json()["reason"] == "staff"


async def test_screening_an_ended_visit_is_refused(client, make_venue, issue_token):
    venue, code = await make_venue()
    staff = await issue_token("staff", venue.id)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]
    await client.post(f"/api/tickets/{ticket}/check-out")
    response = await screen(client, ticket, 36.6, staff)
    assert response.status_code == 409 and response.json()["error"]["code"] == "visit_ended"


async def test_visits_past_the_maximum_stay_are_checked_out_automatically(
    client, services, make_venue
):
    venue, code = await make_venue(capacity=10, max_stay_minutes=240)
    old = (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=3))).json()
    await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
    async with services.sessionmaker() as session:
        await session.execute(update(Visit).where(Visit.id == old["visit_id"]).values(
            checked_in_at=datetime.now(UTC) - timedelta(hours=4, minutes=1)))
        await session.commit()
    assert await auto_check_out(services.visits, services.sessionmaker) == 1
    assert await auto_check_out(services.visits, services.sessionmaker) == 0
    rows = {row.id: row for row in await visit_rows(services, venue.id)}
    assert rows[old["visit_id"]].checkout_reason == "auto"
    assert await live_count(services, venue.id) == 2 == await open_people_in_sql(services, venue.id)
    # The visitor's own check-out afterwards answers with the automatic one.
    late = await client.post(f"/api/tickets/{old['ticket']}/check-out")
    assert late.status_code == 200 and late.json()["reason"] == "auto"
    assert await live_count(services, venue.id) == 2


async def test_a_check_in_right_after_redis_dropped_the_apps_connections_succeeds(
        client, services, make_venue, settings):
    venue, code = await make_venue(capacity=5)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 201
    other = Redis.from_url(settings.redis_url)
    killed = await other.execute_command("CLIENT", "KILL", "TYPE", "normal")  # all but its own
    await other.aclose()
    assert killed >= 1

    response = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))

    assert response.status_code == 201 and response.json()["occupancy"]["count"] == 3
    assert await live_count(services, venue.id) == 3 == await open_people_in_sql(services, venue.id)


async def test_a_check_out_whose_redis_reply_was_lost_is_closed_in_sql_too(
        client, services, make_venue, monkeypatch):
    venue, code = await make_venue(capacity=5)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))).json()["ticket"]
    begin = services.capacity.begin_check_out
    replies = []

    async def reply_lost_the_first_time(*args):
        replies.append(await begin(*args))  # the script runs in Redis...
        if len(replies) == 1:
            raise RedisTimeout("Timeout reading from socket")  # ...and its answer never arrives
        return replies[-1]

    monkeypatch.setattr(services.capacity, "begin_check_out", reply_lost_the_first_time)
    response = await client.post(f"/api/tickets/{ticket}/check-out")

    assert response.status_code == 200 and response.json()["occupancy"]["count"] == 0
    assert [r.status for r in replies] == ["ok", "closing"]
    assert await live_count(services, venue.id) == 0 == await open_people_in_sql(services, venue.id)


async def test_automatic_check_out_goes_page_by_page(client, services, make_venue, monkeypatch):
    """Overdue visits are read a page at a time; a page of visits at a venue with a longer stay
    (not overdue yet) does not stop the pages after it."""
    monkeypatch.setattr(expiry, "PAGE", 2)
    short, short_code = await make_venue(capacity=20, max_stay_minutes=60)
    long, long_code = await make_venue(capacity=20, max_stay_minutes=600)
    for code in (long_code, long_code, long_code, short_code, short_code, short_code):
        answer = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
        assert answer.status_code == 201
    async with services.sessionmaker() as session:
        await session.execute(update(Visit).values(checked_in_at=datetime.now(UTC) - timedelta(hours=2)))
        await session.commit()
    assert await auto_check_out(services.visits, services.sessionmaker) == 3
    assert await live_count(services, short.id) == 0 == await open_people_in_sql(services, short.id)
    assert await live_count(services, long.id) == 3 == await open_people_in_sql(services, long.id)


async def test_a_check_out_redis_left_unconfirmed_is_finished_once_redis_answers(
        client, services, make_venue, monkeypatch):
    """Both calls of the check-out script go unanswered, the first after it ran: the visitor is
    told the check-out is pending, and the process closes the visit in SQL once Redis is back."""
    venue, code = await make_venue(capacity=5)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))).json()["ticket"]
    begin = services.capacity.begin_check_out
    calls = []

    async def redis_silent_twice(*args):
        calls.append(args)
        if len(calls) == 1:
            await begin(*args)  # the script runs in Redis...
        if len(calls) <= 2:
            raise RedisTimeout("Timeout reading from socket")  # ...and no answer comes, twice
        return await begin(*args)

    monkeypatch.setattr(services.capacity, "begin_check_out", redis_silent_twice)
    monkeypatch.setattr(unconfirmed, "FIRST_DELAY", 0.05)
    response = await client.post(f"/api/tickets/{ticket}/check-out")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "check_out_pending"
    for _ in range(100):  # finished in the background
        if await open_people_in_sql(services, venue.id) == 0:
            break
        await asyncio.sleep(0.05)
    assert await live_count(services, venue.id) == 0 == await open_people_in_sql(services, venue.id)
    again = await client.post(f"/api/tickets/{ticket}/check-out")
    assert again.status_code == 200 and again.json()["occupancy"]["count"] == 0


async def test_a_check_out_redis_never_ran_is_finished_once_with_the_time_the_visitor_left(
        client, services, make_venue, monkeypatch, caplog):
    caplog.set_level("INFO")
    venue, code = await make_venue(capacity=5)
    answer = (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).json()
    begin = services.capacity.begin_check_out
    calls = []

    async def redis_away_for_four_calls(*args):
        calls.append(args)
        if len(calls) <= 4:
            raise RedisTimeout("Timeout reading from socket")  # the script never runs
        return await begin(*args)

    monkeypatch.setattr(services.capacity, "begin_check_out", redis_away_for_four_calls)
    monkeypatch.setattr(unconfirmed, "FIRST_DELAY", 0.3)
    left_at = datetime.now(UTC)
    for _ in range(2):  # the visitor tries twice while Redis is away: one task finishes it
        response = await client.post(f"/api/tickets/{answer['ticket']}/check-out")
        assert response.json()["error"]["code"] == "check_out_pending"
    assert len(services.visits.check_outs.unconfirmed.waiting) == 1
    await asyncio.sleep(0.2)
    for _ in range(100):
        if not services.visits.check_outs.unconfirmed.waiting:
            break
        await asyncio.sleep(0.05)
    (row,) = await visit_rows(services, venue.id)
    assert row.checkout_reason == "visitor"
    # Closed as of the visitor's first attempt, not when Redis came back.
    assert left_at <= row.checked_out_at < left_at + timedelta(seconds=0.2)
    assert await live_count(services, venue.id) == 0 == await open_people_in_sql(services, venue.id)
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("occupancy"))
    assert "finished a check-out at venue" in ours and answer["ticket"] not in ours


async def test_stopping_with_an_unconfirmed_check_out_says_so(client, services, make_venue,
                                                               monkeypatch, caplog):
    venue, code = await make_venue(capacity=5)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]

    async def redis_away(*args):
        raise RedisTimeout("Timeout reading from socket")

    monkeypatch.setattr(services.capacity, "begin_check_out", redis_away)
    assert (await client.post(f"/api/tickets/{ticket}/check-out")).status_code == 503
    await services.visits.close()
    assert not services.visits.check_outs.unconfirmed.waiting
    assert f"1 unconfirmed check-outs (venues [{venue.id}])" in caplog.text
