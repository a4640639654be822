"""The catalogue side of submissions: the pre-filled file a collectivité downloads, its code in
the referential, and the current geography of the catalogue's aids (for the territory check)."""

from __future__ import annotations

import io
import re

import duckdb

from warehouse.db import scalar
from warehouse.normalise.geography import GeoResolver
from warehouse.submissions.checks import submission_columns, territory_code


def catalogue_geography(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, ...]]:
    """``{id: eligibilite_geographique codes}`` of every aid of table ``aides`` (for ``catalogue=``)."""
    rows = conn.execute("SELECT CAST(id AS VARCHAR), eligibilite_geographique FROM aides").fetchall()
    return {aid_id: tuple(codes or ()) for aid_id, codes in rows}


def collectivite_code(conn: duckdb.DuckDBPyConnection, siren: str) -> str | None:
    """The schema code of a collectivité from the referential tables: a commune's SIREN
    (``ref_communes.siren``) → ``COM-…``, an EPCI's (``ref_epci.siren``) → ``EPCI-…``; ``DEP-xx``,
    ``REG-xx``, ``COM-…``, ``EPCI-…`` as they are when the referential has them; None otherwise."""
    text = (siren or "").strip()
    if re.fullmatch(r"\d{9}", text):
        row = conn.execute(
            "SELECT 'EPCI-' || siren FROM ref_epci WHERE siren = ? UNION ALL "
            "SELECT 'COM-' || code FROM ref_communes WHERE siren = ? LIMIT 1",
            [text, text],
        ).fetchone()
        return row[0] if row else None
    match = re.fullmatch(r"(COM|EPCI|DEP|REG)-([0-9AB]{2,9})", text)
    if not match:
        return None
    table, column = {
        "COM": ("ref_communes", "code"),
        "EPCI": ("ref_epci", "siren"),
        "DEP": ("ref_departements", "code"),
        "REG": ("ref_regions", "code"),
    }[match.group(1)]
    found = scalar(conn, f"SELECT count(*) FROM {table} WHERE {column} = ?", [match.group(2)])
    return text if found else None


def prefilled_submission(conn: duckdb.DuckDBPyConnection, siren: str, resolver: GeoResolver | None = None) -> bytes:
    """The pre-filled file for a collectivité (SIREN, or DEP-xx / REG-xx): the published aids
    (``aides`` where ``publiable``) whose eligibility lies within its territory, in the submission
    format with ``action`` empty; UTF-8 without BOM, formulas neutralised with ``'`` as in the releases.

    "Within" is the rule ``validate_submission`` applies with ``territory``: every code of the aid's
    ``eligibilite_geographique`` covers only communes of the territory — so a file filled from it
    passes the territory check. ``resolver``: pass one already built to save its construction.
    Raises ``ValueError`` for a collectivité the referential does not know.
    """
    import polars as pl

    from warehouse.publication.release_files import catalogue_frame, neutralise_formulas

    resolver = resolver or GeoResolver.from_warehouse(conn)
    code = territory_code(resolver, siren)
    if code is None:
        raise ValueError(f"collectivité inconnue du référentiel : {siren!r}")
    mine = frozenset(resolver.commune_codes(code))
    frame = catalogue_frame(conn)
    codes = frame.get_column("eligibilite_geographique").drop_nulls().str.split("|").explode().unique().to_list()
    inside = [c for c in codes if resolver.is_known(c) and (cs := resolver.commune_codes(c)) and mine.issuperset(cs)]
    outside = sorted(set(codes) - set(inside))
    geo = pl.col("eligibilite_geographique").str.split("|")
    frame = frame.filter(
        pl.col("eligibilite_geographique").is_not_null() & ~geo.list.eval(pl.element().is_in(outside)).list.any()
    )
    columns = submission_columns()
    frame = neutralise_formulas(frame).with_columns(pl.lit(None, pl.Utf8).alias("action")).select(columns).sort("id")
    buffer = io.BytesIO()
    frame.write_csv(
        buffer, separator=",", line_terminator="\n", quote_style="necessary", include_bom=False, null_value=""
    )
    return buffer.getvalue()
