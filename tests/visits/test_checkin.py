"""Check-in, check-out and idempotency through the HTTP API, against real Redis and SQL."""

import time

from sqlalchemy import select

from occupancy import redis_keys as keys
from occupancy.privacy.blind_index import index_key, phone_index
from occupancy.privacy.models import DataKey
from occupancy.privacy.sealing import Opener, Personal, Sealed, private_key_from
from occupancy.visits import tickets
from occupancy.visits.models import Visit
from tests.conftest import OFFICE_PRIVATE_KEY
from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)

from .helpers import live_count, open_people_in_sql, visit_rows, visitor


async def test_check_in_admits_the_party_and_records_the_visit(client, services, make_venue):
    venue, code = await make_venue(capacity=10)
    response = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=3))
    assert response.status_code == 201
    body = response.json()
    assert body["party_size"] == 3
    assert body["occupancy"] == {"count": 3, "capacity": 10}
    assert body["venue"]["name"] == venue.name
    assert tickets.venue_of(body["ticket"]) == venue.id
    [row] = await visit_rows(services, venue.id)
    assert row.id == body["visit_id"]
    assert row.ticket_hash == tickets.digest(body["ticket"])  # only the hash is stored
    async with services.sessionmaker() as session:
        personal = (await session.execute(
            select(Visit.personal, Visit.personal_key_id, Visit.phone_index)
            .where(Visit.id == row.id))).one()
        data_key = await session.get(DataKey, personal.personal_key_id)
    # Sealed: only the health office's private key opens it; the phone is found by its index.
    opener = Opener(private_key_from(OFFICE_PRIVATE_KEY))
    opener.add_key(data_key)
    assert opener.open(row.id, Sealed(personal.personal_key_id, personal.personal)) == Personal(
        "Budi Santoso", "081234567890", "budi@example.id")
    assert personal.phone_index == phone_index(index_key(services.settings.secret_key),
                                               "+62 812-3456-7890")
    assert row.checked_out_at is None
    assert await live_count(services, venue.id) == 3 == await open_people_in_sql(services, venue.id)


async def test_visit_ids_grow_with_time_and_never_repeat(client, make_venue):
    """Time-ordered ids go in at the end of the primary-key index (docs/benchmarks.md)."""
    _, code = await make_venue(capacity=50)
    ids = []
    for _ in range(20):
        response = await client.post(f"/api/venues/{code}/check-ins", json=visitor())
        ids.append(response.json()["visit_id"])
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == 20
    # The leading 12 digits are milliseconds: never decreasing from one check-in to the next.
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
    first_ms, last_ms = int(ids[0][:12], 16), int(ids[-1][:12], 16)
    assert 0 <= last_ms - first_ms < 60_000
    assert abs(first_ms / 1000 - time.time()) < 60


async def test_a_retried_check_in_returns_the_same_ticket_and_counts_once(
    client, services, make_venue
):
    venue, code = await make_venue(capacity=10)
    body = visitor(idempotency_key="retry-key-0123456789")
    first = await client.post(f"/api/venues/{code}/check-ins", json=body)
    again = await client.post(f"/api/venues/{code}/check-ins", json=body)
    by_header = await client.post(
        f"/api/venues/{code}/check-ins",
        json=visitor(), headers={"Idempotency-Key": "retry-key-0123456789"},
    )
    assert first.status_code == 201
    assert again.status_code == by_header.status_code == 200
    assert again.json()["ticket"] == by_header.json()["ticket"] == first.json()["ticket"]
    assert again.json()["replayed"] is True
    assert await live_count(services, venue.id) == 2
    assert len(await visit_rows(services, venue.id)) == 1


async def test_check_out_releases_once_however_often_it_is_retried(client, services, make_venue):
    venue, code = await make_venue(capacity=10)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]
    first = await client.post(f"/api/tickets/{ticket}/check-out")
    second = await client.post(f"/api/tickets/{ticket}/check-out")
    assert first.status_code == second.status_code == 200
    assert first.json()["replayed"] is False and second.json()["replayed"] is True
    assert first.json()["reason"] == second.json()["reason"] == "visitor"
    assert second.json()["occupancy"]["count"] == 0
    assert await live_count(services, venue.id) == 0
    [row] = await visit_rows(services, venue.id)
    assert row.checked_out_at is not None and row.checkout_reason == "visitor"


async def test_staff_check_out_is_recorded_as_staff(client, services, make_venue, issue_token):
    venue, code = await make_venue()
    staff = await issue_token("staff", venue.id)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]
    response = await client.post(f"/api/tickets/{ticket}/check-out", headers=staff)
    assert response.json()["reason"] == "staff"


async def test_a_full_venue_refuses_with_the_count_and_records_nothing(
    client, services, make_venue
):
    venue, code = await make_venue(capacity=4)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=3))).status_code == 201
    response = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "venue_full"
    assert (error["count"], error["capacity"]) == (3, 4)
    assert response.headers["retry-after"] == "60"
    assert "full" in error["message"]
    # A party that fits is still admitted.
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 201
    assert await live_count(services, venue.id) == 4 == await open_people_in_sql(services, venue.id)


async def test_a_paused_venue_refuses_check_ins(client, services, make_venue, issue_token):
    venue, code = await make_venue(capacity=10)
    manager = await issue_token("manager", venue.id)
    paused = await client.patch(f"/api/venues/{venue.id}", json={"paused": True}, headers=manager)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    response = await client.post(f"/api/venues/{code}/check-ins", json=visitor())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "venue_paused"
    assert await visit_rows(services, venue.id) == []
    await client.patch(f"/api/venues/{venue.id}", json={"paused": False}, headers=manager)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor())).status_code == 201


async def test_raising_capacity_admits_more_at_once(client, services, make_venue, issue_token):
    venue, code = await make_venue(capacity=2)
    manager = await issue_token("manager", venue.id)
    await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 409
    await client.patch(f"/api/venues/{venue.id}", json={"capacity": 3}, headers=manager)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 201


async def test_managing_a_venue_needs_its_managers_token(client, make_venue, issue_token):
    venue, _ = await make_venue()
    other, _ = await make_venue()
    assert (await client.patch(f"/api/venues/{venue.id}", json={"capacity": 5})).status_code == 401
    staff = await issue_token("staff", venue.id)
    other_manager = await issue_token("manager", other.id)
    for headers in (staff, other_manager, {"Authorization": "Bearer occ_not-a-real-token"}):
        response = await client.patch(f"/api/venues/{venue.id}", json={"capacity": 5}, headers=headers)
        assert response.status_code in (401, 403)
        assert response.json()["error"]["code"] in ("unauthorized", "forbidden")


async def test_occupancy_is_public_and_shows_the_level(client, make_venue):
    venue, code = await make_venue(capacity=5)
    await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=4))
    body = (await client.get(f"/api/venues/{code}/occupancy")).json()
    assert (body["count"], body["capacity"], body["level"], body["paused"]) == (4, 5, "busy", False)
    await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
    assert (await client.get(f"/api/venues/{code}/occupancy")).json()["level"] == "full"


async def test_reusing_an_idempotency_key_for_a_new_visit_is_refused(client, services, make_venue):
    venue, code = await make_venue(capacity=10)
    body = visitor(idempotency_key="reused-key-0123456789")
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=body)).json()["ticket"]
    await client.post(f"/api/tickets/{ticket}/check-out")
    # Days later Redis has forgotten the closed ticket; the same key must not make a second visit.
    await services.redis.delete(keys.ticket(venue.id, tickets.digest(ticket)))
    response = await client.post(f"/api/venues/{code}/check-ins", json=body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert await live_count(services, venue.id) == 0
    assert len(await visit_rows(services, venue.id)) == 1


async def test_a_ticket_in_the_body_checks_out_and_draws_its_qr(client, services, make_venue):
    venue, code = await make_venue(capacity=10)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
              ).json()["ticket"]

    qr = await client.post("/api/ticket-qr", json={"ticket": ticket})
    out = await client.post("/api/check-outs", json={"ticket": ticket})
    again = await client.post("/api/check-outs", json={"ticket": ticket})
    bad = await client.post("/api/check-outs", json={"ticket": "not-a-ticket"})

    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert out.status_code == 200 and out.json()["occupancy"]["count"] == 0
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_ticket"
    assert await live_count(services, venue.id) == 0
