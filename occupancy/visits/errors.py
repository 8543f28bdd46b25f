from occupancy.errors import DomainError, ServiceUnavailable


class VenueFull(DomainError):
    status = 409
    code = "venue_full"
    message = "The venue is full right now. Please wait a few minutes and try again."


class LineWaiting(DomainError):
    status = 409
    code = "line_waiting"
    message = ("People are waiting in this venue's line for the next free places. Join the line: "
               "you will be called when it is your turn.")


class TooManyCheckIns(DomainError):
    status = 429
    code = "too_many_check_ins"
    message = ("Too many check-ins are arriving here at once. Please wait a few seconds and try "
               "again with the same form.")


class VenuePaused(DomainError):
    status = 409
    code = "venue_paused"
    message = "Entry to this venue is paused by its manager. Please try again later."


class MalformedTicket(DomainError):
    status = 400
    code = "malformed_ticket"
    message = "That is not a ticket: check the code on the visitor's screen."


class MalformedShortCode(DomainError):
    status = 400
    code = "malformed_code"
    message = "That is not a door code: it has 8 letters and digits, like 3F9A-07C2."


class AmbiguousShortCode(DomainError):
    status = 409
    code = "ambiguous_code"
    message = "Two visits here have this door code: scan the visitor's QR code instead."


class UnknownTicket(DomainError):
    status = 404
    code = "unknown_ticket"
    message = "There is no visit with this ticket."


class TicketOfAnotherVenue(DomainError):
    status = 409
    code = "other_venue"
    message = "This ticket is for another venue: the visitor checked in somewhere else."


class IdempotencyKeyReused(DomainError):
    status = 409
    code = "idempotency_key_reused"
    message = "This idempotency key belongs to another check-in; make a new key for a new visit."


class VisitAlreadyEnded(DomainError):
    status = 409
    code = "visit_ended"
    message = "This visit has already ended."


class NoWalkIn(DomainError):
    status = 409
    code = "no_walk_in"
    message = "No walk-in is inside to count out (visitors with a ticket check out with it)."


class CheckOutPending(ServiceUnavailable):
    code = "check_out_pending"
    message = ("Your check-out could not be confirmed just now. It will be completed as soon as "
               "the service recovers; you can also try again.")


class CountsRebuilding(ServiceUnavailable):
    code = "rebuilding"
    message = ("The live counts are being rebuilt after a fault; nothing was recorded. Please try "
               "again in a few seconds.")

    def __init__(self) -> None:
        super().__init__(retry_after_seconds=2)
