"""The JSON frames of docs/live-protocol.md, built from plain values (no personal data exists here).

Venue dashboards, the public door display and the city view each get their own shape.
"""

from dataclasses import dataclass

from occupancy.stats.today import VenueLive
from occupancy.venues import signing
from occupancy.venues.service import VenueInfo


def level(count: int, capacity: int | None) -> str:
    """low under 80 % of capacity, busy from 80 % to under 100 %, full at capacity."""
    if not capacity or count >= capacity:
        return "full"
    return "busy" if count >= 0.8 * capacity else "low"


def today(live: VenueLive) -> dict:
    t = live.today
    return {
        "entries": t.entries, "exits": t.exits, "visitors_in": t.visitors_in,
        "visitors_out": t.visitors_out, "refused_full": t.refused_full,
        "refused_fever": t.refused_fever, "avg_stay_minutes": t.avg_stay_minutes,
        "per_minute": live.per_minute,
    }


def venue_info(info: VenueInfo, secret: str) -> dict:
    return {"id": info.id, "code": info.code, "name": info.name, "district": info.district,
            "category": info.category, "signed_code": signing.sign(secret, info.code)}


def venue_frame(live: VenueLive, info: VenueInfo, at: float, *, secret: str | None = None,
                snapshot: bool = False) -> dict:
    """A manager's or door staff's frame; a snapshot carries the venue and today's series."""
    capacity = live.capacity if live.capacity is not None else info.capacity
    frame: dict = {"type": "snapshot" if snapshot else "update"}
    if snapshot:
        frame["venue"] = venue_info(info, secret or "")
    frame.update({
        "count": live.count, "capacity": capacity, "level": level(live.count, capacity),
        "paused": live.paused, "today": today(live), "recent": live.recent,
    })
    if snapshot:
        frame["series"] = live.series
    else:
        frame["point"] = live.point
    frame["at"] = at
    return frame


def display_frame(info: VenueInfo, count: int, capacity: int | None, paused: bool, at: float,
                  *, snapshot: bool = False) -> dict:
    """The public door display: the count and the light, nothing else."""
    capacity = capacity if capacity is not None else info.capacity
    frame: dict = {"type": "snapshot" if snapshot else "update"}
    if snapshot:
        frame["venue"] = {"name": info.name}
    frame.update({"count": count, "capacity": capacity, "level": level(count, capacity),
                  "paused": paused, "at": at})
    return frame


@dataclass(slots=True)
class CityVenue:
    info: VenueInfo
    count: int
    capacity: int
    paused: bool

    def as_json(self) -> dict:
        i = self.info
        return {"id": i.id, "code": i.code, "name": i.name, "district": i.district,
                "category": i.category, "count": self.count, "capacity": self.capacity,
                "level": level(self.count, self.capacity), "paused": self.paused}


def _load(venue: dict) -> float:
    return venue["count"] / venue["capacity"] if venue["capacity"] else 1.0


def city_aggregates(venues: list[CityVenue]) -> dict:
    totals = {"count": 0, "capacity": 0}
    by_district: dict[str, dict[str, int]] = {}
    by_category: dict[str, dict[str, int]] = {}
    for v in venues:
        for group in (totals, by_district.setdefault(v.info.district, {"count": 0, "capacity": 0}),
                      by_category.setdefault(v.info.category, {"count": 0, "capacity": 0})):
            group["count"] += v.count
            group["capacity"] += v.capacity
    return {"totals": totals, "by_district": by_district, "by_category": by_category}


def city_snapshot(venues: list[CityVenue], series: list[list[int]], at: float) -> dict:
    """Every venue, the fullest first (near or over capacity at the top)."""
    tiles = sorted((v.as_json() for v in venues), key=lambda v: (-_load(v), v["name"]))
    return {"type": "snapshot", "venues": tiles, **city_aggregates(venues), "series": series,
            "at": at}


def city_update(changed: list[CityVenue], venues: list[CityVenue], point: list[int], at: float) -> dict:
    return {"type": "update", "venues": [v.as_json() for v in changed], **city_aggregates(venues),
            "point": point, "at": at}


def merge_city_updates(older: dict, newer: dict) -> dict:
    """A city update not yet sent is folded into the next one: no changed venue is lost."""
    if older.get("type") != "update" or newer.get("type") != "update":
        return newer
    changed = {v["id"]: v for v in older["venues"]}
    changed.update({v["id"]: v for v in newer["venues"]})
    return {**newer, "venues": list(changed.values())}
