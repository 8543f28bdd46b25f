"""Proof of presence: a venue that requires the door code admits only check-ins carrying the
current code of its door screen; stale, forged, another venue's or missing codes are refused and
change nothing; other venues keep the static poster."""

import time
from urllib.parse import parse_qs, urlsplit

import zxingcpp

from occupancy.venues import door
from tests.conftest import SECRET
from tests.visits.helpers import live_count, visitor
from tests.visits.test_short_codes import rasterize


async def require_door_code(client, venue_id, manager) -> None:
    answer = await client.patch(f"/api/venues/{venue_id}", json={"door_code_required": True},
                                headers=manager)
    assert answer.status_code == 200 and answer.json()["door_code_required"] is True


async def test_only_a_fresh_door_code_of_this_venue_admits(client, services, make_venue,
                                                           issue_token):
    venue, code = await make_venue(capacity=10)
    other, _ = await make_venue(capacity=10)
    await require_door_code(client, venue.id, await issue_token("manager", venue.id))
    now = time.time()

    def attempt(door_code):
        body = visitor(party_size=1) | ({"door_code": door_code} if door_code is not None else {})
        return client.post(f"/api/venues/{code}/check-ins", json=body)

    missing, forged = await attempt(None), await attempt("aaaaaaaaaaaaaaaa")
    stale = await attempt(door._code(SECRET, venue.id, int(now // door.STEP) - 2))
    elsewhere = await attempt(door.current(SECRET, other.id, now))
    fresh = await attempt(door.current(SECRET, venue.id, now))
    just_changed = await attempt(door._code(SECRET, venue.id, int(now // door.STEP) - 1))

    assert missing.status_code == 403 and missing.json()["error"]["code"] == "door_code_needed"
    assert "screen at its door" in missing.json()["error"]["message"]
    for refused in (forged, stale, elsewhere):
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "door_code_stale"
    assert fresh.status_code == 201 and just_changed.status_code == 201
    assert await live_count(services, venue.id) == 2


async def test_venues_without_it_keep_the_static_poster(client, make_venue):
    _, code = await make_venue(capacity=10)
    answer = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
    assert answer.status_code == 201


async def test_the_door_screen_qr_opens_the_visitor_page_with_a_code_that_admits(
        client, services, make_venue, issue_token):
    venue, code = await make_venue(capacity=10)
    await require_door_code(client, venue.id, await issue_token("manager", venue.id))
    staff = await issue_token("staff", venue.id)

    qr = await client.get(f"/api/venues/{venue.id}/door-qr.svg", headers=staff)
    anonymous = await client.get(f"/api/venues/{venue.id}/door-qr.svg")

    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.headers["cache-control"] == "no-store"
    assert 0 < int(qr.headers["x-door-code-seconds-left"]) <= door.STEP
    assert anonymous.status_code == 401  # fetched from afar, it would let anyone in from afar
    # Read as a visitor's phone would, then check in with what it holds.
    [found] = zxingcpp.read_barcodes(rasterize(qr.content))
    url = urlsplit(found.text)
    assert url.path == f"/v/{code}"
    door_code = parse_qs(url.query)["door"][0]
    answer = await client.post(f"/api/venues/{code}/check-ins",
                               json=visitor(party_size=1) | {"door_code": door_code})
    assert answer.status_code == 201 and await live_count(services, venue.id) == 1


async def test_the_poster_and_the_page_send_visitors_of_such_a_venue_to_the_door_screen(
        client, services, make_venue, issue_token):
    import xml.etree.ElementTree as ET

    from occupancy.venues.poster import render_poster

    venue, code = await make_venue(capacity=10)
    manager = await issue_token("manager", venue.id)
    before = await client.get(f"/api/venues/{venue.id}/poster.svg", headers=manager)
    await require_door_code(client, venue.id, manager)
    after = await client.get(f"/api/venues/{venue.id}/poster.svg", headers=manager)

    def texts(svg: bytes) -> list[str]:
        return [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]

    assert "Scan to check in" in texts(before.content)
    assert "Scan the QR code on the door screen" in texts(after.content)
    assert "Scan to check in" not in texts(after.content)
    assert render_poster(venue, "http://testserver/v/x", "png")  # every format draws both
    # The page opened from the poster says where the check-in happens; opened from the screen
    # (its QR carries the door code), it does not.
    from_poster = await client.get(f"/v/{code}?lang=en")
    from_screen = await client.get(
        f"/v/{code}?lang=en&door={door.current(SECRET, venue.id, time.time())}")
    assert "scan the QR code shown on it" in from_poster.text
    assert "door-screen-needed" not in from_screen.text
