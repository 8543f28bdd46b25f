"""The waiting line on two phones, end to end: a real server (its own job makes the offers),
headless Chromium as two Pixel 7s. A full venue; both phones join the line; a check-out offers
the head its places (banner and countdown), it claims them through the check-in form; a walk-in
is refused while the other phone still waits, whose position fell to 1. A phone number already
holding a place is told so (one place in the line per phone)."""

import asyncio
import time

import httpx
from playwright.async_api import Page, expect

from tests.browser import browser_zone
from tests.web.conftest import snap
from tests.web.test_visitor_flow import VISITOR, api_check_in


async def second_phone(playwright, browser, settings) -> Page:
    context = await browser.new_context(**playwright.devices["Pixel 7"], locale="id-ID",
                                        timezone_id=browser_zone(settings.timezone))
    context.set_default_timeout(10_000)
    return await context.new_page()


async def line_state(http: httpx.AsyncClient, code: str) -> str:
    """The party's state as the server has it (its status code, while it cannot answer)."""
    answer = await http.post("/api/line-status", json={"line": code})
    return answer.json()["state"] if answer.status_code == 200 else str(answer.status_code)


async def test_two_phones_wait_in_line_the_head_is_offered_places_and_claims_them(
    live_server, make_venue, settings, phone: Page, playwright, browser
):
    venue, signed = await make_venue(capacity=2, max_party=6, name="Taman Sempur")
    inside = [await api_check_in(live_server, signed, 1) for _ in range(2)]
    other = await second_phone(playwright, browser, settings)
    try:
        for page in (phone, other):
            await page.goto(f"{live_server.url}/v/{signed}")
            await expect(page.locator("#view-full")).to_be_visible()
        await phone.fill("#line-phone", VISITOR["phone"])
        await phone.tap("#line-join")
        await expect(phone.locator("#line-position")).to_contain_text("nomor 1")
        # One place per phone: the second phone typing the first one's number is told so.
        await other.fill("#line-phone", VISITOR["phone"])
        await other.tap("#line-join")
        await expect(other.locator("#line-ended")).to_contain_text("already has a place")
        await expect(other.locator("#line-join")).to_be_visible()
        await other.fill("#line-phone", "0813 5555 0002")
        await other.tap("#line-join")
        await expect(phone.locator("#line-phone-field")).to_be_hidden()
        await expect(other.locator("#line-position")).to_contain_text("nomor 2")
        await expect(phone.locator("#line-leave")).to_be_visible()
        await snap(phone, "line-1-waiting")

        async with httpx.AsyncClient(base_url=live_server.url) as http:
            out = await http.post("/api/check-outs", json={"ticket": inside[0]["ticket"]})
            assert out.status_code == 200, out.text
            # The place freed goes to the line (the server's job offers it within a second or
            # two), never to a walk-in while anyone waits.
            walk_in = await http.post(f"/api/venues/{signed}/check-ins", json={
                "name": "Budi", "phone": "081299997777", "party_size": 1})
            assert walk_in.status_code == 409
            assert walk_in.json()["error"]["code"] == "line_waiting"

        # The server's own job makes the offer (every second, in one worker at a time under a
        # lock): on a busy machine that may take a while, so it is waited for through the API
        # first (bounded, with the server's log on failure); then the page must show it on its
        # own (its socket says the line moved; it also asks every 3 s).
        code = await phone.evaluate(
            f"JSON.parse(localStorage.getItem('occupancy.line.{venue.code}')).line")
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            deadline = time.monotonic() + 120
            while (state := await line_state(http, code)) != "offered":
                assert time.monotonic() < deadline, (
                    f"the server's job made no offer in 120 s (state {state})\n"
                    + live_server.errors())
                await asyncio.sleep(0.5)
        offer = phone.locator("#line-offer")
        await expect(offer).to_be_visible(timeout=30_000)
        await expect(phone.locator("#line-offer-body")).to_contain_text(":")
        await expect(other.locator("#line-position")).to_contain_text("nomor 1", timeout=15_000)
        await snap(phone, "line-2-offer")

        await phone.tap("#line-claim")
        await expect(phone.locator("#view-form")).to_be_visible()
        # The phone given for the line is the form's already.
        await expect(phone.locator("#phone")).to_have_value(VISITOR["phone"])
        await phone.fill("#name", VISITOR["name"])
        await phone.tap("#submit")
        await expect(phone.locator("#view-ticket")).to_be_visible()
        await expect(phone.locator("#ticket-party")).to_contain_text("1")
        await snap(phone, "line-3-claimed")

        async with httpx.AsyncClient(base_url=live_server.url) as http:
            count = (await http.get(f"/api/venues/{signed}/occupancy")).json()["count"]
            assert count == 2
            again = await http.post(f"/api/venues/{signed}/check-ins", json={
                "name": "Budi", "phone": "081299997777", "party_size": 1})
            assert again.json()["error"]["code"] == "line_waiting"

        # The second phone leaves in one tap.
        await other.tap("#line-leave")
        await expect(other.locator("#line-ended")).to_be_visible()
        await expect(other.locator("#line-join")).to_be_visible()
    finally:
        await other.context.close()
