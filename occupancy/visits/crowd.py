"""The crowd level of a venue: the one rule behind the API, the dashboards' frames and the pages."""

BUSY_SHARE = 0.8  # from 80 % of the capacity a venue is "busy"


def crowd_level(count: int | None, capacity: int | None) -> str:
    """``low`` under 80 % of the capacity, ``busy`` from 80 %, ``full`` at capacity;
    ``unknown`` while the count or the capacity is not known.

    A capacity of 0 admits nobody (``checkin.lua`` refuses every party), so it is ``full``.
    """
    if count is None or capacity is None:
        return "unknown"
    if count >= capacity:
        return "full"
    return "busy" if count >= BUSY_SHARE * capacity else "low"
