"""The printable A4 poster at a venue's entrance: its name, the QR code to check in, instructions.

One layout is computed (with Pillow's built-in font for measuring) and drawn twice: onto a Pillow
image for PNG and PDF, and as SVG elements for a vector poster. The QR code encodes the venue's
signed visitor URL with high error correction, so a scuffed or partly covered poster still scans.
"""

import io
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import qrcode
import qrcode.image.pil
import qrcode.image.svg
from PIL import Image, ImageDraw, ImageFont

from occupancy.errors import InvalidInput

FORMATS = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}

# A4 portrait at 150 dots per inch: sharp enough for text, and the QR modules are whole pixels.
DPI = 150
WIDTH, HEIGHT = 1240, 1754
MARGIN = 90

GREEN = "#0f7b43"
INK = "#1b1b1b"
GREY = "#5c5c5c"
PALE = "#e8f3ec"
WHITE = "#ffffff"
SVG_FONT = "Helvetica, Arial, 'Liberation Sans', sans-serif"

CATEGORY_LABELS = {
    "mall": "Mal / Mall",
    "shop": "Toko / Shop",
    "market": "Pasar / Market",
    "park": "Taman / Park",
    "station": "Stasiun / Station",
    "office": "Kantor / Office",
}

STEPS = (
    ("Pindai untuk check-in", "Scan to check in"),
    ("Tunjukkan tiket hijau ke petugas", "Show the green ticket at the door"),
    ("Jangan lupa check-out saat keluar", "Remember to check out when you leave"),
)
# A venue that requires the rotating door code: this poster's QR only shows the venue (a photo of
# it admits nobody); the check-in is from the code on the screen at the door.
DOOR_CODE_STEPS = (
    ("Pindai kode QR di layar pintu", "Scan the QR code on the door screen"),
    ("Tunjukkan tiket hijau ke petugas", "Show the green ticket at the door"),
    ("Jangan lupa check-out saat keluar", "Remember to check out when you leave"),
)


class VenueLike(Protocol):
    code: str
    name: str
    district: str
    category: str
    door_code_required: bool


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: int
    fill: str = INK
    bold: bool = False
    anchor: str = "middle"  # or "start"


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    fill: str
    radius: float = 0


@dataclass(frozen=True, slots=True)
class Circle:
    cx: float
    cy: float
    r: float
    fill: str


@dataclass(frozen=True, slots=True)
class QR:
    x: int
    y: int
    box: int  # pixels per module
    code: qrcode.QRCode

    @property
    def size(self) -> int:
        return self.box * self.modules

    @property
    def modules(self) -> int:
        return self.code.modules_count + 2 * self.code.border


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font, so the poster looks the same on a machine without system fonts."""
    return ImageFont.load_default(size=size)


def text_width(text: str, size: int, bold: bool = False) -> float:
    return font(size).getlength(text) + (2 * stroke(size) if bold else 0)


def stroke(size: int) -> int:
    return max(1, size // 28)


def wrap(text: str, size: int, width: float, bold: bool) -> list[str]:
    """Greedy word wrap by measured width; a word too long for a line is split."""
    words: list[str] = []
    for word in text.split():
        while len(word) > 1 and text_width(word, size, bold) > width:
            cut = len(word) - 1
            while cut > 1 and text_width(word[:cut], size, bold) > width:
                cut -= 1
            words.append(word[:cut])
            word = word[cut:]
        words.append(word)
    lines: list[str] = []
    for word in words:
        if lines and text_width(f"{lines[-1]} {word}", size, bold) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def fit_name(name: str, width: float) -> tuple[int, list[str]]:
    """The largest size at which the venue's name fits in two lines (three, small, if it must)."""
    for size in (104, 92, 80, 70, 62):
        lines = wrap(name, size, width, bold=True)
        if len(lines) <= 2:
            return size, lines
    size = 54
    lines = wrap(name, size, width, bold=True)
    if len(lines) > 3:
        lines = lines[:3]
        lines[2] = textwrap.shorten(lines[2] + " …", 40, placeholder=" …")
    return size, lines


def make_qr(url: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code


def layout(venue: VenueLike, visitor_url: str) -> list[Text | Box | Circle | QR]:
    """Everything on the poster, in drawing order, in pixels of the A4 page."""
    items: list[Text | Box | Circle | QR] = []
    centre = WIDTH / 2
    inner = WIDTH - 2 * MARGIN

    # Header band.
    items.append(Box(0, 0, WIDTH, 190, GREEN))
    items.append(Text(centre, 110, "CHECK-IN", 84, WHITE, bold=True))
    items.append(Text(centre, 162, "Wajib check-in sebelum masuk · Check in before you enter", 30, WHITE))
    steps = DOOR_CODE_STEPS if venue.door_code_required else STEPS

    # Venue name and what it is.
    size, lines = fit_name(venue.name, inner)
    y = 190 + 40
    for line in lines:
        y += size
        items.append(Text(centre, y, line, size, INK, bold=True))
        y += size * 0.18
    kind = " · ".join(p for p in (CATEGORY_LABELS.get(venue.category, venue.category),
                                  venue.district) if p)
    if kind:
        y += 50
        items.append(Text(centre, y, kind, 38, GREY))
    top = y + 30

    # From the bottom up: the URL in small print, then the three steps.
    url_size = 26
    while url_size > 14 and text_width(visitor_url, url_size) > inner:
        url_size -= 2
    items.append(Text(centre, HEIGHT - 50, visitor_url, url_size, INK))
    items.append(Text(centre, HEIGHT - 50 - url_size - 14,
                      "Tidak bisa memindai? Buka alamat ini · Cannot scan? Open this address:", 24, GREY))
    step_height = 92
    steps_top = HEIGHT - 50 - url_size - 14 - 24 - 40 - step_height * len(steps)
    items.append(Box(MARGIN - 20, steps_top - 20, inner + 40, step_height * len(steps) + 20, PALE, 24))
    for i, (indonesian, english) in enumerate(steps):
        row = steps_top + i * step_height
        items.append(Circle(MARGIN + 34, row + 38, 30, GREEN))
        items.append(Text(MARGIN + 34, row + 52, str(i + 1), 40, WHITE, bold=True))
        items.append(Text(MARGIN + 90, row + 36, indonesian, 38, INK, bold=True, anchor="start"))
        items.append(Text(MARGIN + 90, row + 74, english, 30, GREY, anchor="start"))

    # The QR code takes the rest of the space, in whole pixels per module.
    code = make_qr(visitor_url)
    modules = code.modules_count + 2 * code.border
    room = min(steps_top - 30 - top, inner)
    box = max(2, int(room // modules))
    side = box * modules
    items.append(QR(int(centre - side / 2), int(top + (steps_top - 30 - top - side) / 2), box, code))
    return items


def render_poster(venue: VenueLike, visitor_url: str, fmt: str) -> bytes:
    """The venue's poster as PNG, SVG or PDF bytes."""
    if fmt not in FORMATS:
        raise InvalidInput(
            f"A poster is made as {', '.join(FORMATS)}; not '{fmt}'.", field="format",
            code="unsupported_format",
        )
    items = layout(venue, visitor_url)
    if fmt == "svg":
        return to_svg(items, venue.name)
    image = to_image(items)
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, "PNG", dpi=(DPI, DPI), optimize=True)
    else:
        image.save(out, "PDF", resolution=DPI, title=f"Check-in poster: {venue.name}")
    return out.getvalue()


def to_image(items: list) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(image)
    for item in items:
        if isinstance(item, Box):
            draw.rounded_rectangle(
                (item.x, item.y, item.x + item.width, item.y + item.height), item.radius, fill=item.fill
            )
        elif isinstance(item, Circle):
            draw.ellipse((item.cx - item.r, item.cy - item.r, item.cx + item.r, item.cy + item.r),
                         fill=item.fill)
        elif isinstance(item, Text):
            draw.text(
                (item.x, item.y), item.text, font=font(item.size), fill=item.fill,
                anchor="ms" if item.anchor == "middle" else "ls",
                stroke_width=stroke(item.size) if item.bold else 0, stroke_fill=item.fill,
            )
        elif isinstance(item, QR):
            item.code.box_size = item.box
            qr = item.code.make_image(image_factory=qrcode.image.pil.PilImage).get_image()
            image.paste(qr.convert("RGB"), (item.x, item.y))
    return image


SVG_NS = "http://www.w3.org/2000/svg"
PATH = f"{{{SVG_NS}}}path"  # how ElementTree names the path it parses from qrcode's SVG


def to_svg(items: list, title: str) -> bytes:
    root = ET.Element("svg", {
        "xmlns": SVG_NS, "version": "1.1", "width": "210mm", "height": "297mm",
        "viewBox": f"0 0 {WIDTH} {HEIGHT}",
    })
    ET.SubElement(root, "title").text = f"Check-in poster: {title}"
    ET.SubElement(root, "rect", {"width": "100%", "height": "100%", "fill": WHITE})
    for item in items:
        if isinstance(item, Box):
            ET.SubElement(root, "rect", {
                "x": f"{item.x:g}", "y": f"{item.y:g}", "width": f"{item.width:g}",
                "height": f"{item.height:g}", "rx": f"{item.radius:g}", "fill": item.fill,
            })
        elif isinstance(item, Circle):
            ET.SubElement(root, "circle", {
                "cx": f"{item.cx:g}", "cy": f"{item.cy:g}", "r": f"{item.r:g}", "fill": item.fill,
            })
        elif isinstance(item, Text):
            attrs = {
                "x": f"{item.x:g}", "y": f"{item.y:g}", "font-family": SVG_FONT,
                "font-size": str(item.size), "fill": item.fill, "text-anchor": item.anchor,
            }
            if item.bold:
                attrs["font-weight"] = "bold"
            ET.SubElement(root, "text", attrs).text = item.text  # ET escapes & and <
        elif isinstance(item, QR):
            root.append(svg_qr(item))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def svg_qr(item: QR) -> ET.Element:
    """qrcode's SVG path (one unit per module) placed and scaled by a nested <svg>."""
    item.code.box_size = 10  # SvgPathImage then draws in module units
    drawn = ET.fromstring(item.code.make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string())
    path = drawn.find(PATH)
    nested = ET.Element("svg", {
        "x": str(item.x), "y": str(item.y), "width": str(item.size), "height": str(item.size),
        "viewBox": f"0 0 {item.modules} {item.modules}", "shape-rendering": "crispEdges",
    })
    ET.SubElement(nested, "rect", {
        "width": str(item.modules), "height": str(item.modules), "fill": WHITE})
    ET.SubElement(nested, "path", {"d": path.get("d"), "fill": "#000000"})
    return nested
