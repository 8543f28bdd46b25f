"""The JSON frames of docs/live-protocol.md, built from plain values (no personal data exists here).

Venue dashboards, the public door display and the city view each get their own shape.
"""

from dataclasses import dataclass

from occupancy.stats.today import (
    NO_LINE,
    PER_MINUTE_WINDOW,
    RECENT_EVENTS,
    LineLive,
    VenueLive,
    dense_series,
)
from occupancy.venues import signing
from occupancy.venues.service import VenueInfo
from occupancy.visits.crowd import crowd_level, crowd_level_with_line


def today(live: VenueLive) -> dict:
    t = live.today
    return {
        "entries": t.entries, "exits": t.exits, "visitors_in": t.visitors_in,
        "visitors_out": t.visitors_out, "refused_full": t.refused_full,
        "refused_fever": t.refused_fever, "avg_stay_minutes": t.avg_stay_minutes,
        "per_minute": live.per_minute,
    }


def level_with_line(count: int, capacity: int | None, line: LineLive) -> str:
    """The crowd level a visitor acts on (``crowd.crowd_level_with_line``)."""
    return crowd_level_with_line(count, capacity, line.waiting, line.offered)


def line_json(line: LineLive, at: float) -> dict:
    return {"waiting": line.waiting, "offered": line.offered,
            "longest_wait_seconds": line.longest_wait(at)}


def venue_info(info: VenueInfo, secret: str) -> dict:
    return {"id": info.id, "code": info.code, "name": info.name, "district": info.district,
            "category": info.category, "signed_code": signing.sign(secret, info.code)}


def venue_frame(live: VenueLive, info: VenueInfo, at: float, *, secret: str | None = None,
                snapshot: bool = False) -> dict:
    """A manager's or door staff's frame; a snapshot carries the venue, today's series, the
    last 60 minutes and the last events; an update only what may have changed since the last
    frame: the minutes still counting and the new events (see ``merge_venue_frames``)."""
    capacity = live.capacity if live.capacity is not None else info.capacity
    frame: dict = {"type": "snapshot" if snapshot else "update"}
    if snapshot:
        frame["venue"] = venue_info(info, secret or "")
    frame.update({
        "count": live.count, "capacity": capacity,
        "level": level_with_line(live.count, capacity, live.line),
        "paused": live.paused, "today": today(live), "recent": live.recent,
        "line": line_json(live.line, at),
    })
    if snapshot:
        frame["series"] = live.series
    else:
        frame["point"] = live.point
    frame["at"] = at
    return frame


def _event_key(event: dict) -> tuple:
    return event["at"], event["event"], event["party"]


def merge_recent(newer: list[dict], older: list[dict]) -> list[dict]:
    """Newest first, each event once (an event may be in a snapshot and in the update after it)."""
    merged, seen = [], set()
    for event in (*newer, *older):
        key = _event_key(event)
        if key not in seen:
            seen.add(key)
            merged.append(event)
    return merged[:RECENT_EVENTS]


def merge_minutes(older: list[list[int]], newer: list[list[int]], keep: int | None) -> list[list[int]]:
    """Per-minute figures by minute, the newer ones winning; ``keep``: the window to fill."""
    by_minute = {m[0]: m for m in older}
    by_minute.update({m[0]: m for m in newer})
    if keep is None or not by_minute:
        return [by_minute[m] for m in sorted(by_minute)]
    last = max(by_minute)
    return [by_minute.get(m, [m, 0, 0]) for m in range(last - 60 * (keep - 1), last + 1, 60)]


def merge_venue_frames(older: dict, newer: dict) -> dict:
    """Fold a frame not yet sent into the next one, so no event or minute is lost: a snapshot
    stays a snapshot (with the update applied), two updates become one."""
    if newer["type"] == "snapshot":
        return newer
    merged = {**older, **{k: v for k, v in newer.items() if k not in ("type", "today", "recent")}}
    keep = PER_MINUTE_WINDOW if older["type"] == "snapshot" else None
    merged["today"] = {**newer["today"], "per_minute": merge_minutes(
        older["today"]["per_minute"], newer["today"]["per_minute"], keep)}
    merged["recent"] = merge_recent(newer["recent"], older["recent"])
    if older["type"] == "snapshot":
        del merged["point"]
        merged["series"] = merge_point(older["series"], newer["point"])
    return merged


def merge_point(series: list[list[int]], point: list[int]) -> list[list[int]]:
    """Today's series with the current minute's point in it (the minutes between carried on)."""
    if series and point[0] < series[-1][0]:
        return series
    return dense_series({**dict(series), point[0]: point[1]}, point[0])


def display_frame(info: VenueInfo, count: int, capacity: int | None, paused: bool, at: float,
                  *, snapshot: bool = False, line: LineLive = NO_LINE) -> dict:
    """The public door display: the count, the light and the line, nothing else."""
    capacity = capacity if capacity is not None else info.capacity
    frame: dict = {"type": "snapshot" if snapshot else "update"}
    if snapshot:
        frame["venue"] = {"name": info.name}
    frame.update({"count": count, "capacity": capacity,
                  "level": level_with_line(count, capacity, line), "paused": paused,
                  "line": line_json(line, at), "at": at})
    return frame


@dataclass(slots=True)
class CityVenue:
    info: VenueInfo
    count: int
    capacity: int
    paused: bool

    def as_json(self) -> dict:
        i = self.info
        located = i.latitude is not None and i.longitude is not None
        return {"id": i.id, "code": i.code, "name": i.name, "district": i.district,
                "category": i.category, "count": self.count, "capacity": self.capacity,
                "level": crowd_level(self.count, self.capacity), "paused": self.paused,
                "location": [i.latitude, i.longitude] if located else None}


def _load(venue: dict) -> float:
    return venue["count"] / venue["capacity"] if venue["capacity"] else 1.0


def city_aggregates(venues: list[CityVenue]) -> dict:
    """The city's totals and its groups, each with its crowd level (the page does not compute it)."""
    totals = {"count": 0, "capacity": 0}
    by_district: dict[str, dict] = {}
    by_category: dict[str, dict] = {}
    for v in venues:
        for group in (totals, by_district.setdefault(v.info.district, {"count": 0, "capacity": 0}),
                      by_category.setdefault(v.info.category, {"count": 0, "capacity": 0})):
            group["count"] += v.count
            group["capacity"] += v.capacity
    for group in (totals, *by_district.values(), *by_category.values()):
        group["level"] = crowd_level(group["count"], group["capacity"])
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
