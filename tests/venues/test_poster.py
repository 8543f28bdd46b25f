"""The printable QR poster: it scans to the venue's signed URL in every format; only its manager gets it."""

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image

from occupancy.errors import InvalidInput
from occupancy.venues import poster, signing
from occupancy.venues.poster import render_poster
from tests.conftest import SECRET

SVG = "{http://www.w3.org/2000/svg}"
TRICKY_NAME = "Toko A&B <Baru>"


def url_of(code: str) -> str:
    return signing.visitor_url("http://testserver", SECRET, code)


def decode(png: bytes) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))


def assert_scans_to_venue(png: bytes, code: str) -> None:
    found = decode(png)
    assert len(found) == 1
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert found[0].ec_level == "H"  # survives a scuffed or partly covered poster
    assert found[0].text == url_of(code)
    prefix, signed = found[0].text.rsplit("/v/", 1)
    assert prefix == "http://testserver"
    assert signing.verify(SECRET, signed) == code


async def test_png_poster_is_a4_and_its_qr_scans_to_the_signed_visitor_url(make_venue):
    venue, _ = await make_venue(name="Tangcity Mall", code="tangcity-mall", category="mall",
                                district="Tangerang")
    png = render_poster(venue, url_of(venue.code), "png")

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.size == (1240, 1754)  # A4 portrait at 150 dpi
    assert round(image.info["dpi"][0]) == 150
    assert_scans_to_venue(png, venue.code)


async def test_a_long_name_wraps_and_the_poster_still_scans(make_venue):
    name = "Pusat Pemerintahan Kota Tangerang Gedung Balai Kota Lantai Dasar Sayap Timur Blok C"
    venue, _ = await make_venue(name=name, code="puspemkot", category="office")
    size, lines = poster.fit_name(name, poster.WIDTH - 2 * poster.MARGIN)
    assert 1 < len(lines) <= 3
    assert all(poster.text_width(line, size, bold=True) <= poster.WIDTH - 2 * poster.MARGIN
               for line in lines)
    assert " ".join(lines) == name
    assert_scans_to_venue(render_poster(venue, url_of(venue.code), "png"), venue.code)


async def test_pdf_poster_is_one_a4_page(make_venue):
    venue, _ = await make_venue(name=TRICKY_NAME)
    pdf = render_poster(venue, url_of(venue.code), "pdf")

    assert pdf.startswith(b"%PDF")
    width, height = map(float, re.search(rb"/MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", pdf).groups())
    assert width == pytest.approx(595.3, abs=1) and height == pytest.approx(841.9, abs=1)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1


async def test_svg_poster_is_valid_xml_with_the_name_escaped(make_venue):
    venue, _ = await make_venue(name=TRICKY_NAME, district="Karawaci", category="shop")
    svg = render_poster(venue, url_of(venue.code), "svg")

    assert b"A&amp;B &lt;Baru&gt;" in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == ("210mm", "297mm")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert TRICKY_NAME in texts
    assert "Toko / Shop · Karawaci" in texts
    for words in ("Pindai untuk check-in", "Scan to check in", "Tunjukkan tiket hijau ke petugas",
                  "Show the green ticket at the door", "Jangan lupa check-out saat keluar",
                  "Remember to check out when you leave", url_of(venue.code)):
        assert words in texts
    qr = [svg for svg in root.iter(f"{SVG}svg") if svg is not root]
    assert len(qr) == 1 and int(qr[0].get("width")) > 700  # large, in the middle of the page
    assert qr[0].find(f"{SVG}path").get("d").startswith("M")


async def test_an_unknown_format_is_refused(make_venue):
    venue, _ = await make_venue()
    with pytest.raises(InvalidInput) as error:
        render_poster(venue, url_of(venue.code), "jpg")
    assert error.value.code == "unsupported_format"


async def test_poster_api_is_for_the_venues_manager(client, make_venue, issue_token):
    venue, _ = await make_venue(name="Pasar Anyar", code="pasar-anyar", category="market")
    other, _ = await make_venue()
    path = f"/api/venues/{venue.id}/poster.png"

    response = await client.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"

    for token in (await issue_token("staff", other.id), await issue_token("manager", other.id),
                  await issue_token("staff", venue.id), await issue_token("official")):
        response = await client.get(path, headers=token)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"

    response = await client.get(path, headers=await issue_token("manager", venue.id))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert 'filename="poster-pasar-anyar.png"' in response.headers["content-disposition"]
    assert_scans_to_venue(response.content, venue.code)


async def test_poster_api_serves_svg_and_pdf_and_refuses_other_formats(client, make_venue, issue_token):
    venue, _ = await make_venue(name=TRICKY_NAME)
    operator = await issue_token("operator")

    svg = await client.get(f"/api/venues/{venue.id}/poster.svg", headers=operator)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert TRICKY_NAME in [t.text for t in ET.fromstring(svg.content).iter(f"{SVG}text")]

    pdf = await client.get(f"/api/venues/{venue.id}/poster.pdf", headers=operator)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert f'filename="poster-{venue.code}.pdf"' in pdf.headers["content-disposition"]

    jpg = await client.get(f"/api/venues/{venue.id}/poster.jpg", headers=operator)
    assert jpg.status_code == 422
    assert jpg.json()["error"]["code"] == "invalid_input"

    missing = await client.get("/api/venues/999999/poster.png", headers=operator)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_venue"
