"""QR codes as SVG: a ticket on the visitor's ticket screen (for the door phone to scan), the door
screen's rotating code.

Drawn as SVG (sharp at any size, a few KB) from qrcode's path: one unit per module, a white
quiet zone, no fixed size, so the page's CSS decides how big it is.
"""

import xml.etree.ElementTree as ET

import qrcode
import qrcode.image.svg

SVG_NS = "http://www.w3.org/2000/svg"
_PATH = f"{{{SVG_NS}}}path"


def code(ticket: str) -> qrcode.QRCode:
    """The QR code holding exactly this string (medium error correction, 4-module border)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=10)
    qr.add_data(ticket)
    qr.make(fit=True)
    return qr


def svg(ticket: str, title: str = "Ticket QR code") -> bytes:
    qr = code(ticket)
    modules = qr.modules_count + 2 * qr.border
    # With box_size 10, SvgPathImage draws in module units (as the poster uses it).
    drawn = ET.fromstring(qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string())
    root = ET.Element("svg", {
        "xmlns": SVG_NS, "version": "1.1", "viewBox": f"0 0 {modules} {modules}",
        "shape-rendering": "crispEdges",
    })
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "rect", {"width": str(modules), "height": str(modules), "fill": "#ffffff"})
    ET.SubElement(root, "path", {"d": drawn.find(_PATH).get("d"), "fill": "#000000"})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
