"""A keyed hash of a normalised phone number: tracing finds a person's visits by it without
decrypting anything. The key never goes into the database, so a copy of it alone cannot test
phone numbers against the index."""

import hashlib
import hmac
import re

_NOT_DIGITS = re.compile(r"\D")


def normalise_phone(phone: str) -> str:
    """Digits in international form: 0812... and +62812... are one number (Indonesia's 0 prefix)."""
    digits = _NOT_DIGITS.sub("", phone)
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return digits


def index_key(secret: str) -> bytes:
    """The index key, derived from the service's secret (so one more secret need not be kept)."""
    return hmac.new(secret.encode(), b"occupancy phone index", hashlib.sha256).digest()


def phone_index(key: bytes, phone: str) -> str:
    return hashlib.blake2b(normalise_phone(phone).encode(), key=key, digest_size=16).hexdigest()
