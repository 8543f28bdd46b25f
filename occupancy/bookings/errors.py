"""What a visitor or manager is told when a booking request cannot be done."""

from collections.abc import Iterator
from contextlib import contextmanager

from occupancy import metrics
from occupancy.errors import DomainError


class NoSlots(DomainError):
    status = 404
    code = "no_slots"
    message = "This venue is not run by time slots: no booking is needed, just come in."


class UnknownSlot(DomainError):
    status = 404
    code = "unknown_slot"
    message = "There is no such slot at this venue on that day: pick one of its free slots."


class SlotClosed(DomainError):
    status = 409
    code = "slot_closed"
    message = "This slot has started and its bookings are closed: pick a later slot."


class SlotFull(DomainError):
    status = 409
    code = "slot_full"
    message = "This slot is fully booked. The next slots with room are listed."


class TooManyBookings(DomainError):
    status = 409
    code = "booking_limit"
    message = "This phone number holds as many bookings here that day as the venue allows."


class MalformedBooking(DomainError):
    status = 400
    code = "malformed_booking"
    message = "That is not a booking code: scan the QR code on the booking screen again."


class UnknownBooking(DomainError):
    status = 404
    code = "unknown_booking"
    message = "There is no booking with this code."


class BookingOfAnotherVenue(DomainError):
    status = 409
    code = "other_venue"
    message = "This booking is for another venue."


class BookingCancelled(DomainError):
    status = 409
    code = "booking_cancelled"
    message = "This booking was cancelled: its places were given back."


class BookingClaimed(DomainError):
    status = 409
    code = "booking_claimed"
    message = "This booking was already used to enter: it can no longer be cancelled."


class ClaimTooEarly(DomainError):
    status = 409
    code = "claim_too_early"
    message = "This booking's slot has not started yet: come back at its start."


class BookingExpired(DomainError):
    status = 409
    code = "booking_expired"
    message = "This booking was not used in time after its slot started, and has expired."


@contextmanager
def refusals_counted() -> Iterator[None]:
    """Count a booking, cancellation or claim refused with a 4xx, by its code (a 503 is counted
    as every unavailable answer is)."""
    try:
        yield
    except DomainError as exc:
        if exc.status < 500:
            metrics.BOOKING_REFUSALS.labels(exc.code).inc()
        raise
