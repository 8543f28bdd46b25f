"""Envelope encryption of visitors' personal data.

Each process draws a random data key for a period (an hour by default), stores it only sealed to
the health office's public key (libsodium's sealed box), and encrypts each visitor's name, phone
and email with it (XChaCha20-Poly1305, bound to the visit's id). At the end of the period the
plaintext key is dropped: from then on neither the servers, nor a copy of the database, nor an
operator can read those visits; only the health office's private key opens their data key.
"""

import asyncio
import base64
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
)
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy.errors import DomainError
from occupancy.privacy.models import DataKey
from occupancy.settings import DEVELOPMENT_SECRET, Settings

log = logging.getLogger(__name__)
_NONCE = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


@dataclass(frozen=True, slots=True)
class Personal:
    name: str
    phone: str
    email: str | None


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    box: bytes  # nonce, then ciphertext and tag


class WrongKey(DomainError):
    """The private key given does not open this data (another key pair, or not a key at all)."""

    status = 422
    code = "wrong_key"
    message = "This private key does not open these visits."


def office_key_id(public_key: PublicKey) -> str:
    """A short fingerprint of a health office public key: which key pair a data key is sealed to."""
    return hashlib.blake2b(bytes(public_key), digest_size=8).hexdigest()


def public_key_from(text: str) -> PublicKey:
    return PublicKey(base64.b64decode(text.strip(), validate=True))


def private_key_from(text: str) -> PrivateKey:
    try:
        return PrivateKey(base64.b64decode(text.strip(), validate=True))
    except (ValueError, TypeError) as exc:
        raise WrongKey("That is not a private key (32 bytes in base64).") from exc


def private_keys_from(text: str) -> list[PrivateKey]:
    """One key per line: after a rotation the office's key file holds the new key and the old."""
    keys = [private_key_from(line) for line in text.split()]
    if not keys:
        raise WrongKey("Give the health office's private key to open the data.")
    return keys


class NoOfficeKey(Exception):
    """No health office public key is configured where one is required."""


# Where a development machine keeps its demo key pair (both halves: a real office never does).
DEMO_KEY_FILE = Path("occupancy-health-office-demo.key")


def office_public_key(settings: Settings) -> PublicKey:
    """The configured health office key; on a development machine a demo pair, made once."""
    if settings.health_office_public_key:
        return public_key_from(settings.health_office_public_key)
    if settings.secret_key != DEVELOPMENT_SECRET and not settings.development:
        raise NoOfficeKey(
            "Visitors' personal data must be sealed to the health office's public key: run "
            "`occupancy keys new` where the private key will be kept, then set "
            "OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY to the public key it prints.")
    if not DEMO_KEY_FILE.exists():
        public, private = new_key_pair()
        DEMO_KEY_FILE.touch(mode=0o600)
        DEMO_KEY_FILE.write_text(f"public {public}\nprivate {private}\n")
    log.warning("development mode: personal data is sealed to the demo key pair in %s (its private "
                "half is on this machine; set OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY for real visitors)",
                DEMO_KEY_FILE.resolve())
    halves = dict(line.split(" ", 1) for line in DEMO_KEY_FILE.read_text().split("\n") if line)
    return public_key_from(halves["public"])


def new_key_pair() -> tuple[str, str]:
    """(public, private), base64: the health office's pair, made where the private half stays."""
    private = PrivateKey.generate()
    return (base64.b64encode(bytes(private.public_key)).decode(),
            base64.b64encode(bytes(private)).decode())


def seal_with(key: bytes, visit_id: str, personal: Personal) -> bytes:
    """The personal data encrypted with a data key, bound to its visit (it opens in no other row)."""
    nonce = os.urandom(_NONCE)
    plain = msgspec.json.encode((personal.name, personal.phone, personal.email))
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(plain, visit_id.encode(), nonce, key)


def seal_data_key(office_key: PublicKey, key: bytes) -> bytes:
    return SealedBox(office_key).encrypt(key)


class Sealer:
    """Seals personal data in one process with its data key of the current period."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], office_key: PublicKey,
                 period_seconds: float = 3600.0) -> None:
        self.sessionmaker = sessionmaker
        self.office_key = office_key
        self.period_seconds = period_seconds
        self._key: tuple[str, bytes, float] | None = None  # id, key, monotonic end of its period
        self._lock = asyncio.Lock()

    async def seal(self, visit_id: str, personal: Personal) -> Sealed:
        key_id, key = await self._current()
        return Sealed(key_id, seal_with(key, visit_id, personal))

    async def _current(self) -> tuple[str, bytes]:
        if self._key is not None and time.monotonic() < self._key[2]:
            return self._key[0], self._key[1]
        async with self._lock:
            if self._key is None or time.monotonic() >= self._key[2]:
                self._key = None  # the old key is forgotten even if the new one cannot be stored
                self._key = await self._new_key()
            return self._key[0], self._key[1]

    async def _new_key(self) -> tuple[str, bytes, float]:
        key, key_id = os.urandom(32), os.urandom(16).hex()
        now = datetime.now(UTC)
        async with self.sessionmaker() as session:
            session.add(DataKey(
                id=key_id, office_key_id=office_key_id(self.office_key),
                sealed_key=seal_data_key(self.office_key, key), created_at=now,
                used_until=now + timedelta(seconds=self.period_seconds)))
            await session.commit()  # stored before any visit is sealed with it
        return key_id, key, time.monotonic() + self.period_seconds


class Opener:
    """Opens sealed personal data with the health office's private keys (given per query, kept
    nowhere): each data key is unsealed once. Several keys: the office's current one and those it
    replaced, for the visits sealed before a rotation."""

    def __init__(self, *private_keys: PrivateKey) -> None:
        self.private_keys = {office_key_id(key.public_key): key for key in private_keys}
        self.key_id = next(iter(self.private_keys))
        self._keys: dict[str, bytes] = {}

    def add_key(self, key: DataKey) -> None:
        private_key = self.private_keys.get(key.office_key_id)
        if private_key is None:
            raise WrongKey("This private key does not open these visits: they were sealed to "
                           f"health office key {key.office_key_id}, this key is "
                           f"{', '.join(self.private_keys)}.")
        try:
            self._keys[key.id] = SealedBox(private_key).decrypt(key.sealed_key)
        except CryptoError as exc:
            raise WrongKey("This private key does not open these visits.") from exc

    def open(self, visit_id: str, sealed: Sealed) -> Personal:
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise WrongKey("The data key of this visit is gone (purged after the retention period).")
        nonce, box = sealed.box[:_NONCE], sealed.box[_NONCE:]
        try:
            name, phone, email = msgspec.json.decode(crypto_aead_xchacha20poly1305_ietf_decrypt(
                box, visit_id.encode(), nonce, key))
        except CryptoError as exc:
            raise WrongKey("A visit's personal data does not open with its key.") from exc
        return Personal(name, phone, email)
