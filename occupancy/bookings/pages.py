"""What the venue page needs to offer time slots: the days that can be booked, the hold, the
largest party (``web/static/booking.js`` asks the API for each day's free slots)."""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from occupancy.bookings.errors import NoSlots
from occupancy.services import Services
from occupancy.stats.calendar import local_date

log = logging.getLogger(__name__)


async def booking_page(svc: Services, venue_id: int, max_party: int) -> dict | None:
    """The page's booking data, or None for a venue not run by slots (or whose plan cannot be
    read now: the page still checks people in)."""
    try:
        plan = await svc.bookings.plan(venue_id)
    except NoSlots:
        return None
    except Exception as exc:
        log.warning("could not read the slot plan of venue %s (%s)", venue_id, type(exc).__name__)
        return None
    today = local_date(datetime.now(UTC).timestamp(), ZoneInfo(svc.settings.timezone))
    days = [today + timedelta(days=n) for n in range(plan.days_ahead + 1)]
    return {
        "days": [day.isoformat() for day in days if plan.is_open(day)],
        "hold_minutes": plan.hold_minutes,
        "max_party": max(1, min(max_party, plan.bookable)),
    }
