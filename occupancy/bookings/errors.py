"""What a visitor or manager is told when a booking request cannot be done."""

from occupancy.errors import DomainError


class NoSlots(DomainError):
    status = 404
    code = "no_slots"
    message = "This venue is not run by time slots: no booking is needed, just come in."
