"""CSV downloads: rows of plain values written with the csv module, served as an attachment."""

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi import Response

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): a visitor's
# name such as "=HYPERLINK(...)" must arrive as text. OWASP's advice: prefix a single quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def csv_response(rows: Iterable[dict], columns: Sequence[str], filename: str) -> Response:
    return Response(
        csv_text(rows, columns), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
