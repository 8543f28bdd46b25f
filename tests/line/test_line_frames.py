"""The line on the live frames: the door display (and the visitor page on its socket) and the
manager's dashboard show the parties waiting, the places offered and the longest wait, sent
again when the line changes; while parties wait the light is full, even with places free."""

import asyncio
import time

import httpx
from playwright.async_api import expect
from websockets.asyncio.client import connect

from occupancy.live import frames
from tests.line.test_line import check_out, full_venue, join
from tests.live.test_pages import check_in, context, log_in, open_live  # noqa: F401
from tests.live.test_sockets import frame_where, next_frame, ws_url


async def test_the_readers_and_frames_count_the_line(client, services, make_venue):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=2)
    await join(client, signed, 2)
    await join(client, signed, 1)
    await check_out(client, tickets[0])
    now = time.time()
    live = await services.today.venue(venue.id, now)
    assert (live.line.waiting, live.line.offered) == (2, 0) and live.line.since <= now
    frame = frames.display_frame(venue, live.count, live.capacity, live.paused, now,
                                 line=live.line)
    assert frame["count"] == 1 and frame["level"] == "full"  # a place free, but two parties wait
    await services.line.advance(venue.id)
    await check_out(client, tickets[1])
    await services.line.advance(venue.id)
    line = (await services.today.lines([venue.id]))[venue.id]
    assert (line.waiting, line.offered) == (1, 2)  # the head's 2 places offered, 1 waits behind
    live = await services.today.venue(venue.id, time.time())
    venue_frame = frames.venue_frame(live, venue, time.time(), secret="s", snapshot=True)
    assert venue_frame["count"] == 0 and venue_frame["level"] == "full"
    assert (venue_frame["line"]["waiting"], venue_frame["line"]["offered"]) == (1, 2)
    assert venue_frame["line"]["longest_wait_seconds"] >= 0


async def test_the_door_display_hears_the_line_change(live_server, make_venue):
    venue, signed = await make_venue(capacity=2, max_party=4)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        inside = await http.post(f"/api/venues/{signed}/check-ins", json={
            "name": "Budi", "phone": "081299998888", "party_size": 2})
        assert inside.status_code == 201
        async with connect(ws_url(live_server, f"/ws/display/{signed}")) as ws:
            snapshot = await next_frame(ws)
            assert snapshot["line"]["waiting"] == 0
            joined = await http.post(f"/api/venues/{signed}/line", json={"party_size": 2,
                                                                       "phone": "0857 2222 0001"})
            assert joined.status_code == 201
            waiting = await frame_where(ws, lambda f: f["line"]["waiting"] == 1, timeout=30)
            assert waiting["level"] == "full"
            await http.post("/api/check-outs", json={"ticket": inside.json()["ticket"]})
            # The server's own job offers the freed place; the frame says so.
            offered = await frame_where(
                ws, lambda f: f["line"]["waiting"] == 0 and f["line"]["offered"] == 2, timeout=30)
            assert offered["count"] == 0 and offered["level"] == "full"


async def test_the_manager_sees_the_line_pauses_it_and_offers_by_hand(
    live_server, make_venue, issue_token, context  # noqa: F811 (the fixture imported above)
):
    venue, signed = await make_venue(capacity=1, max_party=4)
    manager = await issue_token("manager", venue.id)
    await log_in(context, live_server.url, manager)
    inside = await check_in(live_server.url, signed)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        codes = [(await http.post(f"/api/venues/{signed}/line", json={
            "party_size": 1, "phone": f"0857 2222 {n:04d}"})).json() for n in range(2)]
    display = await open_live(context, f"{live_server.url}/display/{signed}")
    await expect(display.get_by_test_id("left")).to_have_text(
        "2 rombongan antre · 2 parties in line")
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    await expect(page.get_by_test_id("line-waiting")).to_have_text("2")
    pause = page.locator("#line-pause-button")
    await expect(pause).to_have_text("Jeda antrean")
    await pause.click()
    await expect(pause).to_have_text("Lanjutkan antrean")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        await http.post("/api/check-outs", json={"ticket": inside["ticket"]})
        # Paused: the server's job offers nothing; the manager offers by hand.
        summary = await http.get(f"/api/venues/{venue.id}/line", headers=manager)
        assert summary.json()["paused"] is True
        await page.locator("#line-offer-button").click()
        await expect(page.get_by_test_id("line-waiting")).to_have_text("1")
        head = await http.post("/api/line-status", json={"line": codes[0]["line"]})
        assert head.json()["state"] == "offered"
    await expect(page.locator("#line-hint")).to_contain_text("1 tempat ditawarkan")
    await expect(display.get_by_test_id("left")).to_have_text(
        "1 rombongan antre · 1 party in line")
    # The venue's own time to claim an offer, set on the line's card.
    minutes = page.locator("#line-offer-minutes")
    await expect(minutes).to_have_value("5")  # the service's default
    await minutes.fill("12")
    await page.locator("#line-offer-minutes-form button").click()
    await expect(page.locator("#control-status")).to_be_visible()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        deadline = time.monotonic() + 30
        while (await http.get(f"/api/venues/{venue.id}/line",
                              headers=manager)).json()["offer_minutes"] != 12:
            assert time.monotonic() < deadline, "the offer time was not saved"
            await asyncio.sleep(0.2)


async def test_the_public_occupancy_counts_places_offered_to_the_line_as_taken(
    client, services, make_venue
):
    """The page's fallback without its socket (GET .../occupancy) reads as the frames do."""
    venue, signed, tickets = await full_venue(client, make_venue, capacity=4)
    await join(client, signed, 3)

    async def public() -> dict:
        answer = await client.get(f"/api/venues/{signed}/occupancy")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return {k: body[k] for k in ("count", "capacity", "level", "free", "line")}

    for ticket in tickets[:3]:
        await check_out(client, ticket)
    # Three places free, but a party waits for them: not free for anyone else.
    assert await public() == {"count": 1, "capacity": 4, "level": "full", "free": 0,
                              "line": {"waiting": 1, "offered": 0}}
    await services.line.advance(venue.id)
    # Offered to the party: taken, as the frames count them.
    assert await public() == {"count": 1, "capacity": 4, "level": "full", "free": 0,
                              "line": {"waiting": 0, "offered": 3}}
    live = await services.today.venue(venue.id, time.time())
    frame = frames.display_frame(venue, live.count, live.capacity, live.paused, time.time(),
                                 line=live.line)
    assert frame["level"] == "full"
    await check_out(client, tickets[3])
    assert await public() == {"count": 0, "capacity": 4, "level": "low", "free": 1,
                              "line": {"waiting": 0, "offered": 3}}
