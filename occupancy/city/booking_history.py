"""The bookings of days past (and today so far) for officials: per local day of the slot, per
district and category and for the city, places booked, claimed, no-shows and cancelled, and the
no-show rate, from SQL. Counts only: nothing personal exists at this level."""

from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.bookings import summary
from occupancy.bookings.summary import SlotFigures
from occupancy.city import grouping
from occupancy.city.bookings import shown
from occupancy.stats.history import Period

CSV_COLUMNS = ("day", "district", "category", "bookings", "booked", "claimed", "waiting",
               "no_shows", "cancelled", "no_show_rate")


async def cells(session: AsyncSession, period: Period):
    return sorted(await summary.figures_per_day(session, period.start, period.end),
                  key=lambda cell: cell[:3])


def history(found: list, period: Period) -> dict:
    return {"from": period.start.isoformat(), "to": period.end.isoformat(),
            **grouping.fold(found, SlotFigures, shown)}


def csv_rows(found: list) -> list[dict]:
    """One row per day, district and category with bookings."""
    return [{"day": day, "district": district, "category": category, **shown(figures)}
            for day, district, category, figures in found]
