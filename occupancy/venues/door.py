"""Proof of presence: the rotating door code.

A venue may require it. The door screen shows a QR code of the venue's visitor URL with a code
that changes every ``STEP`` seconds (an HMAC of the venue and the time step), so a photo of it is
useless a minute later; the printed poster then only sends visitors to the screen. A code is
accepted during its own step and the next (a visitor who scanned just before it changed).
"""

import base64
import hmac
import time

from occupancy.errors import DomainError

STEP = 30


class DoorCodeNeeded(DomainError):
    status = 403
    code = "door_code_needed"
    message = ("This venue checks you in from the screen at its door: please scan the QR code "
               "shown there (a photo of the poster is not enough).")


class DoorCodeStale(DomainError):
    status = 403
    code = "door_code_stale"
    message = ("That door code has expired or is not this venue's: please scan the QR code on "
               "the screen at the door again.")


def _code(secret: str, venue_id: int, step: int) -> str:
    digest = hmac.digest(secret.encode(), f"door:{venue_id}:{step}".encode(), "sha256")
    return base64.b32encode(digest[:10]).decode().lower()


def current(secret: str, venue_id: int, now: float | None = None) -> str:
    return _code(secret, venue_id, int((now or time.time()) // STEP))


def seconds_left(now: float | None = None) -> float:
    """Until the code shown now changes."""
    return STEP - (now or time.time()) % STEP


def check(secrets: str | tuple[str, ...], venue_id: int, code: str | None,
          now: float | None = None) -> None:
    """Refuse a check-in without a fresh door code of this venue (shown by a host using any of
    ``secrets``: while a new secret is rolled out, some hosts still use the previous one)."""
    if not code:
        raise DoorCodeNeeded()
    step = int((now or time.time()) // STEP)
    keys = (secrets,) if isinstance(secrets, str) else secrets
    if not any(hmac.compare_digest(code, _code(key, venue_id, s))
               for key in keys for s in (step, step - 1)):
        raise DoorCodeStale()


def door_url(visitor_url: str, secret: str, venue_id: int, now: float | None = None) -> str:
    """What the door screen's QR code opens: the visitor page with the current code."""
    return f"{visitor_url}?door={current(secret, venue_id, now)}"
