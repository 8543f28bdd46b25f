"""The manager dashboard's time slots on a phone: the slot plan edited in a form (the server's
errors shown under the field at fault), today's bookings per slot changing live as visitors book
and claim, the plan removed; no serious accessibility issue in those states."""

from datetime import datetime, timedelta

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.bookings.helpers import JAKARTA, booker
from tests.live.test_pages import log_in
from tests.web.test_every_page import READY, serious


async def test_a_manager_edits_the_slot_plan_and_watches_bookings_per_slot_live(
    live_server, make_venue, issue_token, phone
):
    start = datetime.now(JAKARTA).replace(second=0, microsecond=0) - timedelta(minutes=1)
    middle, end = start + timedelta(minutes=60), start + timedelta(minutes=120)
    if end.date() != start.date():
        pytest.skip("the test's slots would cross local midnight")
    venue, signed = await make_venue(capacity=20, max_party=10, name="Taman Sempur")
    manager = await issue_token("manager", venue.id)
    await log_in(phone.context, live_server.url, manager)
    await phone.goto(f"{live_server.url}/manage/venues/{venue.id}")
    await expect(phone.locator(READY["live"])).to_be_visible()
    await expect(phone.get_by_test_id("slot-plan-state")).to_contain_text("belum memakai slot")
    await expect(phone.locator("#bookings")).to_be_hidden()
    await expect(phone.locator("#plan-remove")).to_be_hidden()

    # Overlapping slots: the message is under the slots' field, which is marked invalid.
    ranges = phone.locator("#plan-ranges")
    await ranges.fill("07:00-09:00, 08:00-10:00")
    await phone.locator("#plan-capacity").fill("10")
    await phone.locator("#plan-hold_minutes").fill("30")
    await phone.locator("#plan-save").click()
    await expect(phone.locator("#plan-ranges-error")).to_contain_text("overlap")
    await expect(ranges).to_have_attribute("aria-invalid", "true")
    axe, problems = Axe(), []
    problems += await serious(axe, phone, "manager-slot-plan-error")

    # Fixed slots, too many places: now the capacity's field says so, the slots' is cleared.
    await ranges.fill(f"{start:%H:%M}-{middle:%H:%M}, {middle:%H:%M}-{end:%H:%M}")
    await phone.locator("#plan-capacity").fill("500")
    await phone.locator("#plan-save").click()
    await expect(phone.locator("#plan-capacity-error")).to_contain_text("capacity (20)")
    await expect(phone.locator("#plan-ranges-error")).to_have_text("")
    await expect(ranges).not_to_have_attribute("aria-invalid", "true")

    await phone.locator("#plan-capacity").fill("10")
    await phone.locator("#plan-save").click()
    await expect(phone.get_by_test_id("slot-plan-state")).to_contain_text("memakai slot waktu;")
    await expect(phone.locator("#plan-remove")).to_be_visible()
    table = phone.get_by_test_id("slot-bookings")
    first = table.locator(f'tr[data-slot="{start:%Y%m%d-%H%M}"]')
    await expect(first.locator('[data-column="free"]')).to_have_text("10")
    await expect(table.locator("tbody tr")).to_have_count(2)

    # A visitor books and claims: the row changes without a reload (the live socket's notice).
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        booked = await http.post(f"/api/venues/{signed}/bookings",
                                 json=booker(f"{start:%Y%m%d-%H%M}", 1, party_size=3))
        assert booked.status_code == 201, booked.text
        await expect(first.locator('[data-column="waiting"]')).to_have_text("3")
        await expect(first.locator('[data-column="free"]')).to_have_text("7")
        claim = await http.post(f"/api/venues/{signed}/check-ins",
                                json={"booking": booked.json()["booking"]})
        assert claim.status_code == 201, claim.text
    await expect(first.locator('[data-column="claimed"]')).to_have_text("3")
    await expect(first.locator('[data-column="waiting"]')).to_have_text("0")
    await expect(table.locator('tfoot [data-column="booked"]')).to_have_text("3")
    problems += await serious(axe, phone, "manager-slot-bookings")

    phone.once("dialog", lambda dialog: dialog.accept())
    await phone.locator("#plan-remove").click()
    await expect(phone.get_by_test_id("slot-plan-state")).to_contain_text("belum memakai slot")
    await expect(phone.locator("#bookings")).to_be_hidden()
    async with httpx.AsyncClient(base_url=live_server.url, headers=manager) as http:
        assert (await http.get(f"/api/venues/{venue.id}/slots")).status_code == 404
    assert not problems, problems


async def test_officials_see_todays_bookings_on_the_city_view(
    live_server, make_venue, issue_token, phone
):
    start = datetime.now(JAKARTA).replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = start + timedelta(minutes=60)
    if end.date() != start.date():
        pytest.skip("the test's slot would cross local midnight")
    venue, signed = await make_venue(capacity=20, max_party=10, name="Taman Sempur",
                                     district="Bogor Tengah", category="park")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        answer = await http.put(f"/api/venues/{venue.id}/slots", headers=await issue_token(
            "manager", venue.id), json={"ranges": [f"{start:%H:%M}-{end:%H:%M}"], "capacity": 20})
        assert answer.status_code == 200, answer.text
        for n, party in ((1, 4), (2, 2)):
            booked = await http.post(f"/api/venues/{signed}/bookings",
                                     json=booker(f"{start:%Y%m%d-%H%M}", n, party_size=party))
            assert booked.status_code == 201, booked.text
        claim = await http.post(f"/api/venues/{signed}/check-ins",
                                json={"booking": booked.json()["booking"]})
        assert claim.status_code == 201, claim.text
    official = await issue_token("official")
    await log_in(phone.context, live_server.url, official)
    await phone.goto(f"{live_server.url}/city")
    await expect(phone.locator(READY["live"])).to_be_visible()
    table = phone.get_by_test_id("city-bookings")
    district = table.locator('tr[data-district="Bogor Tengah"]')
    await expect(district.locator('[data-column="booked"]')).to_have_text("6")
    await expect(district.locator('[data-column="claimed"]')).to_have_text("2")
    await expect(district.locator('[data-column="waiting"]')).to_have_text("4")
    await expect(district.locator('[data-column="no_show_rate"]')).to_have_text("0 %")
    await expect(table.locator('tfoot [data-column="booked"]')).to_have_text("6")
    problems = await serious(Axe(), phone, "city-bookings")
    assert not problems, problems
