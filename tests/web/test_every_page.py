"""Every page on a phone (390x844), as each of its users opens it: no sideways scrolling (the
document is as wide as the screen), one level-one heading, no serious or critical accessibility
violation (axe-core, in the page), and a screenshot kept in test-artifacts/. The same for the
states its users bring a page to: the visitor's ticket, the door's answers, the manager's alerts,
pause and history, the city's alert and history, the door display full, paused and upright, and
every live page while it reconnects. The API's documentation renders without internet."""

import re
import time
from datetime import timedelta

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import BrowserContext, Page, expect

from tests.bookings.helpers import slot_under_way, today
from tests.browser import artifact, browser_zone
from tests.conftest import LiveServer
from tests.live.test_pages import log_in

PHONE = {"width": 390, "height": 844}
# What each page is waiting for before it is judged: its live data in (and the city map drawn),
# or its form drawn.
# The innermost elements reaching past the screen's right edge: what makes a page too wide.
WIDEST = """(screen) => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > screen
               && ![...e.children].some(c => c.getBoundingClientRect().right > screen))
  .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                   + (typeof e.className === 'string' && e.className
                      ? '.' + e.className.split(' ').join('.') : '')
                   + ' ' + Math.round(e.getBoundingClientRect().width) + 'px')"""
READY = {"live": 'body[data-live="live"]', "visitor": "#crowd-count", "static": "h1",
         "map": 'body[data-live="live"] [data-testid=map-dot]'}


@pytest.fixture
def live_server(settings, services):
    server = LiveServer(settings, OCCUPANCY_CITY_NAME="Tangerang").start()
    yield server
    server.stop()


@pytest.fixture
async def phone_context(request, browser, settings):
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                        has_touch=True, locale="id-ID",
                                        timezone_id=browser_zone(settings.timezone))
    context.set_default_timeout(15_000)
    yield context
    await context.close()


@pytest.fixture
async def city(live_server, make_venue, issue_token):
    """Two venues with visitors, one over its capacity (and not on the city map), and a token per
    role."""
    mall, mall_code = await make_venue(capacity=4000, name="Grand Mall Tangerang Karawaci",
                                       district="Karawaci", category="mall",
                                       latitude=-6.1962, longitude=106.5981)
    park, park_code = await make_venue(capacity=5, name="Taman Sempur", district="Bogor Tengah",
                                       category="park")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        for code, party in ((mall_code, 4), (park_code, 3), (park_code, 2)):
            answer = await http.post(f"/api/venues/{code}/check-ins", json={
                "name": "Sari Wulandari", "phone": "0812 9999 0000", "party_size": party})
            assert answer.status_code == 201, answer.text
    return {
        "mall": (mall, mall_code), "park": (park, park_code),
        "manager": await issue_token("manager", mall.id), "staff": await issue_token("staff", mall.id),
        "official": await issue_token("official"),
    }


def pages(city) -> list[tuple[str, str | None, str, str]]:
    """(name, role, path, what it waits for) of every page."""
    mall, mall_code = city["mall"]
    return [
        ("landing", None, "/", "static"),
        ("venue", None, f"/v/{mall_code}", "visitor"),
        ("venue-en", None, f"/v/{mall_code}?lang=en", "visitor"),
        ("login", None, "/login", "static"),
        ("display", None, f"/display/{mall_code}", "live"),
        ("door", "staff", f"/door/{mall_code}", "live"),
        ("manager", "manager", f"/manage/venues/{mall.id}", "live"),
        ("city", "official", "/city", "map"),
        ("tracing", "official", "/tracing", "static"),
    ]


async def open_as(context: BrowserContext, url: str, role_header: dict | None, path: str) -> Page:
    await context.clear_cookies()
    if role_header:
        await log_in(context, url, role_header)
    page = await context.new_page()
    await page.goto(url + path)
    return page


async def test_every_page_fits_a_phone_has_one_heading_and_no_serious_accessibility_issue(
        live_server, city, phone_context):
    axe = Axe()
    problems = []
    for name, role, path, ready in pages(city):
        page = await open_as(phone_context, live_server.url, city.get(role), path)
        await expect(page.locator(READY[ready]).first).to_be_visible()
        await page.wait_for_timeout(200)  # the first frame drawn
        await page.screenshot(path=artifact(f"phone-{name}"), full_page=True)
        width = await page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            problems.append(f"{name}: {width} px wide on a {PHONE['width']} px screen, because of "
                            f"{await page.evaluate(WIDEST, PHONE['width'])}")
        headings = await page.locator("h1").count()
        if headings != 1:
            problems.append(f"{name}: {headings} level-one headings")
        elif name == "city" and "Tangerang" not in await page.locator("h1").text_content():
            problems.append("city: the heading does not name the city")
        results = await axe.run(page)
        for violation in results.response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                where = [n["target"] for n in violation["nodes"][:3]]
                problems.append(f"{name}: {violation['impact']} {violation['id']}: "
                                f"{violation['help']} at {where}")
        await page.close()
    assert not problems, "\n".join(problems)


async def test_the_api_documentation_renders_without_internet(live_server, phone_context):
    page = await phone_context.new_page()
    elsewhere = []

    async def only_this_server(route):
        if route.request.url.startswith(live_server.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    await page.route(re.compile(".*"), only_this_server)
    for path in ("/docs",):
        await page.goto(live_server.url + path)
        await expect(page.get_by_role("heading", name=re.compile(r"^occupancy"))).to_be_visible()
        await expect(page.get_by_text("Check a party in").first).to_be_attached()
    assert not elsewhere, elsewhere


async def serious(axe: Axe, page: Page, state: str, screen: str = "phone") -> list[str]:
    """What is wrong with the page as it stands: wider than its screen, or a serious or critical
    axe-core violation. Its screenshot is kept (<screen>-<state>.png)."""
    await page.wait_for_timeout(200)  # the last change drawn
    await page.screenshot(path=artifact(f"{screen}-{state}"), full_page=True)
    problems = []
    width, wide = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    if width > wide:
        problems.append(f"{state}: {width} px wide on a {wide} px screen, because of "
                        f"{await page.evaluate(WIDEST, wide)}")
    results = await axe.run(page)
    problems += [f"{state}: {v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
                 for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    return problems


async def test_the_visitors_ticket_states_have_no_serious_accessibility_issue(
        live_server, city, phone_context):
    """Beyond each page's first state: the ticket, the ended ticket, the confirmation, a full venue."""
    axe = Axe()
    mall, mall_code = city["mall"]
    park, park_code = city["park"]
    page = await open_as(phone_context, live_server.url, None, f"/v/{mall_code}")
    await page.fill("#name", "Siti Rahayu")
    await page.fill("#phone", "0812 3456 7890")
    await page.click("#submit")
    await expect(page.locator("#view-ticket")).to_be_visible()
    problems = await serious(axe, page, "ticket")
    await page.click("#check-out")
    problems += await serious(axe, page, "ticket-confirm")
    await page.click("#check-out-no")
    ticket = await page.evaluate(
        "code => JSON.parse(localStorage.getItem('occupancy.ticket.' + code)).ticket", mall.code)
    async with httpx.AsyncClient(base_url=live_server.url, headers=city["staff"]) as http:
        await http.post(f"/api/venues/{mall.id}/screenings", json={"ticket": ticket, "temperature": 38.5})
    await expect(page.locator("#ticket")).to_have_class(re.compile(r"\bticket-fever\b"))
    problems += await serious(axe, page, "ticket-refused")
    async with httpx.AsyncClient(base_url=live_server.url, headers=city["manager"]) as http:
        await http.patch(f"/api/venues/{mall.id}", json={"capacity": 4})  # the 4 inside: full
    await page.goto(f"{live_server.url}/v/{mall_code}")
    await page.click("#ticket-again")
    await page.goto(f"{live_server.url}/v/{mall_code}")
    await expect(page.locator("#view-full")).to_be_visible()
    problems += await serious(axe, page, "full")
    assert not problems, "\n".join(problems)


async def test_the_venue_pages_time_slots_have_no_serious_accessibility_issue(
        live_server, make_venue, issue_token, phone_context):
    """A venue run by slots: the offer, the booking form with its errors, the booking screen,
    its cancel confirmation, a booking used too early; and the door's answer to a booking."""
    axe = Axe()
    park, park_code = await make_venue(capacity=10, name="Lapangan Sempur", category="park")
    start, end, hold = slot_under_way()
    manager, staff = await issue_token("manager", park.id), await issue_token("staff", park.id)
    await api(live_server.url, "PUT", f"/api/venues/{park.id}/slots", manager, json={
        "ranges": [f"{start}-{end}"], "capacity": 10, "hold_minutes": hold, "days_ahead": 2})
    page = await open_as(phone_context, live_server.url, None, f"/v/{park_code}")
    problems = await serious(axe, page, "booking-offer")
    await page.click("#book-open")
    [day] = await page.select_option("#b-day", index=1)
    await expect(page.locator(f'#b-slots[data-day="{day}"] label')).to_have_count(1)
    await page.click("#b-submit")
    await page.locator("#b-slots input").first.check()
    await page.click("#b-submit")
    await expect(page.locator("#b-name-error")).to_be_visible()
    problems += await serious(axe, page, "booking-form-errors")
    await page.fill("#b-name", "Siti Rahayu")
    await page.fill("#b-phone", "0812 3456 7890")
    await page.click("#b-submit")
    await expect(page.locator("#booking-qr")).to_be_visible()
    problems += await serious(axe, page, "booking-held")
    await page.click("#booking-use")
    await expect(page.locator("#booking-error")).to_be_visible()
    problems += await serious(axe, page, "booking-too-early")
    await page.click("#booking-cancel")
    problems += await serious(axe, page, "booking-cancel-confirm")
    await page.click("#booking-cancel-yes")
    await expect(page.locator("#booking-note")).to_be_visible()
    problems += await serious(axe, page, "booking-cancelled")

    made = await api(live_server.url, "POST", f"/api/venues/{park_code}/bookings", {}, json={
        "slot": f"{today():%Y%m%d}-{start.replace(':', '')}", "name": "Budi", "phone": "081299998888",
        "party_size": 2})
    door = await open_as(phone_context, live_server.url, staff, f"/door/{park_code}")
    await door.fill("#ticket", made.json()["booking"])
    await door.click("#claim-button")
    await expect(door.get_by_test_id("result")).to_be_visible()
    problems += await serious(axe, door, "door-booking-claimed")
    assert not problems, "\n".join(problems)


# --- the staff pages beyond their first state, each state reached as its users reach it ---------

async def check_in(url: str, signed_code: str, party: int = 1) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await http.post(f"/api/venues/{signed_code}/check-ins", json={
            "name": "Sari Wulandari", "phone": "0812 9999 0000", "party_size": party})


async def api(url: str, method: str, path: str, header: dict, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=header) as http:
        answer = await http.request(method, path, **kwargs)
    assert answer.is_success, answer.text
    return answer


async def test_the_door_screens_answers_have_no_serious_accessibility_issue(
        live_server, city, make_venue, phone_context):
    """Admitted, refused for fever, another venue's ticket, checked out, a visit already ended, a
    code that is no ticket, no camera to scan with, reconnecting, a walk-in counted, and entry
    paused at a venue that requires the door QR code."""
    axe = Axe()
    mall, mall_code = city["mall"]
    _, elsewhere_code = await make_venue(capacity=10, name="Pasar Baru")
    visits = {}
    for name, code in (("healthy", mall_code), ("feverish", mall_code), ("elsewhere", elsewhere_code)):
        answer = await check_in(live_server.url, code, party=2)
        assert answer.status_code == 201, answer.text
        visits[name] = answer.json()
    page = await open_as(phone_context, live_server.url, city["staff"], f"/door/{mall_code}")
    await expect(page.locator(READY["live"])).to_be_visible()
    result = page.get_by_test_id("result")
    problems = []

    async def screen(ticket: str, temperature: str, answer: str, state: str) -> None:
        await page.fill("#ticket", ticket)
        await page.fill("#temperature", temperature)
        await page.click("#screen-button")
        await expect(result).to_contain_text(answer)
        problems.extend(await serious(axe, page, state))
        await result.click()  # a tap clears the answer, for the next visitor
        await expect(result).to_be_hidden()

    await screen(visits["healthy"]["ticket"], "36.6", "Diterima", "door-admitted")
    await screen(visits["feverish"]["ticket"], "38.4", "Ditolak: demam", "door-fever")
    await screen(visits["elsewhere"]["ticket"], "36.6", "Tiket tempat lain", "door-other-venue")

    await page.fill("#ticket", visits["healthy"]["short_code"])
    await page.click("#checkout-button")
    await expect(result).to_contain_text("Sudah check out")
    problems += await serious(axe, page, "door-checked-out")
    await result.click()
    await screen(visits["healthy"]["short_code"], "36.6", "Kunjungan sudah berakhir", "door-ended")
    await page.fill("#ticket", "not a ticket")
    await page.click("#checkout-button")
    await expect(result).to_contain_text("Masukkan kode tiket")
    problems += await serious(axe, page, "door-no-ticket")
    await result.click()

    # No camera here: the scanner says why it cannot start.
    await page.click("#scan-button")
    await expect(result).to_be_visible()
    problems += await serious(axe, page, "door-camera-failed")
    await result.click()

    # The network gone: the numbers on screen may be stale, and the page says so.
    await phone_context.set_offline(True)
    await expect(page.locator("#reconnecting")).to_be_visible()
    problems += await serious(axe, page, "door-reconnecting")
    await phone_context.set_offline(False)
    await expect(page.locator(READY["live"])).to_be_visible(timeout=20_000)

    await page.click("#walkin-plus")
    await expect(page.locator("#control-status")).not_to_be_empty()
    await expect(page.get_by_test_id("count")).to_have_text("5")  # 4 + 2 admitted - 2 out + 1
    problems += await serious(axe, page, "door-walk-in")
    # On a phone the walk-in label wraps its words; "+" and "−" stay on its row.
    buttons = [await page.locator(f"#walkin-{side}").bounding_box() for side in ("minus", "plus")]
    label = await page.locator(".walkins .label").bounding_box()
    middle = label["y"] + label["height"] / 2
    assert buttons[0]["y"] == buttons[1]["y"], "the walk-in buttons wrapped"
    assert buttons[0]["y"] <= middle <= buttons[0]["y"] + buttons[0]["height"], "the label wrapped"

    await api(live_server.url, "PATCH", f"/api/venues/{mall.id}", city["manager"],
              json={"door_code_required": True, "paused": True})
    await page.reload()
    await expect(page.get_by_test_id("door-qr")).to_be_visible()
    await expect(page.get_by_test_id("level")).to_contain_text("ditutup")
    problems += await serious(axe, page, "door-paused-with-door-code")
    assert not problems, "\n".join(problems)


async def test_the_managers_alerts_pause_history_and_refusals_have_no_serious_accessibility_issue(
        live_server, services, city, phone_context):
    """Refusals grouped in the recent events, the venue full, an alert at the manager's threshold,
    more people inside than a lowered capacity, entry paused with a note and a reopening time,
    and the history of yesterday and of the last seven days."""
    from occupancy.stats import rollup

    axe = Axe()
    mall, mall_code = city["mall"]
    header = city["manager"]
    venue_path = f"/api/venues/{mall.id}"
    page = await open_as(phone_context, live_server.url, header, f"/manage/venues/{mall.id}")
    await expect(page.locator(READY["live"])).to_be_visible()
    count = page.get_by_test_id("count")
    level_alert = page.get_by_test_id("level-alert")
    problems = []

    # A party refused at the door for fever, then a crowd refused at a full venue (4 of 4).
    feverish = await check_in(live_server.url, mall_code, party=1)
    await api(live_server.url, "POST", f"{venue_path}/screenings", city["staff"],
              json={"ticket": feverish.json()["ticket"], "temperature": 38.5})
    await api(live_server.url, "PATCH", venue_path, header, json={"capacity": 4})
    await expect(count).to_have_text("4")  # the feverish party's place released
    for _ in range(3):
        assert (await check_in(live_server.url, mall_code)).status_code == 409
    rows = page.locator("#recent li")
    await expect(rows.first).to_contain_text("3× dalam 1 menit")
    await expect(page.locator("#recent")).to_contain_text("Ditolak demam")
    await expect(level_alert).to_have_class(re.compile(r"\bfull\b"))
    problems += await serious(axe, page, "manager-full-refusals")

    # The manager's own threshold: 80 % (4 of 5) is past a warning at 50 %.
    await api(live_server.url, "PATCH", venue_path, header, json={"capacity": 5})
    await page.fill("#alert-warn", "50")
    await page.click("#alerts-form button")
    await expect(level_alert).to_have_text("80 % kapasitas tercapai (4 / 5)")
    await expect(level_alert).to_have_class(re.compile(r"\bwarn\b"))
    problems += await serious(axe, page, "manager-alert-warn")

    # Capacity lowered below the count: how many are over, said on top.
    await api(live_server.url, "PATCH", venue_path, header, json={"capacity": 3})
    await expect(page.locator("#over-alert")).to_contain_text("1 orang melebihi kapasitas")
    await expect(page.get_by_test_id("level")).to_contain_text("1 melebihi kapasitas")
    problems += await serious(axe, page, "manager-over-capacity")
    await phone_context.set_offline(True)
    await expect(page.locator("#reconnecting")).to_be_visible()
    problems += await serious(axe, page, "manager-reconnecting")
    await phone_context.set_offline(False)
    await expect(page.locator(READY["live"])).to_be_visible(timeout=20_000)

    # Paused with a note and a reopening time, after the confirmation (the browser's own dialog:
    # not part of the page, so nothing for axe-core to read while it is open).
    await api(live_server.url, "PATCH", venue_path, header, json={"capacity": 10})
    await expect(page.locator("#over-alert")).to_be_hidden()
    await page.fill("#pause-note", "Sedang dibersihkan")
    await page.fill("#reopen-time", "14:30")
    problems += await serious(axe, page, "manager-pause-filled")
    asked = []

    async def accept(dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await page.click("#pause-button")
    await expect(page.locator("#pause-button")).to_have_text("Buka masuk kembali")
    assert asked and "Tutup pintu masuk sekarang?" in asked[0]
    await expect(page.get_by_test_id("level")).to_contain_text("Masuk ditutup sementara")
    problems += await serious(axe, page, "manager-paused")

    # History from SQL (rolled up now rather than in a minute): yesterday's (none), then the week's.
    await rollup.rollup_recent(services.redis, services.sessionmaker, services.capacity.tz)
    history = page.locator("#venue-history-table tbody tr")
    await page.click("#venue-history-form [data-range=yesterday]")
    await expect(page.locator("#venue-history-status")).to_have_text("Tidak ada data untuk rentang ini.")
    problems += await serious(axe, page, "manager-history-yesterday")
    await page.click("#venue-history-form [data-range=week]")
    await expect(history).to_have_count(1)
    problems += await serious(axe, page, "manager-history-week")
    # Drawn again at every update, the charts keep their height on a 2x screen.
    for chart, height in (("#chart-today", 240), ("#chart-minutes", 120)):
        assert (await page.locator(chart).bounding_box())["height"] == height, chart
    assert not problems, "\n".join(problems)


async def test_the_citys_alert_and_history_have_no_serious_accessibility_issue(
        live_server, services, city, issue_token, phone_context):
    """A venue over its capacity named on top; the history by hour over a longer range."""
    from occupancy.stats import rollup
    from occupancy.stats.calendar import local_date

    axe = Axe()
    park, _ = city["park"]
    page = await open_as(phone_context, live_server.url, city["official"], "/city")
    await expect(page.locator(READY["map"]).first).to_be_visible()
    problems = []

    await api(live_server.url, "PATCH", f"/api/venues/{park.id}",
              await issue_token("manager", park.id), json={"capacity": 4, "paused": True})
    await expect(page.get_by_test_id("over-alert")).to_have_text(
        "1 tempat melebihi kapasitas: Taman Sempur (+1)")
    problems += await serious(axe, page, "city-over-capacity")
    await phone_context.set_offline(True)
    await expect(page.locator("#reconnecting")).to_be_visible()
    problems += await serious(axe, page, "city-reconnecting")
    await phone_context.set_offline(False)
    await expect(page.locator(READY["live"])).to_be_visible(timeout=20_000)

    await rollup.rollup_recent(services.redis, services.sessionmaker, services.capacity.tz)
    today = local_date(time.time(), services.capacity.tz)
    await page.fill("#history-from", (today - timedelta(days=30)).isoformat())
    await page.select_option("#history-by", "hour")
    await page.click("#history-form button[type=submit]")
    await expect(page.locator("#history-table tbody tr").first).to_contain_text(today.isoformat())
    await expect(page.locator("#history-venues-wrap")).to_be_visible()
    await expect(page.locator("#chart-history")).to_be_visible()
    problems += await serious(axe, page, "city-history-by-hour")
    for chart, height in (("#chart-city", 200), ("#chart-history", 140)):
        assert (await page.locator(chart).bounding_box())["height"] == height, chart
    assert not problems, "\n".join(problems)


async def test_the_door_display_full_paused_and_upright_has_no_serious_accessibility_issue(
        live_server, city, issue_token, browser, phone_context):
    """The park's display full (5 of 5) and paused, on a phone and on a door totem (1080x1920),
    with the rotating door code a member of staff's display shows."""
    axe = Axe()
    park, park_code = city["park"]
    manager = await issue_token("manager", park.id)
    message = "[data-testid=message]"
    problems = []

    page = await open_as(phone_context, live_server.url, None, f"/display/{park_code}")
    await expect(page.locator(message)).to_contain_text("Full, please wait")
    problems += await serious(axe, page, "display-full")
    await api(live_server.url, "PATCH", f"/api/venues/{park.id}", manager, json={"paused": True})
    await expect(page.locator(message)).to_contain_text("Entry paused")
    problems += await serious(axe, page, "display-paused")
    await phone_context.set_offline(True)
    await expect(page.locator("#reconnecting")).to_be_visible()
    problems += await serious(axe, page, "display-reconnecting")
    await phone_context.set_offline(False)

    totem = await browser.new_context(viewport={"width": 1080, "height": 1920}, locale="id-ID")
    try:
        page = await open_as(totem, live_server.url, None, f"/display/{park_code}")
        await expect(page.locator(message)).to_contain_text("Entry paused")
        problems += await serious(axe, page, "display-paused", screen="totem")
        await api(live_server.url, "PATCH", f"/api/venues/{park.id}", manager,
                  json={"paused": False, "door_code_required": True})
        await expect(page.locator(message)).to_contain_text("Full, please wait")
        problems += await serious(axe, page, "display-full", screen="totem")
        page = await open_as(totem, live_server.url, await issue_token("staff", park.id),
                             f"/display/{park_code}")
        await expect(page.locator("#door-qr")).to_be_visible()
        problems += await serious(axe, page, "display-door-code", screen="totem")
    finally:
        await totem.close()
    assert not problems, "\n".join(problems)
