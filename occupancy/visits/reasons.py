"""Why a check-in is refused and why a visit ends: each list once, for the service that records
them, the visit rows that store them and the metrics that export every one (at 0 before its
first event, so that a dashboard's rate is 0 rather than no data)."""

from enum import StrEnum


class Refusal(StrEnum):
    """Why a visitor was not let in (the ``reason`` of ``occupancy_refusals_total``)."""

    FULL = "full"
    PAUSED = "paused"
    RATE_LIMITED = "rate_limited"
    LINE_WAITING = "line_waiting"  # others wait in the venue's line (occupancy.line) for places
    FEVER = "fever"  # admitted by the script, then refused at the door's screening


class CheckOutReason(StrEnum):
    """Why a visit ended (``visits.checkout_reason``, ``occupancy_check_outs_total``)."""

    VISITOR = "visitor"
    STAFF = "staff"  # at the door, or a visitor's ticket checked out with a staff token
    AUTO = "auto"  # past the venue's maximum stay
    FEVER = "fever"
    SLOT_END = "slot_end"  # its booked time slot ended (occupancy/bookings)
