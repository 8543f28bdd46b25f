"""Officials see the history of bookings and waiting lines on the city view: per day, district
and category, with the figures made by real bookings (claimed, cancelled, one left to expire by
the service's own job) and a real line (joined, offered by the server's job, claimed). Headless
Chromium on a phone-sized viewport, in English and Indonesian."""

import asyncio
import time
from datetime import datetime, timedelta

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect
from sqlalchemy import select

from occupancy.bookings.expiry import SlotTimers
from occupancy.line.models import LineEntry
from tests.bookings.helpers import JAKARTA, booker
from tests.bookings.test_expiry import GRACE, slot_times
from tests.live.test_pages import log_in
from tests.web.test_every_page import READY, serious


async def bookings_of_today(http, make_venue, issue_token, services) -> None:
    """A park whose slot started a minute ago: one party claims its 4 places, one cancels 3,
    one (2 places) never comes and expires once its hold ran out."""
    start = datetime.now(JAKARTA).replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = start + timedelta(minutes=60)
    if end.date() != start.date():
        pytest.skip("the test's slot would cross local midnight")
    venue, signed = await make_venue(capacity=30, max_party=10, name="Taman Sempur",
                                     district="Bogor Tengah", category="park")
    plan = await http.put(f"/api/venues/{venue.id}/slots", headers=await issue_token(
        "manager", venue.id), json={"ranges": [f"{start:%H:%M}-{end:%H:%M}"], "capacity": 30,
                                    "hold_minutes": 30})
    assert plan.status_code == 200, plan.text
    slot = f"{start:%Y%m%d-%H%M}"
    codes = []
    for n, party in enumerate((4, 3, 2)):
        booked = await http.post(f"/api/venues/{signed}/bookings",
                                 json=booker(slot, n, party_size=party))
        assert booked.status_code == 201, booked.text
        codes.append(booked.json()["booking"])
    claimed = await http.post(f"/api/venues/{signed}/check-ins", json={"booking": codes[0]})
    assert claimed.status_code == 201, claimed.text
    cancelled = await http.post("/api/booking-cancellations", json={"booking": codes[1]})
    assert cancelled.status_code == 200, cancelled.text
    hold_ends = slot_times(slot)[0] + timedelta(minutes=30)
    assert (await SlotTimers(services.bookings, services.visits, GRACE).run(hold_ends))[0] == 1


async def line_of_today(http, make_venue) -> None:
    """A full station: two parties join its line; a check-out, the server's job offers the place
    to the first, who claims it."""
    venue, signed = await make_venue(capacity=1, max_party=6, name="Stasiun Bogor",
                                     district="Bogor Barat", category="station")
    inside = await http.post(f"/api/venues/{signed}/check-ins", json={
        "name": "Budi", "phone": "0812 9999 0000", "party_size": 1})
    assert inside.status_code == 201, inside.text
    joined = []
    for n in range(2):
        answer = await http.post(f"/api/venues/{signed}/line", json={
            "party_size": 1, "phone": f"0812 9999 {n + 1:04d}"})
        assert answer.status_code == 201, answer.text
        joined.append(answer.json()["line"])
    out = await http.post("/api/check-outs", json={"ticket": inside.json()["ticket"]})
    assert out.status_code == 200, out.text
    deadline = time.monotonic() + 60
    while (await http.post("/api/line-status", json={"line": joined[0]})).json()["state"] != "offered":
        assert time.monotonic() < deadline, "the server's job never made the offer"
        await asyncio.sleep(0.2)
    claim = await http.post(f"/api/venues/{signed}/check-ins", json={
        "name": "Sari", "phone": "0812 9999 0001", "party_size": 0, "line": joined[0]})
    assert claim.status_code == 201, claim.text


async def test_officials_see_the_history_of_bookings_and_lines_on_the_city_view(
    live_server, services, make_venue, issue_token, phone
):
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        await bookings_of_today(http, make_venue, issue_token, services)
        await line_of_today(http, make_venue)
    await log_in(phone.context, live_server.url, await issue_token("official"))
    await phone.goto(f"{live_server.url}/city?lang=en")
    await expect(phone.locator(READY["live"])).to_be_visible()

    # The default period is the last seven days: today's figures, per district and category.
    bookings = phone.get_by_test_id("history-bookings")
    park = bookings.locator('tr[data-district="Bogor Tengah"]')
    for column, shown in (("booked", "6"), ("claimed", "4"), ("no_shows", "2"),
                          ("cancelled", "3"), ("no_show_rate", "33 %")):
        await expect(park.locator(f'[data-column="{column}"]')).to_have_text(shown, timeout=30_000)
    await expect(bookings.locator('tr[data-category="park"] th')).to_have_text("Park")
    await expect(bookings.locator('tfoot [data-column="booked"]')).to_have_text("6")
    today = datetime.now(JAKARTA).date().isoformat()
    await expect(bookings.locator(f'tr[data-day="{today}"] [data-column="claimed"]')).to_have_text("4")

    lines = phone.get_by_test_id("history-line")
    station = lines.locator('tr[data-category="station"]')
    for column, shown in (("joined", "2"), ("offered", "1"), ("claimed", "1"), ("passed", "0"),
                          ("left", "0"), ("longest_line", "2")):
        await expect(station.locator(f'[data-column="{column}"]')).to_have_text(shown)
    # The one wait (join to offer), in tenths of a minute, as SQL has it.
    async with services.sessionmaker() as session:
        offered = (await session.execute(select(LineEntry).where(
            LineEntry.offered_at.is_not(None)))).scalar_one()
    wait = f"{round((offered.offered_at - offered.joined_at).total_seconds() / 60, 1):.1f}"
    for column in ("median_wait_minutes", "longest_wait_minutes"):
        await expect(station.locator(f'[data-column="{column}"]')).to_have_text(wait)
    await expect(lines.locator('tfoot [data-column="joined"]')).to_have_text("2")
    days = "from=" + (datetime.now(JAKARTA).date() - timedelta(days=6)).isoformat()
    assert days in await phone.locator("#history-line-csv").get_attribute("href")
    for digits in ("0812 9999", "08129999", "0812 5555", "Siti", "Budi"):
        assert digits not in await phone.content()
    problems = await serious(Axe(), phone, "city-history")
    assert not problems, problems

    # In Indonesian: the same figures under the page's own headings.
    await phone.goto(f"{live_server.url}/city?lang=id")
    await expect(phone.get_by_test_id("history-line").locator(
        'tr[data-category="station"] [data-column="joined"]')).to_have_text("2", timeout=30_000)
    heading = phone.get_by_role("heading", name="Antrean per hari, kecamatan dan kategori")
    await expect(heading).to_be_visible()
