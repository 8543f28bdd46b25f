"""Lean JSON in and out for hot routes: msgspec decoding and pre-encoded bytes responses.

The errors stay those of every other route (``{"error": {"code", "message"}}``), and the
OpenAPI description gets the request schema from the msgspec type.
"""

import re
from typing import TypeVar

import msgspec
from fastapi import Request, Response

from occupancy.errors import BodyTooLarge, InvalidInput, UnsupportedMediaType

T = TypeVar("T")
_encoder = msgspec.json.Encoder()
_FIELD = re.compile(r"at `\$\.([A-Za-z_]+)")


async def read_json(request: Request, body_type: type[T], max_bytes: int) -> T:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        raise UnsupportedMediaType()
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"The request body must be at most {max_bytes} bytes.")
    body = bytearray()
    async for chunk in request.stream():  # refused as soon as it is too large, not once read
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(f"The request body must be at most {max_bytes} bytes.")
    try:
        return msgspec.json.decode(body, type=body_type)
    except msgspec.ValidationError as exc:
        match = _FIELD.search(str(exc))
        field = match[1] if match else None
        text = str(exc).split(" - at ")[0]
        if text.startswith("Expected `int`"):
            text = "Expected a whole number"
        elif text.startswith("Expected `float`"):
            text = "Expected a number"
        raise InvalidInput(f"{field}: {text}." if field else f"{text}.", field=field) from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput("The request body is not valid JSON.", code="malformed_json") from exc


_JSON_TYPE = (b"content-type", b"application/json")


class _JsonBytes(Response):
    """An encoded JSON body with its two headers set directly: starlette's Response works them
    out for each response (its render, its header checks), a fifth of a check-in's answer."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int) -> None:
        self.body = body
        self.status_code = status_code
        self.background = None
        self.raw_headers = [(b"content-length", b"%d" % len(body)), _JSON_TYPE]


def json_response(content: object, status_code: int = 200, headers: dict | None = None) -> Response:
    body = _encoder.encode(content)
    if headers is None:
        return _JsonBytes(body, status_code)
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")


def openapi_body(body_type: type) -> dict:
    """``openapi_extra`` that documents a msgspec request body."""
    (_,), components = msgspec.json.schema_components(
        [body_type], ref_template="#/components/schemas/{name}"
    )
    schema = components[body_type.__name__]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def svg_response(svg: bytes) -> Response:
    """A QR code's SVG for a visitor's screen: never cached, and unable to run or load anything."""
    return Response(svg, media_type="image/svg+xml", headers={
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })
