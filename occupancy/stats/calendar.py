"""Local days and minutes: statistics are kept per venue-local day, minutes as epoch seconds."""

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

STATS_TTL = 2 * 24 * 3600 + 3600  # Redis keeps today's and yesterday's counters, SQL the rest


def minute_of(epoch: float) -> int:
    return int(epoch // 60) * 60


def local_date(epoch: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(epoch, tz).date()


def day_key(day: date) -> str:
    return day.strftime("%Y%m%d")


def day_of(epoch: float, tz: ZoneInfo) -> str:
    """The key of the local day containing ``epoch``, e.g. ``20261123``."""
    return _day_of_minute(minute_of(epoch), tz)


@functools.lru_cache(maxsize=256)
def _day_of_minute(minute: int, tz: ZoneInfo) -> str:
    # Every check-in asks; days change only on whole minutes (UTC offsets are whole minutes).
    return day_key(local_date(minute, tz))


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local day, in UTC."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return day_start(day, tz), day_start(day + timedelta(days=1), tz)
