"""The ticket screen gives the door what it needs: a QR code of the ticket and a code to type."""

import hashlib
import io
import re

import httpx
import zxingcpp
from PIL import Image
from playwright.async_api import Page, expect

from tests.web.conftest import snap
from tests.web.test_visitor_flow import fill_form, stored_ticket


def short_code(ticket: str) -> str:
    prefix = hashlib.sha256(ticket.encode()).hexdigest()[:8].upper()
    return f"{prefix[:4]}-{prefix[4:]}"


async def qr_on_screen(page: Page, image: str = "#ticket-qr") -> str:
    """Read the QR code as a door phone's camera would: from the pixels on the screen."""
    qr = page.locator(image)
    await expect(qr).to_be_visible()
    # Not page.wait_for_function: its polling evals a string, which the page's CSP refuses.
    await expect(qr).to_have_js_property("complete", True)
    assert await qr.evaluate("img => img.naturalWidth") > 0, "the QR image did not decode"
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(await qr.screenshot())))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return found.text


async def test_ticket_screen_shows_the_qr_and_the_short_code(live_server, make_venue, issue_token,
                                                             phone: Page):
    venue, signed = await make_venue(capacity=10, name="Pasar Anyar")
    await phone.goto(f"{live_server.url}/v/{signed}")
    await fill_form(phone, party_size=2)
    await phone.tap("#submit")
    await expect(phone.locator("#view-ticket")).to_be_visible()
    ticket = (await stored_ticket(phone, venue.code))["ticket"]

    assert await qr_on_screen(phone) == ticket
    await expect(phone.locator("#ticket-short-code")).to_have_text(short_code(ticket))
    # The QR sits below the green panel, big enough for a door phone to scan.
    panel = await phone.locator(".ticket").bounding_box()
    qr = await phone.locator("#ticket-qr").bounding_box()
    assert qr["y"] >= panel["y"] + panel["height"] and qr["width"] >= 200
    await snap(phone, "ticket-qr")

    # After a reload (the ticket kept on the phone) the page works the code out by itself.
    await phone.reload()
    await expect(phone.locator("#ticket-short-code")).to_have_text(short_code(ticket))
    assert await qr_on_screen(phone) == ticket

    # Door staff type the code the phone shows: the visit ends, and the phone hears of it.
    shown = await phone.locator("#ticket-short-code").text_content()
    staff = await issue_token("staff", venue.id)
    async with httpx.AsyncClient(base_url=live_server.url, headers=staff) as http:
        response = await http.post(f"/api/venues/{venue.id}/visits/by-code/{shown}/check-out")
    assert response.status_code == 200, response.text
    assert response.json()["party_size"] == 2 and response.json()["occupancy"]["count"] == 0
    await expect(phone.locator("#ticket")).to_have_class(re.compile(r"\bticket-ended\b"))
    await expect(phone.locator("#ticket-qr")).to_be_hidden()
    await expect(phone.locator("#ticket-ended-reason")).to_contain_text("Petugas telah mengakhiri")
