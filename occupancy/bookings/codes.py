"""Booking codes: derived from the booking's idempotency key, as tickets are (visits.tickets).

``B<venue id>.<32 characters>``: the leading B tells a booking's QR code from a visit's ticket at
the door, and the venue id finds the venue's keys (one Redis slot) without a lookup. Only the
SHA-256 of a code is stored.
"""

import base64
import hashlib
import hmac
import re

from occupancy.bookings.errors import MalformedBooking
from occupancy.params import MAX_ID

_CODE = re.compile(r"^B([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{32})$")


def derive(secret: str, venue_id: int, idempotency_key: str) -> str:
    mac = hmac.new(secret.encode(), f"booking:{venue_id}:{idempotency_key}".encode(),
                   hashlib.sha256)
    return f"B{venue_id}.{base64.urlsafe_b64encode(mac.digest()[:24]).decode()}"


def digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def venue_of(code: str) -> int:
    """The venue a booking code belongs to; MalformedBooking for anything else."""
    match = _CODE.match(code)
    if not match or int(match[1]) > MAX_ID:
        raise MalformedBooking()
    return int(match[1])
