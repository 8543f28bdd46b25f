from occupancy.errors import DomainError


class UnknownVenue(DomainError):
    status = 404
    code = "unknown_venue"
    message = "There is no such venue."


class ForgedVenueCode(DomainError):
    status = 400
    code = "forged_venue_code"
    message = "This venue code is not valid: scan the QR code on the venue's poster again."


class VenueExists(DomainError):
    status = 409
    code = "venue_exists"
    message = "A venue with this code exists already."
