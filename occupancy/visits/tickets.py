"""Tickets: long random-looking tokens, derived from the check-in's idempotency key.

Deriving (HMAC of the venue and the key) instead of storing means a retried check-in gets the same
ticket back although only the ticket's SHA-256 is stored anywhere. The venue id in front lets a
check-out find the venue's keys (one Redis slot) without any lookup.

Nobody can type a ticket at a door, so each ticket also has a short code: the first 8 hex digits
of its SHA-256 (a prefix of the stored hash, so no extra column), shown as ``3F9A-07C2``. It names
a visit only together with its venue, and only among that venue's open visits.
"""

import base64
import functools
import hashlib
import hmac
import re

from occupancy.params import MAX_ID
from occupancy.visits.errors import MalformedShortCode, MalformedTicket

_TICKET = re.compile(r"^([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{32})$")
SHORT_CODE_LENGTH = 8
_SHORT_CODE = re.compile(r"^([0-9a-f]{4})[ -]?([0-9a-f]{4})$")


@functools.cache
def _keyed(secret: str):
    # Copying a keyed HMAC costs 40 % of setting one up from the key, on every check-in.
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def derive(secret: str, venue_id: int, idempotency_key: str) -> str:
    mac = _keyed(secret).copy()
    mac.update(f"ticket:{venue_id}:{idempotency_key}".encode())
    return f"{venue_id}.{base64.urlsafe_b64encode(mac.digest()[:24]).decode()}"


def digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def venue_of(ticket: str) -> int:
    """The venue id a ticket belongs to; raises MalformedTicket for anything else."""
    match = _TICKET.match(ticket)
    if not match or int(match[1]) > MAX_ID:  # no venue has a larger id
        raise MalformedTicket()
    return int(match[1])


def short_code(ticket: str) -> str:
    """The code door staff can type: ``3F9A-07C2`` (upper-case, grouped by four)."""
    prefix = digest(ticket)[:SHORT_CODE_LENGTH].upper()
    return f"{prefix[:4]}-{prefix[4:]}"


def hash_prefix(code: str) -> str:
    """The ticket-hash prefix a typed short code stands for (any case, with or without the dash);
    raises MalformedShortCode for anything else."""
    match = _SHORT_CODE.match(code.strip().lower())
    if not match:
        raise MalformedShortCode()
    return match[1] + match[2]
