"""Officials see the waiting lines on the city view, per district and category, following the
line as it moves (read again every 10 s): headless Chromium on a phone-sized viewport."""

import httpx
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.live.test_pages import log_in
from tests.web.test_every_page import READY, serious


async def test_officials_see_the_waiting_lines_on_the_city_view(
    live_server, make_venue, issue_token, phone
):
    venue, signed = await make_venue(capacity=1, max_party=6, name="Stasiun Bogor",
                                     district="Bogor Tengah", category="station")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        inside = await http.post(f"/api/venues/{signed}/check-ins", json={
            "name": "Budi", "phone": "0812 9999 0000", "party_size": 1})
        assert inside.status_code == 201, inside.text
        for n in range(3):
            joined = await http.post(f"/api/venues/{signed}/line", json={
                "party_size": 1, "phone": f"0812 9999 {n + 1:04d}"})
            assert joined.status_code == 201, joined.text
    official = await issue_token("official")
    await log_in(phone.context, live_server.url, official)
    await phone.goto(f"{live_server.url}/city")
    await expect(phone.locator(READY["live"])).to_be_visible()
    table = phone.get_by_test_id("city-line")
    district = table.locator('tr[data-district="Bogor Tengah"]')
    await expect(district.locator('[data-column="waiting"]')).to_have_text("3")
    await expect(district.locator('[data-column="places_offered"]')).to_have_text("0")

    # A check-out: the server's own job offers the place to the head of the line.
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        out = await http.post("/api/check-outs", json={"ticket": inside.json()["ticket"]})
        assert out.status_code == 200, out.text
    await expect(district.locator('[data-column="waiting"]')).to_have_text("2", timeout=60_000)
    await expect(district.locator('[data-column="places_offered"]')).to_have_text("1")
    await expect(table.locator('tfoot [data-column="waiting"]')).to_have_text("2")
    for digits in ("0812 9999", "08129999"):
        assert digits not in await phone.content()
    problems = await serious(Axe(), phone, "city-line")
    assert not problems, problems
