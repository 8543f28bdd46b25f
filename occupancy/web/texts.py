"""The text catalogue of the pages: one lookup for visitor and staff pages, in every language.

Each family of pages has its own book (``VISITOR``, ``STAFF``; the tables are in
``web.catalogue``). Templates read ``t[...]``; scripts get the book's script keys as JSON in the
page, so no text is hard-coded in JavaScript.
"""

from dataclasses import dataclass

from occupancy.web.catalogue import booking, staff, staff_slots, visitor
from occupancy.web.language import DEFAULT


@dataclass(frozen=True, slots=True)
class Book:
    tables: dict[str, dict[str, str]]  # language -> key -> text
    script_keys: tuple[str, ...]

    def texts(self, lang: str) -> dict[str, str]:
        return self.tables.get(lang, self.tables[DEFAULT])

    def for_script(self, lang: str) -> dict[str, str]:
        t = self.texts(lang)
        return {key: t[key] for key in self.script_keys}


# The venue page's time slots have their own table, joined to the visitor pages' texts.
VISITOR = Book({lang: {**table, **booking.TEXTS[lang]} for lang, table in visitor.TEXTS.items()},
               visitor.SCRIPT_KEYS + booking.SCRIPT_KEYS)
# Time slots and the line have their own table too, joined to the staff pages' texts.
STAFF = Book({lang: {**table, **staff_slots.TEXTS[lang]} for lang, table in staff.TEXTS.items()},
             staff.SCRIPT_KEYS + staff_slots.SCRIPT_KEYS)

_CATEGORY = "category_"


def categories(lang: str) -> dict[str, str]:
    """The names of the venue categories in ``lang`` (the city view's script labels with them)."""
    t = VISITOR.texts(lang)
    return {key[len(_CATEGORY):]: text for key, text in t.items() if key.startswith(_CATEGORY)}


def category(lang: str, name: str) -> str:
    return VISITOR.texts(lang).get(_CATEGORY + name, name)
