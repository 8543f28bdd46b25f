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


def crowd_level_with_line(count: int | None, capacity: int | None, waiting: int,
                          offered: int) -> str:
    """The level a visitor acts on: ``full`` while parties wait in the venue's line (a walk-in is
    not let in before them), and places offered to the line count as taken."""
    if waiting and capacity is not None:
        return "full"
    return crowd_level(None if count is None else count + offered, capacity)


def free_places(count: int, capacity: int, waiting: int, offered: int) -> int:
    """Places a walk-in could take now: none while parties wait; offered places are taken."""
    return 0 if waiting else max(0, capacity - count - offered)
