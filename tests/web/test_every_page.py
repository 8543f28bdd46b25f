"""Every page on a phone (390x844), as each of its users opens it: no sideways scrolling (the
document is as wide as the screen), one level-one heading, no serious or critical accessibility
violation (axe-core, in the page), and a screenshot kept in test-artifacts/. The API's
documentation renders without internet."""

import re

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import BrowserContext, Page, expect

from tests.browser import artifact, browser_zone
from tests.conftest import LiveServer

PHONE = {"width": 390, "height": 844}
# What each page is waiting for before it is judged: its live data in (and the city map drawn),
# or its form drawn.
# The innermost elements reaching past the phone's right edge (390 px): what makes a page too wide.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 390
               && ![...e.children].some(c => c.getBoundingClientRect().right > 390))
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
        token = role_header["Authorization"].removeprefix("Bearer ")
        await context.add_cookies([{"name": "occupancy_token", "value": token, "url": url,
                                    "httpOnly": True, "sameSite": "Strict"}])
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
                            f"{await page.evaluate(WIDEST)}")
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


async def serious(axe: Axe, page: Page, state: str) -> list[str]:
    await page.screenshot(path=artifact(f"phone-{state}"), full_page=True)
    results = await axe.run(page)
    return [f"{state}: {v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


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
