"""What a visitor or manager is told when a line request cannot be done."""

from occupancy.errors import DomainError


class MalformedLineCode(DomainError):
    status = 400
    code = "malformed_line_code"
    message = "That is not a line code: open the line page from the venue's page again."


class AlreadyInLine(DomainError):
    status = 409
    code = "already_in_line"
    message = ("This phone already has a place in this venue's line: follow it on the page where "
               "you joined, or leave it there first.")


class UnknownLineEntry(DomainError):
    status = 404
    code = "unknown_line_entry"
    message = "There is no place in the line with this code."


class LineOfAnotherVenue(DomainError):
    status = 409
    code = "other_venue"
    message = "This place in the line is for another venue."


class NotYourTurn(DomainError):
    status = 409
    code = "line_not_offered"
    message = "It is not your turn yet: keep this page open, it tells you when places are yours."


class OfferPassed(DomainError):
    status = 409
    code = "offer_passed"
    message = ("Your offer ran out and passed to the next party in the line. Join the line again "
               "if you still want to come in.")


class LeftLine(DomainError):
    status = 409
    code = "line_left"
    message = "You left this line. Join it again if you still want to come in."


class AlreadyClaimed(DomainError):
    status = 409
    code = "line_claimed"
    message = "These places were already used to enter: there is nothing to leave."


class NoPlacesToOffer(DomainError):
    status = 409
    code = "no_free_places"
    message = ("The next party in the line does not fit in the places free now (or nobody "
               "waits): nothing was offered.")
