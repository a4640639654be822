"""The catalogue as published: the schema's fields, as text, with the schema's limits.

Lists become ``|``-joined cells, dates become ISO datetimes in Paris time (opening at
00:00, closing at 23:59:59 of the stated day), long texts are cut at a word boundary
for export only (the warehouse keeps them whole), and only aids that satisfy the
schema are published.
"""

from __future__ import annotations

import duckdb
import polars as pl

from schemas import field_names
from warehouse.db import query_frame
from warehouse.normalise.text import truncate_for_export

DESCRIPTION_MAX = 5000
PROMESSE_MAX = 180
_LISTS = ("types_aides", "programmes_parents", "cibles", "eligibilite_geographique",
          "eligibilite_geographique_exclusions", "thematiques", "sources")


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


def published_frame(conn: duckdb.DuckDBPyConnection, include_unpublishable: bool = False) -> pl.DataFrame:
    """The rows and columns of ``aides.csv``, every cell as text (null when empty)."""
    where = "" if include_unpublishable else "WHERE publiable"
    frame = query_frame(conn, f"SELECT * FROM aides {where} ORDER BY id")
    porteurs = pl.col("porteurs").list.eval(
        pl.struct(pl.element().alias("nom"), pl.lit(None, pl.Utf8).alias("siren"),
                  pl.lit(["porteur"]).alias("roles")).struct.json_encode()
    ).list.join(", ")
    return frame.select(
        pl.col("id").cast(pl.Utf8),
        "titre",
        truncate_for_export(pl.col("promesse"), PROMESSE_MAX).alias("promesse"),
        truncate_for_export(pl.col("description"), DESCRIPTION_MAX).alias("description"),
        "eligibilite",
        *[pl.col(c).list.join("|").replace("", None).alias(c) for c in _LISTS],
        (pl.lit("[") + porteurs + pl.lit("]")).alias("porteurs"),
        "url_source",
        _paris_datetime("date_ouverture", "00:00:00"),
        _paris_datetime("date_cloture", "23:59:59"),
        _utc_datetime("date_mise_a_jour"),
        "echelle",
        pl.col("montant_max").cast(pl.Utf8),
        pl.col("taux_max").cast(pl.Utf8),
        "url_demarche",
        "statut",
        "recurrence",
        _utc_datetime("date_collecte"),
    ).select(field_names())
