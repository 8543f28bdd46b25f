"""The journal's hand-written inserts (SQLite's executemany, PostgreSQL's unnest) name every field
of a new visit: a field added to NewVisit and forgotten there would be silently dropped."""

import dataclasses
import re

from occupancy.visits.writes import PG_BATCH, NewVisit, SqliteWrites


def inserted_columns(sql: str) -> set[str]:
    listed = re.search(r"INSERT INTO visits \(([^)]*)\)", sql)[1]
    return {column.strip() for column in listed.split(",")}


def test_the_plain_inserts_write_every_field_of_a_new_visit():
    fields = {field.name for field in dataclasses.fields(NewVisit)}
    assert inserted_columns(SqliteWrites.INSERT) == fields
    assert inserted_columns(PG_BATCH) == fields
