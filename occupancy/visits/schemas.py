"""Request bodies of the visit API, decoded with msgspec (the hot path skips pydantic)."""

import re

import msgspec

from occupancy.errors import InvalidInput

_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_PHONE = re.compile(r"^\+?[0-9]{8,15}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,100}$")
_LETTER = re.compile(r"[^\W\d_]")


class CheckInBody(msgspec.Struct, forbid_unknown_fields=True):
    """A party's check-in: name, phone and party_size are needed, unless ``booking`` is given (a
    booked party claiming its places: the booking has them)."""

    name: str = ""
    phone: str = ""
    party_size: int = 0
    email: str | None = None
    idempotency_key: str | None = None
    door_code: str | None = None  # from the door screen's QR code, where the venue requires it
    booking: str | None = None  # a booking's code (occupancy.bookings.claims)
    line: str | None = None  # a line code whose party was offered places (occupancy.line)


class TicketBody(msgspec.Struct, forbid_unknown_fields=True):
    """A ticket in a request body: never in a URL, which proxies and servers log."""

    ticket: str


class ScreeningBody(msgspec.Struct, forbid_unknown_fields=True):
    temperature: float


class TicketScreeningBody(msgspec.Struct, forbid_unknown_fields=True):
    """Door staff's screening of a scanned ticket: the ticket in the body, never in a URL."""

    ticket: str
    temperature: float


class ValidCheckIn(msgspec.Struct, frozen=True):
    name: str
    phone: str
    email: str | None
    party_size: int
    idempotency_key: str | None


def validate_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Please give your name.", field="name")
    if len(name) > 100 or not _LETTER.search(name) or not name.isprintable():
        raise InvalidInput("Please give a real name (up to 100 characters).", field="name")
    return name


def validate_phone(phone: str) -> str:
    normalized = _PHONE_SEPARATORS.sub("", phone)
    if not _PHONE.match(normalized):
        raise InvalidInput(
            "Please give a phone number of 8 to 15 digits, e.g. 0812 3456 7890 or +62812...",
            field="phone",
        )
    return normalized


def validate_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("That email address does not look right.", field="email")
    return email


def validate_party(party_size: int, max_party: int) -> int:
    if not 1 <= party_size <= max_party:
        raise InvalidInput(
            f"The party size must be between 1 and {max_party} (you and your companions).",
            field="party_size",
        )
    return party_size


def validate_key(key: str | None) -> str | None:
    if key is not None and not _KEY.match(key):
        raise InvalidInput(
            "The idempotency key must be 16-100 letters, digits, '-' or '_'.",
            field="idempotency_key",
        )
    return key


def validate_check_in(body: CheckInBody, max_party: int, header_key: str | None) -> ValidCheckIn:
    """The check-in's fields, each checked; every field's problem is reported at once (the first
    as the error, all of them in ``fields``), so that a form can mark them all."""
    try:  # the check-in path: plain calls, no bookkeeping for the usual valid body
        return ValidCheckIn(
            name=validate_name(body.name),
            phone=validate_phone(body.phone),
            email=validate_email(body.email),
            party_size=validate_party(body.party_size, max_party),
            idempotency_key=validate_key(body.idempotency_key or header_key),
        )
    except InvalidInput:
        pass
    problems = []
    for check in (lambda: validate_name(body.name), lambda: validate_phone(body.phone),
                  lambda: validate_email(body.email),
                  lambda: validate_party(body.party_size, max_party),
                  lambda: validate_key(body.idempotency_key or header_key)):
        try:
            check()
        except InvalidInput as exc:
            problems.append(exc)
    first = problems[0]
    raise InvalidInput(first.message, code=first.code, **first.details, fields=[
        {"field": p.details.get("field"), "code": p.code, "message": p.message} for p in problems])


def validate_temperature(temperature: float) -> float:
    if not 30.0 <= temperature <= 45.0:
        raise InvalidInput(
            "A body temperature must be between 30 and 45 °C; measure again.",
            field="temperature",
            code="temperature_out_of_range",
        )
    return round(temperature, 1)
