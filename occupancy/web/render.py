"""One way to answer with an HTML page: the template, the texts in the reader's language, the
data for the page's script, the security headers, and the language cookie."""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from occupancy.kit.security_headers import page_headers
from occupancy.web import language, texts


@lru_cache
def _templates(directory: Path) -> Jinja2Templates:
    templates = Jinja2Templates(directory=directory)
    templates.env.filters["number"] = number
    return templates


def number(value: int, lang: str) -> str:
    """A count as the reader's language writes it (4.000 in Indonesian, 4,000 in English), the
    same as the pages' scripts (toLocaleString) write it."""
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if lang == "id" else grouped


@dataclass(frozen=True, slots=True)
class Pages:
    """A family of pages: its template folder (under ``web/templates``), its texts, its headers."""

    folder: str
    book: texts.Book
    headers: dict[str, str]

    def render(self, request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
        """``context["page"]`` joins the data every page's script gets (as ``page``): the
        language, the script's texts and the city's time zone (times are the city's, whatever
        the browser's zone)."""
        lang = language.choose(request)
        settings = request.app.state.settings
        page = {"lang": lang, "texts": self.book.for_script(lang), "timezone": settings.timezone,
                **context.get("page", {})}
        response = _templates(settings.web_dir / "templates").TemplateResponse(
            request, f"{self.folder}/{name}",
            {"t": self.book.texts(lang), "lang": lang, **context, "page": page},
            status_code=status_code, headers=self.headers,
        )
        language.remember(request, response)
        return response


# A visitor page loads only its own script, style and API; nothing else may run or be framed.
VISITOR = Pages("visitor", texts.VISITOR, page_headers("no-cache"))
# Staff pages are never cached. Referrer only to this origin (not none): then browsers without
# Fetch Metadata name our own pages in the Origin of their form posts, instead of "null" (see
# live/pages.py, _from_another_site).
STAFF = Pages("live", texts.STAFF, {**page_headers("no-store"), "Referrer-Policy": "same-origin"})
