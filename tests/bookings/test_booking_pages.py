"""What the venue page needs for time slots: the booking's QR code (its code in the body) and
the days it may book, in the page's data."""

import json
import re
from pathlib import Path

from occupancy.kit.qr import svg
from occupancy.web.catalogue import booking
from tests.bookings.helpers import booker, slot_key, slotted_venue, today, tomorrow


async def test_a_booking_code_becomes_a_qr_code_and_anything_else_is_refused(
        client, make_venue, issue_token):
    venue, signed, _ = await slotted_venue(client, make_venue, issue_token, capacity=20)
    made = await client.post(f"/api/venues/{signed}/bookings", json=booker(slot_key(tomorrow(), "09:00")))
    assert made.status_code == 201, made.text
    code = made.json()["booking"]

    qr = await client.post("/api/booking-qr", json={"booking": code})
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.headers["cache-control"] == "no-store"
    # The booking's own code, drawn as the ticket's is (tests/web/test_booking_pages.py reads
    # it back from the phone's screen).
    assert qr.content == svg(code, title="Booking QR code")

    for bad in ("B1.short", code.removeprefix("B"), "x" * 60):
        refused = await client.post("/api/booking-qr", json={"booking": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "malformed_booking"
    missing = await client.post("/api/booking-qr", json={})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_input"


async def test_the_venue_page_offers_slots_only_where_the_venue_is_run_by_them(
        client, make_venue, issue_token):
    venue, signed, manager = await slotted_venue(client, make_venue, issue_token, capacity=20,
                                                 days_ahead=2, advance_percent=20)
    page = await client.get(f"/v/{signed}")
    data = json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>',
                                page.text, re.S)[1])
    assert data["booking"] == {"days": [str(today()), str(tomorrow()),
                                        str(today().fromordinal(today().toordinal() + 2))],
                               "hold_minutes": 15, "max_party": 4}  # 20% of 20 places bookable
    assert 'id="booking-form"' in page.text and "/static/booking.js" in page.text
    assert data["texts"]["booking_use"] == "Pakai pemesanan saya"
    token = (await issue_token("staff", venue.id))["Authorization"].removeprefix("Bearer ")
    staff = {"Cookie": f"occupancy_token={token}"}  # as the door phone's browser sends it
    assert 'id="claim-button"' in (await client.get(f"/door/{signed}", headers=staff)).text
    english = await client.get(f"/v/{signed}?lang=en")
    assert "Book a time slot" in english.text and '"booking_use": "Use my booking"' in english.text

    assert (await client.delete(f"/api/venues/{venue.id}/slots", headers=manager)).status_code == 204
    plain = await client.get(f"/v/{signed}")
    assert "booking-form" not in plain.text and "/static/booking.js" not in plain.text
    assert '"booking": null' in plain.text
    # The door screen offers no booking button either (a scanned code would still be claimed).
    door = await client.get(f"/door/{signed}", headers=staff)
    assert door.status_code == 200 and 'id="claim-button"' not in door.text


def test_every_booking_text_exists_in_both_languages_and_is_used():
    web = Path(__file__).resolve().parents[2] / "web"
    used = (web / "templates/visitor/booking.html").read_text() + (web / "static/booking.js").read_text()
    assert set(booking.TEXTS["id"]) == set(booking.TEXTS["en"])
    unused = [key for key in booking.TEXTS["en"]
              if not re.search(rf"\b{key}\b", used) and not key.startswith("error_")]
    assert unused == []
    # The error texts are found by the API's codes ("error_" + code), those with their sentence.
    for code in ("slot_full", "slot_closed", "booking_limit", "claim_too_early", "booking_expired",
                 "booking_cancelled", "door_code_needed"):
        assert f"error_{code}" in booking.TEXTS["id"]
