"""The catalogue as published: the schema's fields, as text, with the schema's limits.

Lists become ``|``-joined cells, dates become ISO datetimes in Paris time (opening at
00:00, closing at 23:59:59 of the stated day), long texts are cut at a word boundary
for export only (the warehouse keeps them whole), and only aids that satisfy the
schema are published. Each cell follows from its field in ``schemas/schema.json``
(:func:`published_expr`); only porteurs and the opening and closing dates have rules of their own.
"""

from __future__ import annotations

import duckdb
import polars as pl

from schemas import MULTI_VALUE_SEPARATOR, PublishedField, published_field, published_fields
from warehouse.db import query_frame
from warehouse.normalise.text import truncate_for_export

DESCRIPTION_MAX = published_field("description").max_length
PROMESSE_MAX = published_field("promesse").max_length


def _paris_datetime(column: str, time: str) -> pl.Expr:
    return (
        (pl.col(column).cast(pl.Utf8) + pl.lit(f" {time}"))
        .str.to_datetime("%Y-%m-%d %H:%M:%S")
        .dt.replace_time_zone("Europe/Paris", ambiguous="earliest", non_existent="null")
        .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
        .alias(column)
    )


def _utc_datetime(column: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias(column)


def _porteurs() -> pl.Expr:
    """The aid's actors with their SIREN and roles (``warehouse/normalise/acteurs.py``); an aid
    built before they were computed: its porteurs' names, role ``porteur``."""
    names = (
        pl.col("porteurs")
        .list.eval(
            pl.struct(
                pl.element().alias("nom"), pl.lit(None, pl.Utf8).alias("siren"), pl.lit(["porteur"]).alias("roles")
            ).struct.json_encode()
        )
        .list.join(", ")
    )
    return pl.coalesce(pl.col("acteurs"), pl.lit("[") + names + pl.lit("]")).alias("porteurs")


# Fields whose published text is not the generic one.
_SPECIFIC = {
    "porteurs": _porteurs,
    "date_ouverture": lambda: _paris_datetime("date_ouverture", "00:00:00"),
    "date_cloture": lambda: _paris_datetime("date_cloture", "23:59:59"),
}


def published_expr(field: PublishedField) -> pl.Expr:
    """The cell of ``field`` as published: lists joined by ``|`` (empty → null), datetimes as
    ISO text in UTC, texts cut at the schema's ``maxLength``, everything else as text."""
    if field.name in _SPECIFIC:
        return _SPECIFIC[field.name]()
    column = pl.col(field.name)
    if field.multi_valued:
        return column.list.join(MULTI_VALUE_SEPARATOR).replace("", None).alias(field.name)
    if field.type == "datetime":
        return _utc_datetime(field.name)
    if field.type == "string" and field.max_length is not None:
        return truncate_for_export(column, field.max_length).alias(field.name)
    return column.cast(pl.Utf8).alias(field.name)


def published_frame(conn: duckdb.DuckDBPyConnection, include_unpublishable: bool = False) -> pl.DataFrame:
    """The rows and columns of ``aides.csv``, every cell as text (null when empty)."""
    where = "" if include_unpublishable else "WHERE publiable"
    frame = query_frame(conn, f"SELECT * FROM aides {where} ORDER BY id")
    return frame.select([published_expr(field) for field in published_fields()])
