"""Every table, imported in one place for Alembic and for metadata.create_all."""

from occupancy.accounts.models import AccessToken, User
from occupancy.bookings.models import Booking, SlotPlan
from occupancy.db import Base
from occupancy.line.models import LineEntry, LineSetting
from occupancy.privacy.models import DataKey, TraceAudit
from occupancy.stats.models import VenueHour
from occupancy.venues.models import Venue
from occupancy.visits.models import Visit

__all__ = ["AccessToken", "Booking", "Base", "DataKey", "LineEntry", "LineSetting", "SlotPlan",
           "TraceAudit", "Venue", "User", "VenueHour", "Visit"]
