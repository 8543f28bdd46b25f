"""CSV downloads: rows of plain values written with the csv module, served as an attachment."""

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi import Response


def csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def csv_response(rows: Iterable[dict], columns: Sequence[str], filename: str) -> Response:
    return Response(
        csv_text(rows, columns), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
