"""A headless Chromium shared by the browser tests, and a phone-sized page per test.

Every test's page is a Pixel 7 emulation; a JavaScript error or a blocked resource fails the test,
and a failing test leaves a screenshot in test-artifacts/.
"""

import pytest

from tests.browser import artifact, browser_zone


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def empty_database_url(sqlite_database_url):
    """Pages behave alike on every database: run them on SQLite only (the API tests cover both)."""
    return sqlite_database_url


@pytest.fixture
async def phone(request, playwright, browser, settings):
    """A new browser context emulating a Pixel 7 set to Indonesian; yields its page.

    The phone's time zone is far from the city's: the pages must show the city's times.
    """
    context = await browser.new_context(
        **playwright.devices["Pixel 7"], locale="id-ID", timezone_id=browser_zone(settings.timezone)
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        await page.screenshot(path=artifact(f"failed-{request.node.name}"), full_page=True)
    await context.close()
    # Failed fetches the test provoked on purpose (HTTP 4xx answers) show up as console errors.
    unexpected = [p for p in problems if "Failed to load resource" not in p]
    assert not unexpected, unexpected


async def snap(page, name: str) -> None:
    """Keep a screenshot of a key step in test-artifacts/."""
    await page.screenshot(path=artifact(f"visitor-{name}"), full_page=True)
