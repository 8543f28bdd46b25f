"""Every bad input gets a 4xx with a stable code and a sentence, and changes nothing."""

import pytest

from occupancy.venues import signing

from ..conftest import SECRET
from .helpers import live_count, visit_rows, visitor

BAD_BODIES = [
    ("party of zero", visitor(party_size=0), 422, "invalid_input", "party_size"),
    ("negative party", visitor(party_size=-2), 422, "invalid_input", "party_size"),
    ("party over the maximum", visitor(party_size=11), 422, "invalid_input", "party_size"),
    ("party as text", visitor(party_size="3"), 422, "invalid_input", "party_size"),
    ("party as fraction", visitor(party_size=2.5), 422, "invalid_input", "party_size"),
    ("party as boolean", visitor(party_size=True), 422, "invalid_input", "party_size"),
    ("missing party", {"name": "Ani", "phone": "08123456789"}, 422, "invalid_input", None),
    ("missing name", {"phone": "08123456789", "party_size": 1}, 422, "invalid_input", None),
    ("empty name", visitor(name="   "), 422, "invalid_input", "name"),
    ("absurdly long name", visitor(name="A" * 500), 422, "invalid_input", "name"),
    ("name without letters", visitor(name="12345 !!"), 422, "invalid_input", "name"),
    ("name with control characters", visitor(name="Ani\x00\x07"), 422, "invalid_input", "name"),
    ("phone with letters", visitor(phone="call me maybe"), 422, "invalid_input", "phone"),
    ("phone too short", visitor(phone="12345"), 422, "invalid_input", "phone"),
    ("phone too long", visitor(phone="+62 812 3456 7890 1234 5678"), 422, "invalid_input", "phone"),
    ("malformed email", visitor(email="budi-at-example"), 422, "invalid_input", "email"),
    ("weak idempotency key", visitor(idempotency_key="1"), 422, "invalid_input", "idempotency_key"),
    ("unknown field", visitor(nik="3603123456780001"), 422, "invalid_input", None),
    ("a list instead of an object", [1, 2], 422, "invalid_input", None),
]


@pytest.mark.parametrize(("case", "body", "status", "code", "field"), BAD_BODIES,
                         ids=[case[0] for case in BAD_BODIES])
async def test_bad_check_in_bodies(client, services, make_venue, case, body, status, code, field):
    venue, signed = await make_venue(capacity=50, max_party=10)
    response = await client.post(f"/api/venues/{signed}/check-ins", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 10
    if field:
        assert error["field"] == field
    assert await live_count(services, venue.id) == 0
    assert await visit_rows(services, venue.id) == []


async def _assert_nothing_changed(services, venue_id):
    assert await live_count(services, venue_id) == 0
    assert await visit_rows(services, venue_id) == []


async def test_unknown_venue(client, services, make_venue):
    venue, _ = await make_venue()
    signed = signing.sign(SECRET, "no-such-venue")  # a genuine signature for a missing venue
    response = await client.post(f"/api/venues/{signed}/check-ins", json=visitor())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_venue"
    await _assert_nothing_changed(services, venue.id)


@pytest.mark.parametrize("code", ["{code}", "{code}.aaaaaaaaaaaaa", "{code}.{sig_of_other}", "x" * 300])
async def test_forged_or_unsigned_venue_codes_are_refused(client, services, make_venue, code):
    venue, _ = await make_venue()
    forged = code.format(code=venue.code, sig_of_other=signing.signature(SECRET, "other-venue"))
    for response in (
        await client.post(f"/api/venues/{forged}/check-ins", json=visitor()),
        await client.get(f"/api/venues/{forged}/occupancy"),
    ):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "forged_venue_code"
    await _assert_nothing_changed(services, venue.id)


async def test_wrong_content_type(client, services, make_venue):
    venue, signed = await make_venue()
    response = await client.post(
        f"/api/venues/{signed}/check-ins", content=b"name=Ani&phone=0812",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    await _assert_nothing_changed(services, venue.id)


async def test_oversized_body(client, services, make_venue):
    venue, signed = await make_venue()
    response = await client.post(
        f"/api/venues/{signed}/check-ins", json=visitor(email="a" * 6000 + "@example.id")
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    await _assert_nothing_changed(services, venue.id)


async def test_malformed_json(client, services, make_venue):
    venue, signed = await make_venue()
    response = await client.post(
        f"/api/venues/{signed}/check-ins", content=b'{"name": "Ani", ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "malformed_json"
    await _assert_nothing_changed(services, venue.id)


@pytest.mark.parametrize(("ticket", "status", "code"), [
    ("not-a-ticket", 400, "malformed_ticket"),
    ("1.short", 400, "malformed_ticket"),
    ("1." + "A" * 32, 404, "unknown_ticket"),
])
async def test_bad_tickets(client, services, make_venue, issue_token, ticket, status, code):
    venue, signed = await make_venue()
    ticket = ticket.replace("1.", f"{venue.id}.", 1) if ticket.startswith("1.") else ticket
    await client.post(f"/api/venues/{signed}/check-ins", json=visitor(party_size=1))
    staff = await issue_token("staff", venue.id)
    for response in (
        await client.post(f"/api/tickets/{ticket}/check-out"),
        await client.post(f"/api/tickets/{ticket}/screening", json={"temperature": 36.5},
                          headers=staff),
    ):
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
    assert await live_count(services, venue.id) == 1


@pytest.mark.parametrize("temperature", [29.9, 45.1, -1, 1000])
async def test_temperature_outside_30_to_45_is_refused(
    client, services, make_venue, issue_token, temperature
):
    venue, signed = await make_venue()
    ticket = (await client.post(f"/api/venues/{signed}/check-ins", json=visitor())).json()["ticket"]
    staff = await issue_token("staff", venue.id)
    response = await client.post(
        f"/api/tickets/{ticket}/screening", json={"temperature": temperature}, headers=staff
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "temperature_out_of_range"
    [row] = await visit_rows(services, venue.id)
    assert row.temperature is None and row.checked_out_at is None
    assert await live_count(services, venue.id) == 2


async def test_temperature_must_be_a_number(client, make_venue, issue_token):
    venue, signed = await make_venue()
    ticket = (await client.post(f"/api/venues/{signed}/check-ins", json=visitor())).json()["ticket"]
    staff = await issue_token("staff", venue.id)
    response = await client.post(
        f"/api/tickets/{ticket}/screening", json={"temperature": "hot"}, headers=staff
    )
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_input", "message": "temperature: Expected a number.", "field": "temperature"}


async def test_unknown_route_and_method_get_json_errors(client):
    assert (await client.get("/api/nothing-here")).json()["error"]["code"] == "not_found"
    response = await client.get("/api/tickets/1.x/check-out")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_every_bad_field_of_a_check_in_is_reported_at_once(client, services, make_venue):
    venue, signed = await make_venue(capacity=50, max_party=10)
    response = await client.post(f"/api/venues/{signed}/check-ins",
                                 json={"name": "", "phone": "12", "email": "x", "party_size": 0})
    error = response.json()["error"]
    assert response.status_code == 422 and (error["code"], error["field"]) == ("invalid_input", "name")
    assert [f["field"] for f in error["fields"]] == ["name", "phone", "email", "party_size"]
    assert all(f["message"] for f in error["fields"])
    assert await live_count(services, venue.id) == 0
