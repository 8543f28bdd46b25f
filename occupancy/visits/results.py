"""What check-in, check-out and screening answer: plain values the routes turn into JSON."""

from dataclasses import dataclass
from datetime import datetime

from occupancy.venues.service import VenueInfo


@dataclass(frozen=True, slots=True)
class CheckedIn:
    ticket: str
    visit_id: str
    venue: VenueInfo
    party_size: int
    checked_in_at: datetime
    count: int
    capacity: int
    replayed: bool
    open: bool


@dataclass(frozen=True, slots=True)
class CheckedOut:
    visit_id: str
    venue_id: int
    party_size: int
    checked_in_at: datetime
    checked_out_at: datetime
    reason: str
    count: int
    capacity: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class Screened:
    admitted: bool
    temperature: float
    threshold: float
    visit_id: str
    count: int
    capacity: int
