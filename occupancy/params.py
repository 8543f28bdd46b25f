"""Path and query parameters shared by the routes, declared once and bounded.

An id beyond what SQL's integer column holds (PostgreSQL's int4) is refused with a 422 before any
query runs (a huge id once reached SQL and came back a 500).
"""

from typing import Annotated

from fastapi import Path, Query

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
