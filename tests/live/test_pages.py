"""The live pages in headless Chromium against a real server (two worker processes, real Redis).

Each page must render, follow check-ins made through the HTTP API within about a second without a
reload, and come back by itself after the server restarts. Screenshots of every page are kept in
test-artifacts/ (and of any page open when a test fails).
"""

import asyncio
import io
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from occupancy.demo import DISTRICTS, NAMED, seed_demo_city
from occupancy.stats.calendar import local_date
from occupancy.venues import service as venue_service
from occupancy.venues import signing
from tests.browser import CHROMIUM, artifact, browser_zone, city_clock
from tests.conftest import LiveServer

# "All pages update within a second of a check-in": the API has answered when we start waiting.
LIVE_MS = 1_000
# After a restart the pages retry with back-off (at most 10 s between tries).
RECOVER_MS = 20_000
# Worker processes can take long to start when the machine is busy (spawned, imports compiled).
START_SECONDS = 120

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def empty_database_url(sqlite_database_url):
    """Pages behave alike on every database: run them on SQLite only (the API tests cover both)."""
    return sqlite_database_url


@pytest.fixture
def live_server(settings, services):
    """As in tests/conftest.py, with more time to start (and restart) on a busy machine."""
    server = LiveServer(settings).start(timeout=START_SECONDS)
    yield server
    server.stop()


async def snap(page: Page, name: str) -> None:
    """Keep a screenshot of a page in test-artifacts/ (live-<name>.png)."""
    await page.screenshot(path=artifact(f"live-{name}"), full_page=True)


@pytest.fixture
async def context(request, browser, settings):
    """A desktop-sized browser context; JS errors fail the test, failures leave screenshots.

    The browser's time zone is far from the city's: the pages must show the city's days and hours.
    """
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID",
                                        timezone_id=browser_zone(settings.timezone))
    context.set_default_timeout(10_000)
    problems: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))

    context.on("page", watch)
    failed_before = request.session.testsfailed
    yield context
    if request.session.testsfailed > failed_before:
        for number, page in enumerate(context.pages):
            await page.screenshot(path=artifact(f"failed-{request.node.name}-{number}"),
                                  full_page=True)
    await context.close()
    # Refused API calls (4xx on purpose) and sockets dropped by a restart are expected noise.
    expected = ("Failed to load resource", "WebSocket connection to")
    unexpected = [p for p in problems if not any(e in p for e in expected)]
    assert not unexpected, unexpected


async def log_in(context: BrowserContext, url: str, header: dict[str, str]) -> None:
    """Give the context the cookie /login would set for this token."""
    token = header["Authorization"].removeprefix("Bearer ")
    await context.add_cookies([{"name": "occupancy_token", "value": token, "url": url,
                                "httpOnly": True, "sameSite": "Strict"}])


async def check_in(url: str, signed_code: str, party: int = 1) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.post(f"/api/venues/{signed_code}/check-ins", json={
            "name": "Sari Wulandari", "phone": "0812 9999 0000", "email": "sari@example.id",
            "party_size": party, "idempotency_key": uuid.uuid4().hex,
        })
    assert response.status_code == 201, response.text
    return response.json()


async def api(url: str, method: str, path: str, header: dict, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=header) as http:
        return await http.request(method, path, **kwargs)


async def open_live(context: BrowserContext, url: str) -> Page:
    """Open a live page and wait for its first snapshot."""
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    return page


# --- login ---------------------------------------------------------------------------------------

async def test_protected_pages_redirect_to_login_but_door_display_does_not(
    live_server, make_venue, context
):
    venue, signed = await make_venue(capacity=50)
    page = await context.new_page()
    for path in (f"/manage/venues/{venue.id}", f"/door/{signed}", "/city"):
        await page.goto(live_server.url + path)
        assert page.url.startswith(f"{live_server.url}/login?next="), page.url
        await expect(page.locator("input[name=next]")).to_have_value(path)
        await expect(page.locator("#token")).to_be_visible()
    await snap(page, "login")
    await page.click("a.lang")  # switching language keeps where the login leads
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("input[name=next]")).to_have_value("/city")

    display = await open_live(context, f"{live_server.url}/display/{signed}")
    await expect(display.get_by_test_id("count")).to_have_text("0")
    assert display.url == f"{live_server.url}/display/{signed}"
    # A forged code is refused with a page, not a stack trace or JSON.
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        forged = await http.get(f"/display/{venue.code}.aaaaaaaaaaaaa")
    assert forged.status_code == 404 and "text/html" in forged.headers["content-type"]


async def test_login_with_a_pasted_token_sets_an_httponly_cookie_and_logout_clears_it(
    live_server, make_venue, issue_token, context
):
    venue, _ = await make_venue(capacity=50)
    other, _ = await make_venue(capacity=50)
    token = (await issue_token("manager", venue.id))["Authorization"].removeprefix("Bearer ")
    page = await context.new_page()
    await page.goto(f"{live_server.url}/manage/venues/{venue.id}")

    await page.fill("#token", "occ_not-a-real-token")
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_be_visible()

    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live_server.url}/manage/venues/{venue.id}")
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    cookie = next(c for c in await context.cookies() if c["name"] == "occupancy_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["value"] != token  # a session of its own, never the token itself

    # A manager of one venue may not open another venue's dashboard or the city view.
    for path in (f"/manage/venues/{other.id}", "/city"):
        response = await page.goto(live_server.url + path)
        assert response.status == 403
        await expect(page.locator("h1")).to_have_text("Tidak diizinkan")

    await page.goto(f"{live_server.url}/manage/venues/{venue.id}")
    await page.click("form.logout button")
    await expect(page).to_have_url(f"{live_server.url}/login")
    assert not [c for c in await context.cookies() if c["name"] == "occupancy_token"]
    await page.goto(f"{live_server.url}/manage/venues/{venue.id}")
    assert "/login?next=" in page.url
    # Logout ended the session on the server: within seconds (each worker remembers a token's
    # answer for 5 s) the old cookie is refused everywhere; the token itself still works.
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        deadline = time.monotonic() + 20
        while (await http.get(f"/api/venues/{venue.id}", headers={
                "Authorization": f"Bearer {cookie['value']}"})).status_code != 401:
            assert time.monotonic() < deadline, "the ended session still works"
            await asyncio.sleep(0.5)
        still = await http.get(f"/api/venues/{venue.id}",
                               headers={"Authorization": f"Bearer {token}"})
    assert still.status_code == 200


# --- manager dashboard ---------------------------------------------------------------------------

async def test_manager_dashboard_follows_check_ins_live(
    live_server, make_venue, issue_token, context, settings
):
    venue, signed = await make_venue(capacity=10, name="Mal Karawaci", district="Karawaci",
                                     category="mall")
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    await expect(page.get_by_test_id("count")).to_have_text("0")
    await expect(page.get_by_test_id("capacity")).to_have_text("10")

    ticket = await check_in(live_server.url, signed, party=3)
    await expect(page.get_by_test_id("count")).to_have_text("3", timeout=LIVE_MS)
    await expect(page.locator("#entries-today")).to_have_text("1")
    await expect(page.locator("#recent li").first).to_contain_text("3 orang")
    # At the city's time, not the browser's.
    await expect(page.locator("#recent li").first).to_contain_text(
        city_clock(ticket["checked_in_at"], settings.timezone))
    await expect(page.locator("#hero")).to_have_class(re.compile(r"\blevel-low\b"))

    await check_in(live_server.url, signed, party=5)  # 8 of 10: busy (amber)
    await expect(page.get_by_test_id("count")).to_have_text("8", timeout=LIVE_MS)
    await expect(page.locator("#hero")).to_have_class(re.compile(r"\blevel-busy\b"))
    await expect(page.get_by_test_id("level")).to_contain_text("Hampir penuh")
    # Updates carry only the new events and the minutes still counting; the page keeps the rest.
    await expect(page.locator("#entries-today")).to_have_text("2")
    await expect(page.locator("#recent li")).to_have_count(2)
    await expect(page.locator("#recent li").nth(0)).to_contain_text("5 orang")
    await expect(page.locator("#recent li").nth(1)).to_contain_text("3 orang")
    await expect(page.locator("#entries-per-min")).to_have_text(re.compile(r"^0[.,]4$"))

    content = await page.content()
    assert "Sari" not in content and "0812" not in content and "example.id" not in content
    await snap(page, "manager-dashboard")


async def test_manager_changes_capacity_and_pauses_entry(
    live_server, make_venue, issue_token, context
):
    venue, signed = await make_venue(capacity=10)
    header = await issue_token("manager", venue.id)
    await log_in(context, live_server.url, header)
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    await check_in(live_server.url, signed, party=4)
    await expect(page.get_by_test_id("count")).to_have_text("4", timeout=LIVE_MS)

    await page.fill("#capacity-input", "4")
    await page.click("#capacity-form button")
    await expect(page.get_by_test_id("capacity")).to_have_text("4")
    await expect(page.locator("#hero")).to_have_class(re.compile(r"\blevel-full\b"))
    settings = (await api(live_server.url, "GET", f"/api/venues/{venue.id}", header)).json()
    assert settings["capacity"] == 4
    await expect(page.locator("#over-alert")).to_be_hidden()

    # Lowered below the count: how many are over, the share above 100 %, and an alert.
    await page.fill("#capacity-input", "3")
    await page.click("#capacity-form button")
    await expect(page.get_by_test_id("level")).to_have_text("Penuh · 133 % · 1 melebihi kapasitas")
    await expect(page.locator("#over-alert")).to_be_visible()
    await expect(page.locator("#over-alert")).to_contain_text("1 orang melebihi kapasitas")
    await snap(page, "manager-over-capacity")
    await page.fill("#capacity-input", "4")
    await page.click("#capacity-form button")
    await expect(page.locator("#over-alert")).to_be_hidden()

    # Pausing asks first: dismissed, nothing changes; accepted, entry is paused.
    asked = []

    async def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", lambda dialog: asyncio.ensure_future(answer(dialog, False)))
    await page.click("#pause-button")
    await expect(page.locator("#pause-button")).to_have_text("Tutup masuk sementara")
    assert asked and "Tutup pintu masuk sekarang?" in asked[0]
    page.once("dialog", lambda dialog: asyncio.ensure_future(answer(dialog, True)))
    await page.fill("#pause-note", "Sedang dibersihkan")
    await page.fill("#reopen-time", "14:30")
    await page.click("#pause-button")
    await expect(page.locator("#pause-button")).to_have_text("Buka masuk kembali")
    told = (await api(live_server.url, "GET", f"/api/venues/{venue.id}", header)).json()
    assert told["pause_note"] == "Sedang dibersihkan"
    reopens = datetime.fromisoformat(told["reopens_at"]).astimezone(ZoneInfo(live_server.settings.timezone))
    assert (reopens.hour, reopens.minute) == (14, 30)
    assert timedelta(0) < reopens - datetime.now(reopens.tzinfo) <= timedelta(days=1)
    await expect(page.get_by_test_id("level")).to_have_text("Masuk ditutup sementara · 100 %")
    settings = (await api(live_server.url, "GET", f"/api/venues/{venue.id}", header)).json()
    assert settings["paused"] is True
    await snap(page, "manager-paused")

    await page.click("#pause-button")
    await expect(page.locator("#pause-button")).to_have_text("Tutup masuk sementara")
    settings = (await api(live_server.url, "GET", f"/api/venues/{venue.id}", header)).json()
    assert settings["paused"] is False


async def test_manager_dashboard_in_english(live_server, make_venue, issue_token, context):
    venue, _ = await make_venue(capacity=10)
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}?lang=en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_text("Inside now")).to_be_visible()
    # The choice is remembered in the lang cookie.
    await page.goto(f"{live_server.url}/manage/venues/{venue.id}")
    await expect(page.get_by_text("Inside now")).to_be_visible()
    await snap(page, "manager-dashboard-en")
    # The switch goes back to Indonesian on the same page.
    await page.click("a.lang")
    await expect(page.locator("html")).to_have_attribute("lang", "id")
    await expect(page.get_by_text("Di dalam sekarang")).to_be_visible()
    assert page.url.startswith(f"{live_server.url}/manage/venues/{venue.id}?")


async def test_walk_ins_are_counted_from_the_dashboard_and_the_door(
    live_server, make_venue, issue_token, context
):
    venue, signed = await make_venue(capacity=10)
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    manager = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    door = await open_live(context, f"{live_server.url}/door/{signed}")

    await manager.click("#walkin-plus")
    await expect(manager.get_by_test_id("count")).to_have_text("1", timeout=LIVE_MS)
    await expect(door.get_by_test_id("count")).to_have_text("1", timeout=LIVE_MS)
    await door.click("#walkin-plus")
    await expect(manager.get_by_test_id("count")).to_have_text("2", timeout=LIVE_MS)
    await door.click("#walkin-minus")
    await expect(manager.get_by_test_id("count")).to_have_text("1", timeout=LIVE_MS)
    await expect(door.get_by_test_id("count")).to_have_text("1", timeout=LIVE_MS)


async def test_manager_downloads_the_poster_and_a_csv_without_personal_data(
    live_server, make_venue, issue_token, context
):
    venue, signed = await make_venue(capacity=10)
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    await check_in(live_server.url, signed, party=2)
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")

    async with page.expect_download() as poster_info:
        await page.click("#poster-link")
    poster = await (await poster_info.value).path()
    assert Path(poster).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    async with page.expect_download() as csv_info:
        await page.click("#csv-link")
    csv_text = Path(await (await csv_info.value).path()).read_text()
    assert len(csv_text.strip().splitlines()) == 2  # a header and today's one visit
    assert "Sari" not in csv_text and "0812" not in csv_text and "example.id" not in csv_text


# --- door display --------------------------------------------------------------------------------

async def test_door_display_shows_count_light_and_message_live(
    live_server, make_venue, issue_token, context
):
    venue, signed = await make_venue(capacity=5, name="Taman Kota")
    page = await open_live(context, f"{live_server.url}/display/{signed}")
    await expect(page.get_by_test_id("count")).to_have_text("0")
    await expect(page.get_by_test_id("capacity")).to_have_text("5")
    await expect(page.get_by_test_id("message")).to_contain_text("Silakan masuk")
    await expect(page.get_by_test_id("message")).to_contain_text("Please enter")
    await expect(page.locator("body")).to_have_class(re.compile(r"\blevel-low\b"))

    await check_in(live_server.url, signed, party=2)
    await expect(page.get_by_test_id("count")).to_have_text("2", timeout=LIVE_MS)
    await expect(page.get_by_test_id("left")).to_have_text("3 tempat tersisa · 3 places left")
    await snap(page, "display-enter")

    await check_in(live_server.url, signed, party=3)
    await expect(page.get_by_test_id("count")).to_have_text("5", timeout=LIVE_MS)
    await expect(page.get_by_test_id("message")).to_contain_text("Penuh")
    await expect(page.get_by_test_id("message")).to_contain_text("Full, please wait")
    await expect(page.locator("body")).to_have_class(re.compile(r"\blevel-full\b"))
    await snap(page, "display-full")

    manager = await issue_token("manager", venue.id)
    response = await api(live_server.url, "PATCH", f"/api/venues/{venue.id}", manager,
                         json={"capacity": 10, "paused": True})
    assert response.status_code == 200, response.text
    await expect(page.get_by_test_id("capacity")).to_have_text("10", timeout=LIVE_MS)
    await expect(page.get_by_test_id("message")).to_contain_text("Masuk ditutup sementara")
    await expect(page.get_by_test_id("message")).to_contain_text("Entry paused")
    await snap(page, "display-paused")

    content = await page.content()
    assert "Sari" not in content and "0812" not in content and "example.id" not in content


# --- door staff screen ---------------------------------------------------------------------------

async def test_door_staff_screen_screens_and_checks_out_tickets(
    live_server, make_venue, issue_token, context
):
    venue, signed = await make_venue(capacity=20)
    await log_in(context, live_server.url, await issue_token("staff", venue.id))
    page = await open_live(context, f"{live_server.url}/door/{signed}")
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    await expect(page.get_by_test_id("count")).to_have_text("0")

    healthy = await check_in(live_server.url, signed, party=2)
    feverish = await check_in(live_server.url, signed, party=3)
    await expect(page.get_by_test_id("count")).to_have_text("5", timeout=LIVE_MS)

    await page.fill("#ticket", healthy["ticket"])
    await page.fill("#temperature", "36.6")
    await page.click("#screen-button")
    await expect(page.get_by_test_id("result")).to_contain_text("Diterima")
    await expect(page.get_by_test_id("result")).to_have_class(re.compile(r"\bok\b"))
    await snap(page, "door-admitted")

    # A pasted text holding the ticket works as well as the bare code.
    await page.fill("#ticket", f"Tiket: {feverish['ticket']} ")
    await page.fill("#temperature", "38.4")
    await page.click("#screen-button")
    await expect(page.get_by_test_id("result")).to_contain_text("Ditolak: demam")
    await expect(page.get_by_test_id("result")).to_have_class(re.compile(r"\bbad\b"))
    await expect(page.get_by_test_id("count")).to_have_text("2", timeout=LIVE_MS)
    await snap(page, "door-fever")

    await page.fill("#ticket", healthy["ticket"])
    await page.click("#checkout-button")
    await expect(page.get_by_test_id("result")).to_contain_text("Sudah check out")
    await expect(page.get_by_test_id("count")).to_have_text("0", timeout=LIVE_MS)

    await page.fill("#ticket", "not a ticket")
    await page.click("#checkout-button")
    await expect(page.get_by_test_id("result")).to_contain_text("Masukkan kode tiket")
    # Tickets travel in request bodies, never in a URL that a proxy would log.
    assert requested and not [url for url in requested
                              if healthy["ticket"] in url or feverish["ticket"] in url]


async def test_door_staff_type_the_visitors_short_code(live_server, make_venue, issue_token, context):
    venue, signed = await make_venue(capacity=20)
    await log_in(context, live_server.url, await issue_token("staff", venue.id))
    page = await open_live(context, f"{live_server.url}/door/{signed}")
    # Scanning works in every browser (a vendored decoder); typing the short code works too.
    await expect(page.locator("#scan-button")).to_be_visible()
    visit = await check_in(live_server.url, signed, party=2)
    await expect(page.get_by_test_id("count")).to_have_text("2", timeout=LIVE_MS)

    await page.fill("#ticket", visit["short_code"])  # as shown: 3F9A-07C2
    await page.fill("#temperature", "36.6")
    await page.click("#screen-button")
    await expect(page.get_by_test_id("result")).to_contain_text("Diterima")
    await expect(page.get_by_test_id("result")).to_have_class(re.compile(r"\bok\b"))
    await expect(page.locator("#ticket")).to_have_value("")
    await snap(page, "door-short-code")

    await page.fill("#ticket", visit["short_code"].replace("-", "").lower())  # typed in a hurry
    await page.click("#checkout-button")
    await expect(page.get_by_test_id("result")).to_contain_text("Sudah check out")
    await expect(page.get_by_test_id("result")).to_contain_text("2 orang")
    await expect(page.get_by_test_id("count")).to_have_text("0", timeout=LIVE_MS)

    # A code of no open visit here is refused with the server's reason.
    await page.fill("#ticket", visit["short_code"])
    await page.fill("#temperature", "36.6")
    await page.click("#screen-button")
    await expect(page.get_by_test_id("result")).to_have_class(re.compile(r"\bbad\b"))
    await expect(page.get_by_test_id("result")).to_contain_text("ended")


async def test_door_staff_scan_a_real_ticket_qr_with_the_camera(
    live_server, make_venue, issue_token, playwright, tmp_path
):
    """Chromium's fake camera films a picture of the ticket QR the visitor's phone shows (the
    API's own SVG, drawn as pixels); the page's vendored decoder reads it, in any browser."""
    from PIL import Image

    from tests.browser import CHROMIUM_ARGS
    from tests.visits.test_short_codes import rasterize

    venue, signed = await make_venue(capacity=20)
    other, other_signed = await make_venue(capacity=20)
    poster_visit = await check_in(live_server.url, other_signed, party=1)
    visit = await check_in(live_server.url, signed, party=1)

    def camera(ticket: str, name: str) -> Path:
        """A video file of the ticket's QR held in front of the camera (MJPEG: JPEG frames)."""
        svg = httpx.post(f"{live_server.url}/api/ticket-qr", json={"ticket": ticket}).content
        code = rasterize(svg).resize((300, 300), Image.NEAREST)
        shot = Image.new("L", (640, 480), 200)
        shot.paste(code, (170, 90))
        path = tmp_path / f"{name}.mjpeg"
        with path.open("wb") as out:
            for _ in range(5):
                shot.convert("RGB").save(out, "JPEG", quality=90)
        return path

    for ticket, expected in ((visit["ticket"], "Diterima"), (poster_visit["ticket"], "Tiket tempat lain")):
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera(ticket, expected[:6])}"])
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                                locale="id-ID", permissions=["camera"])
            await log_in(context, live_server.url, await issue_token("staff", venue.id))
            page = await open_live(context, f"{live_server.url}/door/{signed}")
            await expect(page.locator("#scan-button")).to_be_visible()
            await page.click("#scan-button")
            await expect(page.locator("#ticket")).to_have_value(ticket, timeout=15_000)
            await expect(page.locator("#scan-video")).to_be_hidden()
            await expect(page.locator("#temperature")).to_be_focused()
            await page.fill("#temperature", "36.6")
            await page.click("#screen-button")
            await expect(page.get_by_test_id("result")).to_contain_text(expected)
            await snap(page, f"door-scanned-{expected[:6]}")
        finally:
            await browser.close()


# --- city view -----------------------------------------------------------------------------------

async def test_city_view_follows_every_venue_live(live_server, make_venue, issue_token, context):
    mall, mall_code = await make_venue(capacity=10, name="Mal Alam Sutera", district="Serpong",
                                       category="mall")
    park, park_code = await make_venue(capacity=4, name="Taman Potret", district="Karawaci",
                                       category="park")
    await log_in(context, live_server.url, await issue_token("official"))
    page = await open_live(context, f"{live_server.url}/city")
    await expect(page.locator(".tile")).to_have_count(2)
    await expect(page.get_by_test_id("total-count")).to_have_text("0")

    await check_in(live_server.url, mall_code, party=3)
    await expect(page.get_by_test_id("total-count")).to_have_text("3", timeout=LIVE_MS)
    await expect(page.locator(".tile").first).to_have_attribute("data-venue", mall.code)

    await check_in(live_server.url, park_code, party=4)  # the park is now full: it comes first
    await expect(page.get_by_test_id("total-count")).to_have_text("7", timeout=LIVE_MS)
    first = page.locator(".tile").first
    await expect(first).to_have_attribute("data-venue", park.code)
    await expect(first).to_have_class(re.compile(r"\blevel-full\b"))
    await expect(first).to_contain_text("4 / 4")
    await expect(page.locator("#by-district tr[data-group=Karawaci]")).to_contain_text("4 / 4")
    await expect(page.locator("#by-category tr[data-group=mall]")).to_contain_text("3 / 10")
    await expect(page.locator("#by-category tr[data-group=park]")).to_contain_text("Taman")
    await expect(page.get_by_test_id("over-alert")).to_be_hidden()
    await snap(page, "city")

    # The park's capacity lowered below its count: named in an alert on top, its tile marked.
    await api(live_server.url, "PATCH", f"/api/venues/{park.id}",
              await issue_token("manager", park.id), json={"capacity": 3})
    await expect(page.get_by_test_id("over-alert")).to_have_text(
        "1 tempat melebihi kapasitas: Taman Potret (+1)", timeout=LIVE_MS)
    await expect(first).to_have_class(re.compile(r"\bover\b"))
    await api(live_server.url, "PATCH", f"/api/venues/{park.id}",
              await issue_token("manager", park.id), json={"capacity": 4})
    await expect(page.get_by_test_id("over-alert")).to_be_hidden(timeout=LIVE_MS)

    # A tile opens the venue's dashboard: an official sees it live, without the manager's controls.
    await first.click()
    await expect(page).to_have_url(f"{live_server.url}/manage/venues/{park.id}")
    await expect(page.get_by_test_id("count")).to_have_text("4")
    await expect(page.locator("#csv-link")).to_be_visible()
    for control in ("#capacity-form", "#pause-button", "#walkin-plus", "#poster-link"):
        await expect(page.locator(control)).to_have_count(0)


async def test_city_map_shows_each_located_venue_coloured_live_and_asks_no_map_service(
    live_server, services, make_venue, issue_token, context
):
    await seed_demo_city(services, tokens=False)
    await make_venue(capacity=10, name="Kios Tanpa Alamat")  # no location: not on the map
    async with services.sessionmaker() as session:
        apotek = await venue_service.get_venue(session, code="apotek-sehat-karawaci")
    elsewhere: list[str] = []

    async def only_this_server(route):
        if route.request.url.startswith(live_server.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route(re.compile(".*"), only_this_server)
    await log_in(context, live_server.url, await issue_token("official"))
    page = await open_live(context, f"{live_server.url}/city")

    dots = page.get_by_test_id("map-dot")
    await expect(dots).to_have_count(len(NAMED))
    assert sorted(await dots.evaluate_all("ds => ds.map(d => d.dataset.venue)")) == sorted(
        v.code for v in NAMED)
    await expect(page.locator("#city-map path.district")).to_have_count(len(DISTRICTS))
    await expect(page.get_by_test_id("map-note")).to_have_text(re.compile(r"^1 tempat tidak ada di peta"))
    # Every dot lies within the drawn map.
    box = await page.get_by_test_id("city-map").bounding_box()
    for dot_box in [await dot.bounding_box() for dot in await dots.all()]:
        assert box["x"] <= dot_box["x"] and dot_box["x"] + dot_box["width"] <= box["x"] + box["width"]
        assert box["y"] <= dot_box["y"] and dot_box["y"] + dot_box["height"] <= box["y"] + box["height"]

    dot = page.locator('[data-testid=map-dot][data-venue="apotek-sehat-karawaci"]')
    await expect(dot).to_have_class(re.compile(r"\blevel-low\b"))
    await expect(dot.locator("title")).to_have_text("Apotek Sehat Karawaci: 0 / 40")
    await expect(page.get_by_role("img", name="Apotek Sehat Karawaci: 0 / 40")).to_have_count(1)

    manager = await issue_token("manager", apotek.id)
    await api(live_server.url, "PATCH", f"/api/venues/{apotek.id}", manager, json={"capacity": 5})
    signed = signing.sign(live_server.settings.secret_key, apotek.code)
    await check_in(live_server.url, signed, party=4)
    await expect(dot).to_have_class(re.compile(r"\blevel-busy\b"), timeout=LIVE_MS)
    await expect(dot.locator("title")).to_have_text("Apotek Sehat Karawaci: 4 / 5")
    await check_in(live_server.url, signed, party=1)
    await expect(dot).to_have_class(re.compile(r"\blevel-full\b"), timeout=LIVE_MS)
    await expect(dot.locator("title")).to_have_text("Apotek Sehat Karawaci: 5 / 5")
    await snap(page, "city-map")

    # Capacity lowered below the count: marked over capacity, as the tiles are.
    await api(live_server.url, "PATCH", f"/api/venues/{apotek.id}", manager, json={"capacity": 3})
    await expect(dot).to_have_class(re.compile(r"\bover\b"), timeout=LIVE_MS)
    await expect(dot.locator("title")).to_have_text(
        "Apotek Sehat Karawaci: 5 / 3 · 2 melebihi kapasitas")
    # Moved off the map: its dot goes, the note counts it.
    await api(live_server.url, "PATCH", f"/api/venues/{apotek.id}", manager,
              json={"latitude": None, "longitude": None})
    await expect(dots).to_have_count(len(NAMED) - 1, timeout=LIVE_MS)
    await expect(page.get_by_test_id("map-note")).to_have_text(re.compile(r"^2 tempat tidak ada di peta"))
    assert not elsewhere, elsewhere


async def test_city_page_without_its_district_map_still_lists_every_venue(
    settings, services, make_venue, issue_token, context, tmp_path
):
    broken = tmp_path / "districts.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}')
    await make_venue(capacity=10, name="Pasar Lama", latitude=-6.18, longitude=106.63)
    server = LiveServer(settings, OCCUPANCY_CITY_MAP=str(broken)).start(timeout=START_SECONDS)
    try:
        await log_in(context, server.url, await issue_token("official"))
        page = await open_live(context, f"{server.url}/city")
        await expect(page.get_by_test_id("map-note")).to_have_text(
            "Peta kecamatan tidak dapat dimuat; semua tempat ada di daftar di bawah.")
        await expect(page.get_by_test_id("city-map")).to_be_hidden()
        await expect(page.locator(".tile")).to_have_count(1)
        await expect(page.locator(".tile")).to_contain_text("Pasar Lama")
    finally:
        server.stop()


async def test_city_history_by_day_and_hour_with_csv(live_server, make_venue, issue_token, context,
                                                      settings):
    venue, signed = await make_venue(capacity=10, name="Pasar Lama")
    checked_in = time.time()
    await check_in(live_server.url, signed, party=2)
    # The history comes from SQL, rolled up from the live counters every minute; do it now.
    rollup = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "occupancy.cli", "rollup"], env=live_server.env(),
        capture_output=True, text=True, timeout=120)
    assert rollup.returncode == 0, rollup.stdout + rollup.stderr
    await log_in(context, live_server.url, await issue_token("official"))
    page = await open_live(context, f"{live_server.url}/city")
    # The default range is the city's last seven days, whatever the browser's date.
    city = ZoneInfo(settings.timezone)
    today = local_date(checked_in, city)
    await expect(page.locator("#history-to")).to_have_value(today.isoformat())
    await expect(page.locator("#history-from")).to_have_value((today - timedelta(days=6)).isoformat())

    by_day = page.locator("#history-table tbody tr")
    await expect(by_day).to_have_count(1)  # the week so far has one day with visits: today
    await expect(by_day.first).to_contain_text(today.isoformat())
    await expect(by_day.first).to_contain_text("2")
    await expect(page.locator("#history-venues tbody tr").first).to_contain_text("Pasar Lama")

    await page.select_option("#history-by", "hour")
    await page.click("#history-form button[type=submit]")
    # The hour of the check-in, as the city's date and hour.
    await expect(page.locator("#history-table tbody tr").first).to_contain_text(
        f"{today.isoformat()} {datetime.fromtimestamp(checked_in, city):%H}:00")
    await expect(page.locator("#chart-history")).to_be_visible()
    href = await page.locator("#history-csv").get_attribute("href")
    assert href.startswith("/api/city/history.csv?") and "by=hour" in href
    response = await page.request.get(live_server.url + href)
    assert response.ok and "text/csv" in response.headers["content-type"]
    csv_text = await response.text()
    assert "Pasar Lama" in csv_text
    assert "Sari" not in csv_text and "0812" not in csv_text and "example.id" not in csv_text
    await snap(page, "city-history")


# --- recovery ------------------------------------------------------------------------------------

async def test_pages_reconnect_after_the_server_restarts(
    live_server, make_venue, issue_token, context
):
    venue, signed = await make_venue(capacity=50)
    await log_in(context, live_server.url, await issue_token("operator"))
    pages = {
        "manager": await open_live(context, f"{live_server.url}/manage/venues/{venue.id}"),
        "door": await open_live(context, f"{live_server.url}/door/{signed}"),
        "display": await open_live(context, f"{live_server.url}/display/{signed}"),
        "city": await open_live(context, f"{live_server.url}/city"),
    }

    live_server.stop()
    for page in pages.values():
        await expect(page.locator("#reconnecting")).to_be_visible()
    await snap(pages["manager"], "manager-reconnecting")

    live_server.start(timeout=START_SECONDS)
    await check_in(live_server.url, signed, party=4)
    for name, page in pages.items():
        count = page.get_by_test_id("total-count" if name == "city" else "count")
        await expect(count).to_have_text("4", timeout=RECOVER_MS)
        await expect(page.locator("#reconnecting")).to_be_hidden()
        await snap(page, f"{name}-after-restart")


async def test_pages_reconnect_after_a_network_drop(live_server, make_venue, issue_token, context):
    venue, signed = await make_venue(capacity=50)
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    manager = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    display = await open_live(context, f"{live_server.url}/display/{signed}")

    await context.set_offline(True)
    for page in (manager, display):
        await expect(page.locator("#reconnecting")).to_be_visible()
    await check_in(live_server.url, signed, party=2)  # happens while the pages are cut off
    await context.set_offline(False)
    for page in (manager, display):
        await expect(page.get_by_test_id("count")).to_have_text("2", timeout=RECOVER_MS)
        await expect(page.locator("#reconnecting")).to_be_hidden()


async def test_a_login_form_on_another_site_does_not_sign_chromium_in(live_server, issue_token, context):
    token = (await issue_token("official"))["Authorization"].removeprefix("Bearer ")
    page = await context.new_page()
    await page.set_content(  # a page of no origin of ours, with a form aimed at our login
        f'<form method="post" action="{live_server.url}/login">'
        f'<input name="token" value="{token}"><button>go</button></form>')
    async with page.expect_navigation() as navigation:
        await page.click("button")
    assert (await navigation.value).status == 403
    await expect(page.locator("#login-error")).to_be_visible()
    assert not [c for c in await context.cookies() if c["name"] == "occupancy_token"]


async def test_a_login_or_logout_form_posted_by_another_site_is_refused(client, issue_token, settings):
    """Login CSRF: another site's page must not sign a browser in with a token of its choosing."""
    token = (await issue_token("official"))["Authorization"].removeprefix("Bearer ")
    form = {"token": token, "next": "/city"}
    for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "null"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.testserver"},
                    # browsers without Fetch Metadata: another origin, or none we can tell
                    {"Origin": "https://evil.example"}, {"Origin": "http://testserver:8080"},
                    {"Origin": "https://testserver"}, {"Origin": "null"}):
        refused = await client.post("/login", data=form, headers=headers)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        assert "login-error" in refused.text
        assert (await client.post("/logout", headers=headers)).status_code == 403
    # Our own login page, directly or as the public address a proxy serves it under, and
    # clients that send neither header sign in.
    for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
                    {"Origin": "http://testserver"},
                    {"Origin": settings.public_url, "Host": "10.0.0.5:8000"}, {}):
        answer = await client.post("/login", data=form, headers=headers)
        assert answer.status_code == 303 and "occupancy_token=" in answer.headers["set-cookie"]
    assert (await client.post("/logout", headers={"Sec-Fetch-Site": "same-origin"})).status_code == 303


async def test_failed_logins_from_one_address_are_slowed(client, issue_token):
    token = (await issue_token("official"))["Authorization"].removeprefix("Bearer ")
    for _ in range(10):
        wrong = await client.post("/login", data={"token": "occ_guess"})
        assert wrong.status_code == 401
    refused = await client.post("/login", data={"token": token})  # even the right one, for now
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "set-cookie" not in refused.headers


async def test_an_official_traces_a_case_from_the_page_with_the_key_file(
        live_server, make_venue, issue_token, context, tmp_path):
    from tests.conftest import OFFICE_PRIVATE_KEY

    venue, signed = await make_venue(capacity=10, name="Pasar Tracing")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        for name, phone in (("Kasus Satu", "0811 1111 1111"), ("Kontak Dua", "0822 2222 2222")):
            answer = await http.post(f"/api/venues/{signed}/check-ins", json={
                "name": name, "phone": phone, "party_size": 1})
            assert answer.status_code == 201
    key_file = tmp_path / "office.key"
    key_file.write_text(OFFICE_PRIVATE_KEY + "\n")
    await log_in(context, live_server.url, await issue_token("official"))
    page = await context.new_page()
    await page.goto(f"{live_server.url}/tracing")

    await page.fill("#phone", "0811 1111 1111")
    await page.set_input_files("#key-file", str(key_file))
    await page.click("#trace")

    await expect(page.locator("#cases tbody tr")).to_have_count(1)
    await expect(page.locator("#cases")).to_contain_text("Kasus Satu")
    await expect(page.locator("#contacts")).to_contain_text("Kontak Dua")
    await expect(page.locator("#contacts")).to_contain_text("082222222222")
    await expect(page.locator("#tracing-status")).to_contain_text("2")
    await expect(page.locator("#download")).to_be_visible()


async def test_the_door_totem_shows_everything_upright_and_the_door_code_to_staff_only(
        live_server, make_venue, issue_token, browser, settings):
    """A door totem (1080x1920 portrait): nothing cut off; the rotating check-in code shows when
    a member of staff opened the display, and never on a display opened from afar."""
    import zxingcpp
    from PIL import Image

    venue, signed = await make_venue(capacity=40, name="Stasiun Bogor")
    manager = await issue_token("manager", venue.id)
    await check_in(live_server.url, signed, party=3)  # before the venue requires the door code
    await api(live_server.url, "PATCH", f"/api/venues/{venue.id}", manager,
              json={"door_code_required": True})
    totem = {"viewport": {"width": 1080, "height": 1920}, "locale": "id-ID"}
    for signed_in in (False, True):
        context = await browser.new_context(**totem)
        if signed_in:
            await log_in(context, live_server.url, await issue_token("staff", venue.id))
        page = await open_live(context, f"{live_server.url}/display/{signed}")
        await expect(page.get_by_test_id("left")).to_have_text("37 tempat tersisa · 37 places left")
        qr = page.locator("#door-qr")
        if signed_in:
            await expect(qr).to_be_visible()
            shot = await page.locator("#door-qr-img").screenshot()
            [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
            assert f"/v/{signed}?door=" in found.text
        else:
            await page.wait_for_timeout(500)
            await expect(qr).to_be_hidden()
        for selector in ("#count", ".light", "#message", ".display-name"):
            box = await page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1080, (selector, box)
            assert box["y"] + box["height"] <= 1920, (selector, box)
        await snap(page, f"display-totem-{'staff' if signed_in else 'public'}")
        await context.close()


async def test_manager_sets_alert_thresholds_and_sees_the_banner(live_server, make_venue,
                                                                 issue_token, context):
    venue, signed = await make_venue(capacity=10)
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    await page.fill("#alert-warn", "50")
    await page.fill("#alert-full", "80")
    await page.click("#alerts-form button")
    await check_in(live_server.url, signed, party=4)
    await expect(page.get_by_test_id("count")).to_have_text("4", timeout=LIVE_MS)
    await expect(page.get_by_test_id("level-alert")).to_be_hidden()
    await check_in(live_server.url, signed, party=2)
    await expect(page.get_by_test_id("level-alert")).to_have_text(
        "60 % kapasitas tercapai (6 / 10)", timeout=LIVE_MS)
    await expect(page.get_by_test_id("level-alert")).to_have_class(re.compile(r"\bwarn\b"))
    await check_in(live_server.url, signed, party=2)
    await expect(page.get_by_test_id("level-alert")).to_have_class(re.compile(r"\bfull\b"),
                                                                  timeout=LIVE_MS)
    await snap(page, "manager-alert-full")
    await page.reload()  # kept on this screen
    await expect(page.locator("#alert-warn")).to_have_value("50")
    await expect(page.get_by_test_id("level-alert")).to_have_text("80 % kapasitas tercapai (8 / 10)")


async def test_refusals_in_a_row_are_one_row_and_the_axis_fits_the_capacity(
        live_server, make_venue, issue_token, context):
    venue, signed = await make_venue(capacity=4000)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        await api(live_server.url, "PATCH", f"/api/venues/{venue.id}",
                  await issue_token("manager", venue.id), json={"capacity": 1})
        await check_in(live_server.url, signed, party=1)
        for _ in range(3):
            refused = await http.post(f"/api/venues/{signed}/check-ins", json={
                "name": "Budi", "phone": "0812 1111 2222", "party_size": 1})
            assert refused.status_code == 409
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    rows = page.locator("#recent li")
    await expect(rows).to_have_count(2)  # the three refusals, then the check-in
    await expect(rows.first).to_contain_text("Ditolak penuh")
    await expect(rows.first).to_contain_text("3× dalam 1 menit")
    await expect(page.locator(".stat .label").first).to_have_text("Rombongan masuk / menit")


async def test_manager_reads_past_days_and_downloads_a_days_visits(live_server, services, make_venue,
                                                                  issue_token, context):
    from occupancy.stats import rollup

    venue, signed = await make_venue(capacity=10)
    await check_in(live_server.url, signed, party=3)
    await rollup.rollup_recent(services.redis, services.sessionmaker, services.capacity.tz)
    await log_in(context, live_server.url, await issue_token("manager", venue.id))
    page = await open_live(context, f"{live_server.url}/manage/venues/{venue.id}")
    today = local_date(time.time(), services.capacity.tz).isoformat()
    rows = page.locator("#venue-history-table tbody tr")
    await expect(rows).to_have_count(1)  # the last seven days: today only has visits
    await expect(rows.first).to_contain_text(today)
    await expect(rows.first.locator("td").nth(2)).to_have_text("3")  # visitors in
    await page.click("#venue-history-form [data-range=yesterday]")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#venue-history-status")).to_have_text("Tidak ada data untuk rentang ini.")
    yesterday = (local_date(time.time(), services.capacity.tz) - timedelta(days=1)).isoformat()
    assert (await page.locator("#venue-history-csv").get_attribute("href")).endswith(f"date={yesterday}")
