"""Line codes: derived from the join's idempotency key, as tickets and booking codes are.

``L<venue id>.<32 characters>``: unguessable (an HMAC of the service's secret), the venue id finds
the venue's keys (one Redis slot) without a lookup. Only the SHA-256 of a code is stored.
"""

import base64
import hashlib
import hmac
import re

from occupancy.line.errors import MalformedLineCode
from occupancy.params import MAX_ID

_CODE = re.compile(r"^L([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{32})$")


def derive(secret: str, venue_id: int, idempotency_key: str) -> str:
    mac = hmac.new(secret.encode(), f"line:{venue_id}:{idempotency_key}".encode(), hashlib.sha256)
    return f"L{venue_id}.{base64.urlsafe_b64encode(mac.digest()[:24]).decode()}"


def digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def venue_of(code: str) -> int:
    """The venue a line code belongs to; MalformedLineCode for anything else."""
    match = _CODE.match(code) if isinstance(code, str) else None
    if not match or int(match[1]) > MAX_ID:
        raise MalformedLineCode()
    return int(match[1])
