"""Path and query parameters shared by the routes, declared once and bounded.

An id beyond what SQL's integer column holds (PostgreSQL's int4) is refused with a 422 before any
query runs (a huge id once reached SQL and came back a 500).
"""

import time
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Path, Query

from occupancy.errors import InvalidInput
from occupancy.stats.calendar import local_date

# The largest id an ``Integer`` primary key can hold on every database (int4 on PostgreSQL).
MAX_ID = 2**31 - 1

VenueId = Annotated[int, Path(ge=1, le=MAX_ID, description="The venue's id")]
# The codes below are read by anchored, fixed-length patterns (``signing.verify``,
# ``tickets.venue_of``, ``tickets.hash_prefix``) whose own 400 (forged_venue_code,
# malformed_ticket, malformed_code) is the answer for any other string, long ones included: the
# same on the check-in and check-out routes, which skip FastAPI's validation (``hot_routes``).
SignedCode = Annotated[str, Path(description="The venue's signed code, as in its QR code's URL")]
Ticket = Annotated[str, Path(description="The visitor's ticket")]
ShortCode = Annotated[str, Path(description="The ticket's short code, e.g. 3F9A-07C2")]

# A history's range and grain (city and venue history): the city's days, parsed by
# ``stats.history.parse_period``.
From = Annotated[str | None, Query(alias="from", max_length=10,
                                   description="YYYY-MM-DD (local); today by default")]
To = Annotated[str | None, Query(alias="to", max_length=10,
                                 description="YYYY-MM-DD (local, inclusive); 'from' by default")]
By = Annotated[str, Query(max_length=10, description="hour or day")]

# One local day (a day's slots, bookings or visits): read by ``day_or_today`` or ``parse_day``.
Day = Annotated[str | None, Query(alias="date", max_length=10,
                                  description="YYYY-MM-DD (local); today by default")]


def parse_day(day: str) -> date:
    try:
        return date.fromisoformat(day)
    except ValueError as exc:
        raise InvalidInput("The date is written YYYY-MM-DD, e.g. 2026-12-07.", field="date") from exc


def day_or_today(day: str | None, tz: ZoneInfo) -> date:
    """The day asked for, or today on the city's clock."""
    return parse_day(day) if day else local_date(time.time(), tz)
