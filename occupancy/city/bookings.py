"""Today's bookings across the venues run by time slots, for officials: places booked, claimed
at the door and not claimed in time (no-shows), per venue, district and category, from SQL.
Counts only: nothing personal exists at this level."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.bookings import plans, summary
from occupancy.bookings.summary import SlotFigures
from occupancy.venues.cache import VenueCache
from occupancy.venues.errors import UnknownVenue


def shown(figures: SlotFigures) -> dict:
    """The figures and the no-show rate: the share of the settled places (claimed or expired)
    whose party never came; None while none is settled."""
    settled = figures.claimed + figures.no_shows
    return {**figures.as_json(),
            "no_show_rate": round(figures.no_shows / settled, 3) if settled else None}


async def day_figures(session: AsyncSession, venues: VenueCache, day: date) -> dict:
    """The venues run by slots now (a venue whose plan was removed drops out, bookings and all)."""
    by_venue: dict[int, SlotFigures] = {plan.venue_id: SlotFigures()
                                        for plan in await plans.plans(session)}
    for (venue_id, _), figures in (await summary.figures(session, day, day, list(by_venue))).items():
        by_venue[venue_id].add(figures)
    totals = SlotFigures()
    by_district: dict[str, SlotFigures] = {}
    by_category: dict[str, SlotFigures] = {}
    rows = []
    for venue_id, figures in by_venue.items():
        try:
            info = await venues.by_id(venue_id)
        except UnknownVenue:  # removed since
            continue
        for group in (totals, by_district.setdefault(info.district, SlotFigures()),
                      by_category.setdefault(info.category, SlotFigures())):
            group.add(figures)
        rows.append({"id": info.id, "code": info.code, "name": info.name,
                     "district": info.district, "category": info.category, **shown(figures)})
    rows.sort(key=lambda row: (-row["booked"], row["name"]))
    return {"date": day.isoformat(), "totals": shown(totals),
            "by_district": {name: shown(f) for name, f in sorted(by_district.items())},
            "by_category": {name: shown(f) for name, f in sorted(by_category.items())},
            "venues": rows}
