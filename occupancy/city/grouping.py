"""Figures kept per (local day, district, category), summed into what the city's history
shows: each day's city total, districts and categories, and the same over the whole period."""

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar


class Figures(Protocol):
    def add(self, other) -> None: ...


F = TypeVar("F", bound=Figures)
# One cell: (day as YYYY-MM-DD, district, category, its figures).
Cell = tuple[str, str, str, F]


def _groups(cells: list[Cell], new: Callable[[], F], shown: Callable[[F], dict]) -> dict:
    totals, by_district, by_category = new(), {}, {}
    for _, district, category, figures in cells:
        for group in (totals, by_district.setdefault(district, new()),
                      by_category.setdefault(category, new())):
            group.add(figures)
    return {"totals": shown(totals),
            "by_district": {name: shown(f) for name, f in sorted(by_district.items())},
            "by_category": {name: shown(f) for name, f in sorted(by_category.items())}}


def fold(cells: Iterable[Cell], new: Callable[[], F], shown: Callable[[F], dict]) -> dict:
    """``days``: each day with cells, in order, its totals, districts and categories; and the
    period's own (``totals``, ``by_district``, ``by_category``)."""
    cells = list(cells)
    per_day: dict[str, list[Cell]] = {}
    for cell in cells:
        per_day.setdefault(cell[0], []).append(cell)
    return {"days": [{"day": day, **_groups(per_day[day], new, shown)} for day in sorted(per_day)],
            **_groups(cells, new, shown)}
