"""What door staff can work with: the ticket's QR code, and a short code they can type."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import zxingcpp
from PIL import Image, ImageDraw
from sqlalchemy import update

from occupancy.visits import tickets
from occupancy.visits.models import Visit

from .helpers import live_count, open_people_in_sql, visit_rows, visitor

SVG = "{http://www.w3.org/2000/svg}"
SCALE = 8


def rasterize(svg: bytes) -> Image.Image:
    """Draw the QR SVG the endpoint serves (a white square and 1x1 module squares) as pixels."""
    root = ET.fromstring(svg)
    size = int(root.get("viewBox").split()[2])
    image = Image.new("L", (size * SCALE, size * SCALE), 255)
    draw = ImageDraw.Draw(image)
    path = root.find(f"{SVG}path").get("d")
    for x, y in re.findall(r"M(\d+),(\d+)H", path):
        x, y = int(x) * SCALE, int(y) * SCALE
        draw.rectangle((x, y, x + SCALE - 1, y + SCALE - 1), fill=0)
    return image


async def check_in(client, code: str, party_size: int = 2) -> dict:
    response = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=party_size))
    assert response.status_code == 201, response.text
    return response.json()


def by_code(venue_id: int, short_code: str, action: str) -> str:
    return f"/api/venues/{venue_id}/visits/by-code/{short_code}/{action}"


async def test_the_ticket_qr_code_holds_the_whole_ticket(client, make_venue):
    venue, code = await make_venue()
    ticket = (await check_in(client, code))["ticket"]
    response = await client.get(f"/api/tickets/{ticket}/qr.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "no-store"
    [found] = zxingcpp.read_barcodes(rasterize(response.content))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    assert found.text == ticket

    bad = await client.get("/api/tickets/not-a-ticket/qr.svg")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_ticket"


async def test_check_in_gives_the_short_code_of_its_ticket(client, make_venue):
    venue, code = await make_venue()
    answer = await check_in(client, code)
    prefix = tickets.digest(answer["ticket"])[:8].upper()
    assert answer["short_code"] == f"{prefix[:4]}-{prefix[4:]}"
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}", answer["short_code"])


async def test_screening_by_short_code_in_any_spelling(client, services, make_venue, issue_token):
    venue, code = await make_venue(capacity=10)
    staff = await issue_token("staff", venue.id)
    answer = await check_in(client, code, party_size=2)
    spellings = (answer["short_code"], answer["short_code"].lower().replace("-", ""))
    for spelling, temperature in zip(spellings, (36.6, 36.8), strict=True):
        response = await client.post(by_code(venue.id, spelling, "screening"),
                                      json={"temperature": temperature}, headers=staff)
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "admitted"
        assert response.json()["visit_id"] == answer["visit_id"]
        [row] = await visit_rows(services, venue.id)
        assert row.temperature == temperature and row.checked_out_at is None
    assert await live_count(services, venue.id) == 2


async def test_check_out_by_short_code_releases_once(client, services, make_venue, issue_token):
    venue, code = await make_venue(capacity=10)
    manager = await issue_token("manager", venue.id)
    leaving = await check_in(client, code, party_size=3)
    staying = await check_in(client, code, party_size=2)
    path = by_code(venue.id, leaving["short_code"], "check-out")
    first = await client.post(path, headers=manager)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["visit_id"], body["reason"], body["replayed"]) == (leaving["visit_id"], "staff", False)
    assert body["occupancy"]["count"] == 2
    # A retry (the door phone lost the answer) replays: released once.
    again = await client.post(path, headers=manager)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["visit_id"] == leaving["visit_id"]
    assert await live_count(services, venue.id) == 2 == await open_people_in_sql(services, venue.id)
    # The visitor's own ticket agrees that the visit has ended.
    mine = await client.post(f"/api/tickets/{leaving['ticket']}/check-out")
    assert mine.json()["replayed"] is True and mine.json()["reason"] == "staff"
    assert staying["visit_id"] != leaving["visit_id"]


async def test_fever_by_short_code_releases_the_places(client, services, make_venue, issue_token):
    venue, code = await make_venue(capacity=4)
    staff = await issue_token("staff", venue.id)
    answer = await check_in(client, code, party_size=4)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 409
    path = by_code(venue.id, answer["short_code"], "screening")
    refused = await client.post(path, json={"temperature": 38.3}, headers=staff)
    assert refused.status_code == 200 and refused.json()["result"] == "refused_fever"
    assert refused.json()["occupancy"]["count"] == 0
    [row] = await visit_rows(services, venue.id)
    assert (row.checkout_reason, row.temperature) == ("fever", 38.3)
    again = await client.post(path, json={"temperature": 38.3}, headers=staff)
    assert again.status_code == 200 and again.json()["result"] == "refused_fever"
    assert await live_count(services, venue.id) == 0
    # The freed places take the next party.
    await check_in(client, code, party_size=4)


async def test_only_this_venues_staff_may_use_short_codes(client, services, make_venue, issue_token):
    venue, code = await make_venue()
    other, other_code = await make_venue()
    answer = await check_in(client, code)
    path = by_code(venue.id, answer["short_code"], "check-out")
    assert (await client.post(path)).status_code == 401
    other_staff = await issue_token("staff", other.id)
    denied = await client.post(path, headers=other_staff)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    # At their own venue, the other venue's code names nothing.
    elsewhere = await client.post(by_code(other.id, answer["short_code"], "check-out"), headers=other_staff)
    assert elsewhere.status_code == 404 and elsewhere.json()["error"]["code"] == "unknown_ticket"
    assert await live_count(services, venue.id) == 2


async def test_unknown_and_malformed_codes_change_nothing(client, services, make_venue, issue_token):
    venue, code = await make_venue()
    staff = await issue_token("staff", venue.id)
    answer = await check_in(client, code)
    unknown = "0000-0000" if not answer["short_code"].startswith("0000") else "FFFF-FFFF"
    for action in ("check-out", "screening"):
        response = await client.post(by_code(venue.id, unknown, action), json={"temperature": 36.5},
                                     headers=staff)
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_ticket"
        for bad in ("3F9A-07C", "3F9A-07C2-11", "GHIJ-KLMN", "3F9A--07C2"):
            response = await client.post(by_code(venue.id, bad, action), json={"temperature": 36.5},
                                         headers=staff)
            assert response.status_code == 400, (bad, response.text)
            assert response.json()["error"]["code"] == "malformed_code"
    assert await live_count(services, venue.id) == 2 == await open_people_in_sql(services, venue.id)


async def test_a_code_finds_an_ended_visit_only_for_a_few_minutes(client, services, make_venue, issue_token):
    venue, code = await make_venue()
    staff = await issue_token("staff", venue.id)
    answer = await check_in(client, code)
    await client.post(f"/api/tickets/{answer['ticket']}/check-out")
    path = by_code(venue.id, answer["short_code"], "screening")
    ended = await client.post(path, json={"temperature": 36.6}, headers=staff)
    assert ended.status_code == 409 and ended.json()["error"]["code"] == "visit_ended"
    async with services.sessionmaker() as session:
        await session.execute(update(Visit).values(checked_out_at=datetime.now(UTC) - timedelta(hours=1)))
        await session.commit()
    gone = await client.post(path, json={"temperature": 36.6}, headers=staff)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "unknown_ticket"


async def test_two_open_visits_sharing_a_code_are_not_guessed_between(
    client, services, make_venue, issue_token
):
    venue, code = await make_venue()
    staff = await issue_token("staff", venue.id)
    first = await check_in(client, code)
    second = await check_in(client, code)
    # A collision of 32 bits is too rare to wait for: give the second visit the first one's prefix.
    prefix = tickets.digest(first["ticket"])[:8]
    async with services.sessionmaker() as session:
        await session.execute(update(Visit).where(Visit.id == second["visit_id"])
                              .values(ticket_hash=prefix + "0" * 56))
        await session.commit()
    response = await client.post(by_code(venue.id, first["short_code"], "check-out"), headers=staff)
    assert response.status_code == 409 and response.json()["error"]["code"] == "ambiguous_code"
    assert await live_count(services, venue.id) == 4
