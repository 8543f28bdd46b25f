"""The visitor's phone, end to end: a real server over a socket, headless Chromium as a Pixel 7."""

import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from occupancy.venues import service as venue_service
from occupancy.venues import signing
from tests.browser import city_clock
from tests.conftest import SECRET
from tests.web.conftest import snap

GREEN = "rgb(21, 128, 61)"
RED = "rgb(220, 38, 38)"
RED_TICKET = "rgb(185, 28, 28)"
GREY_TICKET = "rgb(75, 85, 99)"
VISITOR = {"name": "Siti Rahayu", "phone": "0812 3456 7890", "email": "siti@example.id"}


async def count(server, signed: str) -> int:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get(f"/api/venues/{signed}/occupancy")
        response.raise_for_status()
        return response.json()["count"]


async def api_check_in(server, signed: str, party_size: int) -> dict:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            f"/api/venues/{signed}/check-ins",
            json={"name": "Budi", "phone": "081299998888", "party_size": party_size},
        )
        assert response.status_code == 201, response.text
        return response.json()


async def api_check_out(server, ticket: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        (await http.post(f"/api/tickets/{ticket}/check-out")).raise_for_status()


async def fill_form(page: Page, party_size: int = 1, **fields: str) -> None:
    values = {**VISITOR, **fields}
    await page.fill("#name", values["name"])
    await page.fill("#phone", values["phone"])
    await page.fill("#email", values["email"])
    for _ in range(party_size - 1):
        await page.tap("#party-plus")


async def stored_ticket(page: Page, venue_code: str) -> dict | None:
    raw = await page.evaluate("code => localStorage.getItem('occupancy.ticket.' + code)", venue_code)
    return json.loads(raw) if raw else None


async def test_check_in_show_ticket_reload_and_check_out(live_server, make_venue, settings, phone: Page):
    venue, signed = await make_venue(
        capacity=10, max_party=6, name="Grand Mall Tangerang", category="mall", district="Karawaci"
    )
    requested: list[str] = []
    phone.on("request", lambda request: requested.append(request.url))
    await phone.goto(f"{live_server.url}/v/{signed}")

    await expect(phone.locator("h1")).to_have_text("Grand Mall Tangerang")
    await expect(phone.locator(".venue-meta")).to_contain_text("Mal")
    await expect(phone.locator("#crowd")).to_have_class(re.compile(r"\blevel-low\b"))
    await expect(phone.locator("#crowd-level-text")).to_have_text("Sepi")
    await expect(phone.locator("#crowd-count")).to_have_text("0 dari 10 orang")
    party = phone.locator("#party_size")
    await expect(party).to_have_value("1")
    await expect(party).to_have_attribute("max", "6")
    await expect(phone.locator("#party_size-hint")).to_contain_text("termasuk anak-anak")
    await snap(phone, "1-venue-page")

    await fill_form(phone, party_size=3)
    await expect(party).to_have_value("3")
    await snap(phone, "2-form-filled")
    await phone.tap("#submit")

    ticket_view = phone.locator("#view-ticket")
    await expect(ticket_view).to_be_visible()
    await expect(phone.locator("#view-form")).to_be_hidden()
    await expect(phone.locator(".ticket-ok")).to_have_text("Cek-in berhasil")
    await expect(phone.locator("#ticket-venue")).to_have_text("Grand Mall Tangerang")
    await expect(phone.locator("#ticket-party")).to_have_text("3 orang")
    await expect(phone.locator(".ticket")).to_have_css("background-color", GREEN)
    await expect(phone.locator("#check-out")).to_have_text("Keluar (check out)")
    kept = await stored_ticket(phone, venue.code)
    assert set(kept) == {"ticket", "venue", "party_size", "checked_in_at", "short_code", "signed_code"}
    assert kept["party_size"] == 3
    # The code staff can type, once (under the QR code).
    await expect(phone.locator("#ticket-short-code")).to_have_text(kept["short_code"])
    await expect(phone.get_by_text(kept["short_code"])).to_have_count(1)
    assert len(kept["short_code"]) == 9 and kept["short_code"][4] == "-"  # as 3F9A-07C2
    # The city's time, as the guard's clock shows it, whatever the phone's time zone.
    await expect(phone.locator("#ticket-time")).to_have_text(
        city_clock(kept["checked_in_at"], settings.timezone))
    # Personal data stays out of the phone's storage and out of the address bar.
    storage = await phone.evaluate("JSON.stringify(localStorage)")
    for value in ("Siti", "3456", "siti@example"):
        assert value not in storage and value not in phone.url
    assert await count(live_server, signed) == 3
    await snap(phone, "3-ticket")

    await phone.reload()
    await expect(ticket_view).to_be_visible()
    await expect(phone.locator("#view-form")).to_be_hidden()
    await expect(phone.locator("#ticket-party")).to_have_text("3 orang")
    await expect(phone.locator("#check-out")).to_be_visible()
    await snap(phone, "4-ticket-after-reload")

    await expect(phone.locator("#ticket-qr")).to_be_visible()
    # A check-out asks once more, naming the venue; "cancel" keeps the ticket.
    await phone.tap("#check-out")
    await expect(phone.locator("#check-out-question")).to_have_text(
        "Keluar dari Grand Mall Tangerang sekarang?")
    await phone.tap("#check-out-no")
    await expect(phone.locator("#check-out")).to_be_visible()
    assert await count(live_server, signed) == 3
    await phone.tap("#check-out")
    await phone.tap("#check-out-yes")
    await expect(phone.locator("#view-done")).to_be_visible()
    await expect(phone.locator("#done-title")).to_have_text("Anda sudah check out. Terima kasih!")
    # The ticket travelled in request bodies only, never in a URL that proxies and servers log.
    assert not [url for url in requested if kept["ticket"] in url], requested
    await expect(phone.locator("#done-body")).to_contain_text("Grand Mall Tangerang")
    assert await stored_ticket(phone, venue.code) is None
    assert await count(live_server, signed) == 0
    await snap(phone, "5-checked-out")

    await phone.reload()
    await expect(phone.locator("#view-form")).to_be_visible()
    await expect(ticket_view).to_be_hidden()

    log = Path(live_server.log.name).read_text()
    for value in ("Siti", "3456", "siti@example"):
        assert value not in log


async def test_full_venue_shows_count_and_retry(live_server, make_venue, phone: Page):
    _, signed = await make_venue(capacity=2, name="Pasar Baru", category="market", district="Karawaci")
    _, near_code = await make_venue(capacity=10, name="Pasar Lama", category="market", district="Karawaci")
    _, far_code = await make_venue(capacity=10, name="Pasar Anyar", category="market", district="Cibodas")
    _, full_code = await make_venue(capacity=1, name="Pasar Penuh", category="market", district="Karawaci")
    await make_venue(capacity=10, name="Taman Lain", category="park", district="Karawaci")
    await api_check_in(live_server, full_code, 1)
    other = await api_check_in(live_server, signed, 2)

    # Opened while full: the full state at once, with the count.
    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator("#view-full")).to_be_visible()
    await expect(phone.locator("#view-form")).to_be_hidden()
    await expect(phone.locator("#view-full h2")).to_have_text("Penuh")
    await expect(phone.locator("#full-count")).to_have_text("2 dari 2 orang di dalam")
    await expect(phone.locator("#crowd")).to_have_class(re.compile(r"\blevel-full\b"))
    await expect(phone.locator("#crowd-level")).to_have_css("background-color", RED)
    await expect(phone.locator("#full-retry-button")).to_be_visible()
    # Where else of the same kind has room: its district's first; full ones and parks not.
    await expect(phone.locator("#alternatives-list li a")).to_have_text(["Pasar Lama", "Pasar Anyar"])
    await expect(phone.locator("#alternatives-list li").first).to_contain_text("0 dari 10 orang")
    assert near_code in await phone.locator("#alternatives-list a").first.get_attribute("href")
    assert far_code not in await phone.locator("#alternatives-list a").first.get_attribute("href")
    await snap(phone, "6-full-on-open")

    # Room again: the form comes back by itself (the venue's socket says so).
    await api_check_out(live_server, other["ticket"])
    await expect(phone.locator("#view-form")).to_be_visible()

    # Full by the time the visitor sends the form: the full state, a hint, then a retry that works.
    await fill_form(phone, party_size=2)
    other = await api_check_in(live_server, signed, 1)
    await phone.tap("#submit")
    await expect(phone.locator("#view-full")).to_be_visible()
    await expect(phone.locator("#full-count")).to_have_text("1 dari 2 orang di dalam")
    await expect(phone.locator("#full-retry")).to_contain_text("coba lagi")
    await snap(phone, "7-full-on-submit")
    assert await count(live_server, signed) == 1

    await api_check_out(live_server, other["ticket"])
    await phone.tap("#full-retry-button")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    await expect(phone.locator("#ticket-party")).to_have_text("2 orang")
    assert await count(live_server, signed) == 2


async def test_paused_venue_shows_the_managers_note_and_reopening_time(live_server, make_venue,
                                                                       issue_token, phone: Page):
    venue, signed = await make_venue(capacity=10, name="Taman Sempur")
    manager = await issue_token("manager", venue.id)
    async with httpx.AsyncClient(base_url=live_server.url, headers=manager) as http:
        paused = await http.patch(f"/api/venues/{venue.id}", json={
            "paused": True, "pause_note": "Sedang dibersihkan  ", "reopens_at": "2099-01-01T14:00:00+07:00"})
        assert paused.status_code == 200, paused.text
        assert paused.json()["pause_note"] == "Sedang dibersihkan"
        bad = await http.patch(f"/api/venues/{venue.id}", json={"pause_note": "a\u0000b"})
        assert bad.status_code == 422
    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator("#view-paused")).to_be_visible()
    await expect(phone.locator("#pause-note")).to_have_text("Sedang dibersihkan")
    await expect(phone.locator("#reopens")).to_have_text("Dibuka lagi sekitar pukul 01/01 14.00.")
    async with httpx.AsyncClient(base_url=live_server.url, headers=manager) as http:
        reopened = await http.patch(f"/api/venues/{venue.id}", json={"paused": False})
    assert (reopened.json()["pause_note"], reopened.json()["reopens_at"]) == (None, None)


async def test_paused_venue_says_entry_paused(live_server, make_venue, services, phone: Page):
    venue, signed = await make_venue(capacity=50, name="Taman Kota")
    async with services.sessionmaker() as session:
        row = await venue_service.get_venue(session, code=venue.code)
        await venue_service.update_venue(session, services.redis, row, paused=True)

    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator("#view-paused")).to_be_visible()
    await expect(phone.locator("#view-paused h2")).to_have_text("Masuk ditunda")
    await expect(phone.locator("#crowd-level-text")).to_have_text("Masuk ditunda")
    await snap(phone, "8-paused")

    # The form stays reachable; sending it while paused lands on the paused state again.
    await phone.tap("#paused-back")
    await fill_form(phone)
    await phone.tap("#submit")
    await expect(phone.locator("#view-paused")).to_be_visible()
    assert await count(live_server, signed) == 0


async def test_english_switch_is_remembered(live_server, make_venue, phone: Page):
    _, signed = await make_venue(capacity=10, name="Stasiun Sudirman", category="station")
    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator("html")).to_have_attribute("lang", "id")
    await expect(phone.locator("#submit")).to_have_text("Cek-in sekarang")

    await phone.tap("#lang-switch")
    await expect(phone).to_have_url(re.compile(r"\?lang=en$"))
    await expect(phone.locator("html")).to_have_attribute("lang", "en")
    await expect(phone.locator("#submit")).to_have_text("Check in now")
    await expect(phone.locator(".crowd-label")).to_have_text("Crowd right now")
    await expect(phone.locator("#crowd-count")).to_have_text("0 of 10 people")
    await expect(phone.locator(".venue-meta")).to_contain_text("Station")
    await expect(phone.locator("#party_size-hint")).to_contain_text(
        "you and your companions, children included", ignore_case=True
    )
    cookies = {c["name"]: c["value"] for c in await phone.context.cookies()}
    assert cookies["lang"] == "en"
    await snap(phone, "9-english")

    # Remembered: the plain QR address opens in English; the texts of the script follow.
    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator("#submit")).to_have_text("Check in now")
    await fill_form(phone, party_size=2)
    await phone.tap("#submit")
    await expect(phone.locator(".ticket-ok")).to_have_text("Checked in")
    await expect(phone.locator("#ticket-party")).to_have_text("2 people")
    await snap(phone, "10-ticket-english")

    await phone.tap("#lang-switch")
    await expect(phone.locator("html")).to_have_attribute("lang", "id")
    await expect(phone.locator("#ticket-party")).to_have_text("2 orang")


async def test_form_errors_show_next_to_the_field(live_server, make_venue, phone: Page):
    _, signed = await make_venue(capacity=10, max_party=4)
    await phone.goto(f"{live_server.url}/v/{signed}")
    await fill_form(phone, phone="12-34")
    await phone.tap("#submit")

    error = phone.locator("#phone-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("Masukkan nomor HP 8–15 angka")
    await expect(phone.locator("#phone")).to_have_attribute("aria-invalid", "true")
    await expect(phone.locator("#name-error")).to_be_hidden()
    await expect(phone.locator("#view-ticket")).to_be_hidden()
    # The message sits right under its field.
    field = await phone.locator("#phone").bounding_box()
    message = await error.bounding_box()
    assert 0 <= message["y"] - (field["y"] + field["height"]) < 40
    await snap(phone, "11-phone-error")
    assert await count(live_server, signed) == 0

    # A party larger than the venue allows, typed by hand, in English.
    await phone.goto(f"{live_server.url}/v/{signed}?lang=en")
    await fill_form(phone, name="   ")
    await phone.tap("#submit")
    await expect(phone.locator("#name-error")).to_have_text("Please give your name (up to 100 characters).")
    await phone.fill("#name", "Siti Rahayu")
    await phone.fill("#party_size", "9")
    await phone.tap("#submit")
    await expect(phone.locator("#party_size-error")).to_have_text(
        "The number of people must be between 1 and 4."
    )
    await expect(phone.locator("#name-error")).to_be_hidden()
    await snap(phone, "12-party-error-english")

    # An empty form: every field's error at once, the first field focused.
    await phone.goto(f"{live_server.url}/v/{signed}?lang=en")
    await phone.fill("#party_size", "")
    await phone.tap("#submit")
    for field in ("name", "phone", "party_size"):
        await expect(phone.locator(f"#{field}-error")).to_be_visible()
        await expect(phone.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    await expect(phone.locator("#email-error")).to_be_hidden()  # optional, and empty
    await expect(phone.locator("#name")).to_be_focused()
    await snap(phone, "12b-every-error")

    await fill_form(phone)
    await phone.fill("#party_size", "4")
    await phone.tap("#submit")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    assert await count(live_server, signed) == 4


async def test_retry_after_network_error_reuses_the_key(live_server, make_venue, phone: Page):
    _, signed = await make_venue(capacity=10)
    keys: list[str] = []
    lost = []

    async def lose_first_answer(route):
        keys.append(json.loads(route.request.post_data)["idempotency_key"])
        response = await route.fetch()  # the server records the check-in...
        if not lost:
            lost.append(response.status)
            await route.abort("internetdisconnected")  # ...but the phone never hears back
        else:
            await route.fulfill(response=response)

    await phone.route(re.compile(r"/check-ins$"), lose_first_answer)
    await phone.goto(f"{live_server.url}/v/{signed}")
    await fill_form(phone, party_size=2)
    await phone.tap("#submit")
    await expect(phone.locator("#form-error")).to_contain_text("Tidak ada koneksi")
    assert lost == [201]
    await snap(phone, "13-network-error")

    await phone.tap("#submit")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    assert len(keys) == 2 and keys[0] == keys[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", keys[0])
    assert await count(live_server, signed) == 2  # counted once

    # A new check-in later is a new attempt with a fresh key.
    await phone.tap("#check-out")
    await phone.tap("#check-out-yes")
    await phone.tap("#again")
    await fill_form(phone)
    await phone.tap("#submit")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    assert len(keys) == 3 and keys[2] != keys[0]


async def test_crowd_level_refreshes_by_itself(live_server, make_venue, phone: Page):
    _, signed = await make_venue(capacity=10)
    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator("#crowd-level-text")).to_have_text("Sepi")
    await api_check_in(live_server, signed, 8)
    # Pushed on the venue's public socket (the API is asked every 10 s only without it).
    await expect(phone.locator("#crowd-level-text")).to_have_text("Ramai", timeout=3_000)
    await expect(phone.locator("#crowd-count")).to_have_text("8 dari 10 orang")
    await expect(phone.locator("#crowd")).to_have_class(re.compile(r"\blevel-busy\b"))
    await snap(phone, "14-busy")


@pytest.mark.parametrize(
    ("code", "status", "title"),
    [
        ("grand-mall.aaaaaaaaaaaaa", 400, "Kode QR tidak sah"),
        ("not-a-code", 400, "Kode QR tidak sah"),
        (signing.sign(SECRET, "no-such-venue"), 404, "Tempat tidak ditemukan"),
    ],
)
async def test_bad_venue_code_gets_a_friendly_page(live_server, phone: Page, code, status, title):
    response = await phone.goto(f"{live_server.url}/v/{code}")
    assert response.status == status
    assert response.headers["content-type"].startswith("text/html")
    await expect(phone.locator("h1")).to_have_text(title)
    await expect(phone.locator("#error-page .lead")).to_contain_text("Pindai lagi kode QR")
    await expect(phone.locator("#error-page a")).to_have_attribute("href", "/")
    await snap(phone, f"15-bad-code-{status}")

    response = await phone.goto(f"{live_server.url}/v/{code}?lang=en")
    assert response.status == status
    await expect(phone.locator("#error-page .lead")).to_contain_text("Scan the QR code")


async def test_landing_page(live_server, phone: Page):
    response = await phone.goto(f"{live_server.url}/")
    assert response.status == 200
    await expect(phone.locator("h1")).to_have_text("Cek-in di tempat tujuan Anda")
    await expect(phone.locator("a[href='/docs']")).to_be_visible()


async def test_the_ticket_follows_the_visit_when_door_staff_refuse_it(
        live_server, make_venue, issue_token, phone: Page):
    import time

    venue, signed = await make_venue(capacity=10, name="Taman Sempur")
    staff = await issue_token("staff", venue.id)
    await phone.goto(f"{live_server.url}/v/{signed}")
    await fill_form(phone, party_size=2)
    await phone.tap("#submit")
    await expect(phone.locator(".ticket")).to_have_css("background-color", GREEN)
    await expect(phone.locator("#ticket-stay")).to_have_text("0 j 00 m")
    kept = await stored_ticket(phone, venue.code)
    await phone.wait_for_timeout(300)  # the page has sent its ticket on the socket

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        refused = await http.post(f"/api/venues/{venue.id}/screenings", headers=staff,
                                  json={"ticket": kept["ticket"], "temperature": 38.7})
    assert refused.json()["result"] == "refused_fever"
    ticket = phone.locator("#ticket")
    await expect(ticket).to_have_class(re.compile(r"\bticket-fever\b"), timeout=5_000)
    print(f"\nthe ticket turned red {1000 * (time.monotonic() - started):.0f} ms after the refusal")
    await expect(ticket).to_have_css("background-color", RED_TICKET)
    await expect(phone.locator("#ticket-ended-reason")).to_contain_text("suhu tubuh terlalu tinggi")
    await expect(phone.locator("#check-out")).to_be_hidden()
    await expect(phone.locator("#ticket-qr")).to_be_hidden()
    await snap(phone, "15-ticket-refused")

    await phone.reload()  # still void after a reload
    await expect(ticket).to_have_class(re.compile(r"\bticket-fever\b"))
    await phone.tap("#ticket-again")
    await expect(phone.locator("#view-form")).to_be_visible()
    assert await stored_ticket(phone, venue.code) is None


async def test_a_ticket_checked_out_by_staff_turns_grey(live_server, make_venue, issue_token,
                                                       phone: Page):
    venue, signed = await make_venue(capacity=10)
    staff = await issue_token("staff", venue.id)
    await phone.goto(f"{live_server.url}/v/{signed}?lang=en")
    await fill_form(phone)
    await phone.tap("#submit")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    kept = await stored_ticket(phone, venue.code)
    await phone.wait_for_timeout(300)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        out = await http.post(f"/api/venues/{venue.id}/door-check-outs", headers=staff,
                              json={"ticket": kept["ticket"]})
    assert out.status_code == 200
    await expect(phone.locator("#ticket")).to_have_class(re.compile(r"\bticket-ended\b"), timeout=5_000)
    await expect(phone.locator("#ticket-ended-reason")).to_have_text(
        "The staff ended this visit. This ticket is no longer valid.")
    await expect(phone.locator("#ticket")).to_have_css("background-color", GREY_TICKET)


async def test_numbers_are_written_as_each_language_writes_them(live_server, make_venue, phone: Page):
    _, signed = await make_venue(capacity=4000)
    await api_check_in(live_server, signed, 2)
    await phone.goto(f"{live_server.url}/v/{signed}")
    await expect(phone.locator("#crowd-count")).to_have_text("2 dari 4.000 orang")
    await phone.goto(f"{live_server.url}/v/{signed}?lang=en")
    await expect(phone.locator("#crowd-count")).to_have_text("2 of 4,000 people")
    await api_check_in(live_server, signed, 1)  # and as the socket's updates write them
    await expect(phone.locator("#crowd-count")).to_have_text("3 of 4,000 people", timeout=3_000)


async def test_checking_in_elsewhere_offers_to_end_the_open_visit_first(live_server, make_venue,
                                                                      phone: Page):
    mall, mall_code = await make_venue(capacity=10, name="Mal Ciputra")
    _, park_code = await make_venue(capacity=10, name="Taman Kota")
    await phone.goto(f"{live_server.url}/v/{mall_code}")
    await fill_form(phone)
    await phone.tap("#submit")
    await expect(phone.locator("#view-ticket")).to_be_visible()

    # The landing page offers the open ticket, one tap away.
    await phone.goto(f"{live_server.url}/")
    await expect(phone.locator("#open-tickets-list a")).to_have_text(["Mal Ciputra"])
    await phone.locator("#open-tickets-list a").tap()
    await expect(phone.locator("#view-ticket")).to_be_visible()

    await phone.goto(f"{live_server.url}/v/{park_code}")
    await expect(phone.locator("#elsewhere")).to_be_visible()
    await expect(phone.locator("#elsewhere-text")).to_contain_text("Anda masih tercatat di Mal Ciputra")
    await snap(phone, "16-still-elsewhere")
    await phone.tap("#elsewhere-out")
    await expect(phone.locator("#elsewhere")).to_be_hidden()
    assert await count(live_server, mall_code) == 0
    assert await stored_ticket(phone, mall.code) is None
    await phone.reload()
    await expect(phone.locator("#elsewhere")).to_be_hidden()
