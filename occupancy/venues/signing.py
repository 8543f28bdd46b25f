"""Venue codes in QR URLs carry a short HMAC, so a code typed or printed by anyone else is refused.

A signed code looks like ``grand-mall.k3j9x2pq7m4ta``: the venue's code, a dot, the signature.
"""

import base64
import functools
import hmac
import re

from occupancy.venues.errors import ForgedVenueCode

CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_SIGNED = re.compile(r"^([a-z0-9][a-z0-9-]{1,39})\.([a-z2-7]{13})$")


def signature(secret: str, code: str) -> str:
    digest = hmac.digest(secret.encode(), f"venue:{code}".encode(), "sha256")
    return base64.b32encode(digest[:8]).decode().rstrip("=").lower()


def sign(secret: str, code: str) -> str:
    return f"{code}.{signature(secret, code)}"


# Every check-in verifies its venue's code: a city's few thousand genuine codes are remembered
# (8 us each otherwise). A forged code raises, and exceptions are never cached.
@functools.lru_cache(maxsize=65536)
def verify(secrets: str | tuple[str, ...], signed_code: str) -> str:
    """Return the venue code inside ``signed_code``; raise ForgedVenueCode if it is not ours.

    ``secrets``: the current secret, or it and the previous ones whose posters are still up."""
    match = _SIGNED.match(signed_code)
    keys = (secrets,) if isinstance(secrets, str) else secrets
    if not match or not any(hmac.compare_digest(match[2], signature(key, match[1]))
                            for key in keys):
        raise ForgedVenueCode()
    return match[1]


def visitor_url(public_url: str, secret: str, code: str) -> str:
    """The address a venue's QR code opens: ``{public_url}/v/{signed code}``."""
    return f"{public_url.rstrip('/')}/v/{sign(secret, code)}"
