"""CSV downloads neutralise spreadsheet formulas: a cell a spreadsheet would run comes out as text."""

import csv
import io

from occupancy.kit.downloads import csv_text

PAYLOADS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_formula_payloads_come_out_as_text():
    text = csv_text([{"name": p, "count": -1} for p in PAYLOADS], ["name", "count"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["'" + p for p in PAYLOADS]
    assert {r["count"] for r in rows} == {"-1"}  # numbers stay numbers


def test_ordinary_values_are_unchanged():
    text = csv_text([{"name": "Budi Santoso", "when": "2026-12-05 10:00"}], ["name", "when"])
    assert list(csv.DictReader(io.StringIO(text))) == [
        {"name": "Budi Santoso", "when": "2026-12-05 10:00"}]
