"""Time slots on the visitor's phone and at the door, end to end: a real server, headless
Chromium as a Pixel 7, a venue whose slot is under way now."""

import json
import re

import httpx
from playwright.async_api import Page, expect

from occupancy.bookings import codes
from occupancy.venues import door
from tests.bookings.helpers import booker, free_places, slot_key, slot_under_way, today, tomorrow
from tests.browser import artifact, city_clock
from tests.web.conftest import snap
from tests.web.test_every_page import open_as
from tests.web.test_ticket_qr import qr_on_screen
from tests.web.test_visitor_flow import count, stored_ticket

VISITOR = {"name": "Siti Rahayu", "phone": "0812 3456 7890", "email": "siti@example.id"}


async def venue_by_slots(live_server, make_venue, issue_token, capacity: int = 10):
    """A venue run by one slot a day, under way now today; (venue, signed code, start)."""
    venue, signed = await make_venue(capacity=capacity, max_party=6, name="Taman Sempur",
                                     category="park")
    start, end, hold = slot_under_way()
    manager = await issue_token("manager", venue.id)
    async with httpx.AsyncClient(base_url=live_server.url, headers=manager) as http:
        answer = await http.put(f"/api/venues/{venue.id}/slots", json={
            "ranges": [f"{start}-{end}"], "capacity": capacity, "hold_minutes": hold,
            "days_ahead": 3})
    assert answer.status_code == 200, answer.text
    return venue, signed, start


async def stored_booking(page: Page, venue_code: str) -> dict | None:
    raw = await page.evaluate("code => localStorage.getItem('occupancy.booking.' + code)", venue_code)
    return json.loads(raw) if raw else None


async def book_on_phone(phone: Page, day_index: int, party_size: int) -> None:
    await phone.tap("#book-open")
    [day] = await phone.select_option("#b-day", index=day_index)
    # The chosen day's slots, not the ones listed before.
    await phone.locator(f'#b-slots[data-day="{day}"] input').first.check()
    await phone.fill("#b-name", VISITOR["name"])
    await phone.fill("#b-phone", VISITOR["phone"])
    await phone.fill("#b-email", VISITOR["email"])
    for _ in range(party_size - 1):
        await phone.tap("#b-party-plus")
    await phone.tap("#b-submit")
    await expect(phone.locator("#booking-held")).to_be_visible()


async def test_book_reload_cancel_book_again_and_enter_by_the_poster(
        live_server, make_venue, issue_token, settings, phone: Page):
    venue, signed, start = await venue_by_slots(live_server, make_venue, issue_token)
    requested: list[str] = []
    phone.on("request", lambda request: requested.append(request.url))
    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator(".booking-intro")).to_contain_text("slot waktu")
    await snap(phone, "booking-1-venue-page")

    # The day list runs from today to days_ahead, named on the city's calendar.
    await phone.tap("#book-open")
    await expect(phone.locator("#b-day option")).to_have_count(4)
    await expect(phone.locator("#b-slots label")).to_have_count(1)
    await expect(phone.locator("#b-slots label")).to_contain_text("sisa 10 tempat")
    # No slot picked: said as a sentence, nothing booked.
    await phone.tap("#b-submit")
    await expect(phone.locator("#b-slot-error")).to_have_text("Pilih salah satu slot waktu.")
    # A bad phone number: the check-in form's sentence, beside the field.
    await phone.locator("#b-slots input").first.check()
    await phone.fill("#b-name", VISITOR["name"])
    await phone.fill("#b-phone", "12")
    await phone.tap("#b-submit")
    await expect(phone.locator("#b-phone-error")).to_contain_text("Masukkan nomor HP")
    await phone.tap("#b-close")

    # Tomorrow's slot, for a party of 3.
    await book_on_phone(phone, day_index=1, party_size=3)
    kept = await stored_booking(phone, venue.code)
    assert kept["slot"] == slot_key(tomorrow(), start) and kept["party_size"] == 3
    await expect(phone.locator("#booking-party")).to_have_text("3 orang")
    await expect(phone.locator("#booking-time")).to_contain_text(
        city_clock(kept["starts_at"], settings.timezone))
    assert await qr_on_screen(phone, "#booking-qr") == kept["booking"]
    await snap(phone, "booking-2-booked")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        assert (await free_places(http, signed, tomorrow()))[start] == 7

    # Kept on the phone: a reload shows it again, QR code included.
    await phone.reload()
    await expect(phone.locator("#booking-held")).to_be_visible()
    assert await qr_on_screen(phone, "#booking-qr") == kept["booking"]
    # Its slot is tomorrow: using it now says when to come back.
    await phone.tap("#booking-use")
    await expect(phone.locator("#booking-error")).to_have_text(
        re.compile(r"^Slot Anda mulai \w+, \d+ \w+ pukul \d\d\.\d\d\. Kembalilah saat itu\.$"))
    await expect(phone.locator("#booking-error")).to_contain_text(
        city_clock(kept["starts_at"], settings.timezone))

    # Cancelling asks once more; "no" keeps it, "yes" gives the places back.
    await phone.tap("#booking-cancel")
    await expect(phone.locator("#booking-cancel-question")).to_contain_text("Batalkan pemesanan")
    await phone.tap("#booking-cancel-no")
    await expect(phone.locator("#booking-held")).to_be_visible()
    await phone.tap("#booking-cancel")
    await phone.tap("#booking-cancel-yes")
    await expect(phone.locator("#booking-note")).to_have_text(
        "Pemesanan dibatalkan; tempatnya sudah dikembalikan.")
    assert await stored_booking(phone, venue.code) is None
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        assert (await free_places(http, signed, tomorrow()))[start] == 10

    # Booked again, today's slot under way: at the poster, "use my booking" lets the party in.
    await book_on_phone(phone, day_index=0, party_size=2)
    kept = await stored_booking(phone, venue.code)
    assert kept["slot"] == slot_key(today(), start)
    await expect(phone.locator("#booking-use")).to_have_text("Pakai pemesanan saya")
    await snap(phone, "booking-3-under-way")
    await phone.tap("#booking-use")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    await expect(phone.locator("#booking")).to_be_hidden()
    await expect(phone.locator("#ticket-party")).to_have_text("2 orang")
    assert (await stored_ticket(phone, venue.code))["party_size"] == 2
    assert await stored_booking(phone, venue.code) is None
    assert await count(live_server, signed) == 2
    await snap(phone, "booking-4-claimed")

    # Personal data stays out of the phone's storage; codes stay out of every URL.
    storage = await phone.evaluate("JSON.stringify(localStorage)")
    for value in ("Siti", "3456", "siti@example"):
        assert value not in storage
    assert not [url for url in requested if kept["booking"] in url or "Siti" in url], requested


async def test_a_full_slot_names_the_next_free_ones(live_server, make_venue, issue_token,
                                                    phone: Page):
    venue, signed = await make_venue(capacity=4, max_party=4, name="Stasiun Bogor",
                                     category="station")
    manager = await issue_token("manager", venue.id)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        answer = await http.put(f"/api/venues/{venue.id}/slots", headers=manager, json={
            "starts": ["07:00", "09:00", "11:00"], "slot_minutes": 120, "capacity": 4,
            "days_ahead": 2})
        assert answer.status_code == 200, answer.text
        await phone.goto(f"{live_server.url}/v/{signed}")
        await phone.tap("#book-open")
        [day] = await phone.select_option("#b-day", index=1)
        await expect(phone.locator(f'#b-slots[data-day="{day}"] label')).to_have_count(3)
        await phone.locator("#b-slots input").first.check()
        # Meanwhile someone else takes the first slot's every place.
        taken = await http.post(f"/api/venues/{signed}/bookings",
                                json=booker(slot_key(tomorrow(), "07:00"), 9, party_size=4))
        assert taken.status_code == 201, taken.text
    await phone.fill("#b-name", VISITOR["name"])
    await phone.fill("#b-phone", VISITOR["phone"])
    await phone.tap("#b-submit")
    await expect(phone.locator("#b-slot-error")).to_have_text(
        re.compile(r"sudah penuh dipesan\. Masih ada tempat pukul 09\.00, 11\.00\.$"))
    # The list is read again: the full slot cannot be picked.
    await expect(phone.locator("#b-slots input").first).to_be_disabled()
    await snap(phone, "booking-slot-full")


async def test_door_staff_let_a_booked_party_in_by_its_code(
        live_server, make_venue, issue_token, browser, settings):
    venue, signed, start = await venue_by_slots(live_server, make_venue, issue_token)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        made = await http.post(f"/api/venues/{signed}/bookings",
                               json=booker(slot_key(today(), start), 1, party_size=3))
        assert made.status_code == 201, made.text
        later = await http.post(f"/api/venues/{signed}/bookings",
                                json=booker(slot_key(tomorrow(), start), 2, party_size=2))
        assert later.status_code == 201, later.text
    code, too_early = made.json()["booking"], later.json()["booking"]
    assert codes.venue_of(code) == venue.id
    staff = await issue_token("staff", venue.id)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="id-ID")
    try:
        door = await open_as(context, live_server.url, staff, f"/door/{signed}")
        await expect(door.get_by_test_id("count")).to_have_text("0")

        # Tomorrow's booking is refused, saying when its slot starts.
        await door.fill("#ticket", too_early)
        await door.click("#claim-button")
        result = door.get_by_test_id("result")
        await expect(result).to_contain_text("Terlalu awal: slotnya mulai pukul")
        await expect(result).to_contain_text(
            city_clock(later.json()["starts_at"], settings.timezone))

        # The code as its QR code holds it (or typed): the party is in, its size shown.
        await door.fill("#ticket", code)
        await door.click("#claim-button")
        await expect(result).to_contain_text("Pemesanan diterima")
        await expect(result).to_contain_text("3 orang")
        await expect(door.get_by_test_id("count")).to_have_text("3")
        # Its visit's ticket is ready for the temperature.
        assert re.fullmatch(rf"{venue.id}\.[A-Za-z0-9_-]{{32}}", await door.input_value("#ticket"))
        await door.screenshot(path=artifact("door-booking-claimed"), full_page=True)

        # Scanned twice: the same visit, counted once.
        await door.fill("#ticket", code)
        await door.press("#ticket", "Enter")
        await expect(result).to_contain_text("sudah diterima tadi")
        assert await count(live_server, signed) == 3
    finally:
        await context.close()


async def test_where_the_door_screens_code_is_required_the_booking_is_used_from_it(
        live_server, make_venue, issue_token, settings, phone: Page):
    venue, signed, start = await venue_by_slots(live_server, make_venue, issue_token)
    manager = await issue_token("manager", venue.id)
    async with httpx.AsyncClient(base_url=live_server.url, headers=manager) as http:
        changed = await http.patch(f"/api/venues/{venue.id}", json={"door_code_required": True})
        assert changed.status_code == 200, changed.text
    await phone.goto(f"{live_server.url}/v/{signed}")
    await book_on_phone(phone, day_index=0, party_size=2)

    # From the poster: refused with a sentence, the booking kept.
    await phone.tap("#booking-use")
    await expect(phone.locator("#booking-error")).to_contain_text("pindai kode QR yang tampil")
    assert await stored_booking(phone, venue.code) is not None
    assert await count(live_server, signed) == 0

    # From the door screen's QR code (its URL carries the current code): the party is in.
    await phone.goto(door.door_url(f"{live_server.url}/v/{signed}", settings.secret_key, venue.id))
    await phone.tap("#booking-use")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    assert await count(live_server, signed) == 2
