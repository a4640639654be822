"""Shared helpers to describe a materialisation in the Dagster UI."""

from __future__ import annotations

import dagster as dg
import duckdb


def preview(conn: duckdb.DuckDBPyConnection, sql: str, limit: int = 10) -> dg.MetadataValue:
    """A Markdown table of the first rows of a query, for the asset's metadata."""
    cursor = conn.execute(f"SELECT * FROM ({sql}) LIMIT {int(limit)}")
    columns = [column[0] for column in cursor.description]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in cursor.fetchall():
        cells = ("" if value is None else str(value).replace("|", "\\|").replace("\n", " ") for value in row)
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))
