"""Columns that follow from the published schema, added to the warehouse tables when it grows.

The SQL migrations create the tables as they were when each migration was written. A field
added later to ``schemas/schema.json`` needs a column in ``source_records`` (when sources may
state it: ``sources.record.OTHER_FIELDS``) and in ``aides``; this step adds the missing ones,
typed from the schema, after the migrations, so that adding an optional field takes no
migration by hand. Columns are only ever added, never dropped or retyped.
"""

from __future__ import annotations

from functools import cache

import duckdb

from schemas import PublishedField, load_schema, published_fields
from sources.record import LIST_FIELDS, OTHER_FIELDS

_SQL_TYPES = {
    "string": "VARCHAR",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMPTZ",
    "date": "DATE",
    "year": "INTEGER",
}


def sql_type(field: PublishedField) -> str:
    """The DuckDB type of a published field in ``aides`` (a list for a multi-valued one)."""
    try:
        base = _SQL_TYPES[field.type]
    except KeyError:
        raise ValueError(
            f"schemas/schema.json, champ {field.name!r} : type {field.type!r} sans colonne DuckDB"
        ) from None
    return f"{base}[]" if field.multi_valued else base


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = conn.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()
    return {row[0] for row in rows}


def add_published_columns(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Add the schema's columns the tables lack; return them as ``table.column``."""
    added = []
    stored = _columns(conn, "source_records")
    for name in OTHER_FIELDS:
        if name not in stored:
            conn.execute(
                f'ALTER TABLE source_records ADD COLUMN "{name}" {"VARCHAR[]" if name in LIST_FIELDS else "VARCHAR"}'
            )
            added.append(f"source_records.{name}")
    catalogue = _columns(conn, "aides")
    for field in published_fields():
        if field.name not in catalogue:
            conn.execute(f'ALTER TABLE aides ADD COLUMN "{field.name}" {sql_type(field)}')
            added.append(f"aides.{field.name}")
    return added


@cache
def published_schema_digest() -> str:
    """A digest of the published schema's fields: the columns need adding again when it changes."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(load_schema()["fields"], sort_keys=True).encode()).hexdigest()[:16]
