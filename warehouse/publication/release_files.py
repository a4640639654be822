"""What a release contains: each file's rows, how they are written, and the package describing them.

``warehouse.publication.release`` decides *when* and *where* a release is published; this module says
*what* goes in it, set-based throughout (polars expressions, DuckDB SQL):

- ``aides.csv`` / ``aides.parquet``: every field of ``schemas/schema.json`` for the published
  aids (``warehouse.publication.projection.published_frame``), as text in the CSV and typed in the Parquet
  file (strings, ``timestamp with time zone``, ``float64``). Empty cells are null in both.
- ``dispositif-aide.csv``: the 15 official fields, for every row the official format can express
  (``EPCI-…`` codes written as the communes of the EPCI, see below); the others are listed, with
  their reasons, in ``CHANGELOG.md``.
- ``aides-communes.parquet``: one ``(commune, aid_id, statut)`` row per current commune and
  published aid whose eligibility covers it, exclusions removed, ordered by commune then aid id
  (row groups of 2^20 rows with min/max statistics, so a reader filtering on one commune
  reads one row group). Written a range of communes at a time (:class:`CommunePairs`): its
  memory is bounded by the slice, not by its tens of millions of rows.
- ``aides-zones.parquet`` and ``communes-zones.parquet``: the same answer in compact form. The
  first lists each aid once per code it names (``aid_id, code, exclusion, statut``: a national
  aid is one ``PAYS-99100`` row, not 34,969), the second each current commune with every code
  that covers it (``commune, code``: ``COM-`` itself, its ``EPCI-``, ``DEP-``, ``REG-`` and
  ``PAYS-99100``), both from ``TERRITORY_COMMUNES_SQL``, the one definition ``aides-communes``
  is computed from. So "the aids of commune X" = the aids with a non-exclusion code among X's
  codes and no exclusion code among them = the aids of X in ``aides-communes.parquet``, exactly.
- ``changements.csv`` / ``CHANGELOG.md`` / ``README.md`` / ``datapackage.json``.
- ``provenance.csv``: every source record behind each published aid (aid id, source, id at the
  source, its page, when the source was collected), so that any aid can be traced back.
- ``couverture.csv``: for each région, département, EPCI and commune of more than 10,000
  inhabitants, its own aids, their sources and collection, and its agents' last review
  (:mod:`warehouse.publication.coverage`; columns declared in ``schemas/couverture.json``).

Decisions others rely on:

- **Formula neutralisation (CSV only).** A text cell that a spreadsheet would run as a
  formula — first character ``=``, ``+``, ``-``, ``@``, tab or carriage return
  (``schemas.formulas``, the rule the submission validator applies too) — is written
  with a single quote ``'`` in front. Only fields of type ``string`` are concerned: numbers
  (never negative here) and ISO datetimes cannot start with those characters once validated.
  When the quote would push a text beyond its ``maxLength`` (``promesse``, ``description``),
  the text is cut at a word boundary with ``…`` first. The Parquet files keep the values
  unchanged: they are read by programs, not spreadsheets.
- **Time zones.** ``date_ouverture`` / ``date_cloture`` are Paris datetimes (``+01:00`` /
  ``+02:00``), ``date_mise_a_jour`` / ``date_collecte`` are UTC (``Z``), exactly as
  ``published_frame`` writes them; the Parquet columns carry the same zones.
- **dispositif-aide resource schema.** Derived at run time from OUR schema (its first 15 fields
  are the official ones): the two geography fields get the official pattern back
  (``schemas.OFFICIAL_GEO_CODES_PATTERN``) and their description without our "Écart au
  schéma" note, and ``url_source`` gets the official layout back (its pattern as a field
  property, outside ``constraints``, as the official file has it — so it is not enforced).
  The schema names the official file by its public URL (``path``). Nothing is read from
  ``../shared`` at run time; ``tests/test_release.py`` compares the derivation with it.
- **EPCI codes in dispositif-aide.csv.** The official schema defines no EPCI level, so a
  geography cell naming ``EPCI-<siren>`` codes is written, in that file only, as the ``COM-`` codes
  of the EPCIs' current member communes (``ref_epci_membres`` joined to ``ref_communes``: the
  release's referential), united with the cell's other codes, sorted and deduplicated; the same
  for the exclusions. It covers the same communes as the source's statement (the ones
  ``aides-communes.parquet`` gives), but no longer follows the EPCI if its membership changes:
  ``aides.csv`` keeps the ``EPCI-…`` code as the source states it. Cells without an EPCI code are
  written as they are. The official fields have no maximum length: an EPCI of 150 communes gives
  a cell of about 1,500 characters.
- **Rows left out of dispositif-aide.csv.** Only the rows the official schema refuses, each with
  its reasons: a Corsican code (``DEP-2A``, ``COM-2B033``, or an EPCI whose members are Corsican
  communes) fails the official pattern, which wants digits after the level; an EPCI without any
  current member commune in the referential cannot be written as communes; an empty official
  required field… These rows stay whole in ``aides.csv``.
- **Public addresses.** ``datapackage.json`` names each file by its name in the release folder
  (relative ``path``: the folder is self-contained), unless a public address is configured
  (``AIDES_PUBLIC_URL``, :func:`warehouse.settings.public_url`): then each ``path`` is
  ``<base>/telechargements/<version>/<file>``, the address the web application serves it at
  (pinned to the version, whose bytes and sha256 the package states, also when the package is
  read through ``/telechargements/latest/``). :func:`local_package` maps such a package back to
  the folder's files, for validating it without the network.
- **Parquet resources** are ``"type": "file"`` in ``datapackage.json`` (frictionless checks
  their ``bytes`` and ``hash``; reading Parquet rows would need pandas, and 50 million pairs
  at frictionless's speed would take hours); their row count is the custom ``num_rows``
  property (checked against the file's footer by the project's validator). The CSV resources
  have ``bytes``, ``hash`` (``sha256:…``) and ``rows``, all three checked by both validators.
- **CSV dialect stated in full**, ``skipInitialSpace`` included: a property left out is guessed
  by readers from the file's first lines (Python's ``csv.Sniffer``, which frictionless uses), and
  a guess could change how a cell reads.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from polars.io.plugins import register_io_source

from schemas import MULTI_VALUE_SEPARATOR, OFFICIAL_FIELDS, OFFICIAL_GEO_CODES_PATTERN, load_schema
from schemas.formulas import FORMULA_START_PATTERN, NEUTRALISING_QUOTE
from schemas.validate import validate_relation
from warehouse.db import query_frame
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.projection import published_frame
from warehouse.referential import TERRITORY_COMMUNES_SQL

# --------------------------------------------------------------------------- names

AIDES_CSV = "aides.csv"
AIDES_PARQUET = "aides.parquet"
DISPOSITIF_CSV = "dispositif-aide.csv"
COMMUNES_PARQUET = "aides-communes.parquet"
ZONES_PARQUET = "aides-zones.parquet"
COMMUNE_ZONES_PARQUET = "communes-zones.parquet"
CHANGES_CSV = "changements.csv"
PROVENANCE_CSV = "provenance.csv"
REDIRECTS_CSV = "redirections.csv"
COVERAGE_CSV = "couverture.csv"
CHANGELOG_MD = "CHANGELOG.md"
README_MD = "README.md"
DATAPACKAGE_JSON = "datapackage.json"

ADDED, MODIFIED, REMOVED = "ajoutée", "modifiée", "supprimée"
CHANGE_KINDS: tuple[str, ...] = (ADDED, MODIFIED, REMOVED)

PARQUET_MEDIATYPE = "application/vnd.apache.parquet"
LICENSE = {
    "name": "etalab-2.0",
    "title": "Etalab Licence Ouverte 2.0",
    "path": "https://spdx.org/licenses/etalab-2.0.html",
}

# The official schema, named by its public address (never read at run time).
OFFICIAL_SCHEMA_NAME = "dispositif-aide"
OFFICIAL_SCHEMA_TITLE = "Dispositifs d'aides"
OFFICIAL_SCHEMA_VERSION = "v0.2.0"
OFFICIAL_SCHEMA_URL = "https://github.com/etalab/schema-dispositif-aide/raw/v0.2.0/build/dispositif-aide/schema.json"
OFFICIAL_URL_SOURCE_PATTERN = r"^(https?://).+"  # as the official file writes it, outside constraints
GEO_FIELDS = ("eligibilite_geographique", "eligibilite_geographique_exclusions")
_DEVIATION_NOTE = " Écart au schéma dispositif-aide"
_OFFICIAL_GEO_CODE = r"^[A-Z]+-\d+$"  # one code of OFFICIAL_GEO_CODES_PATTERN

# Time zones of the datetime fields, as published_frame writes them (default: UTC, "Z").
_PARIS_FIELDS = frozenset({"date_ouverture", "date_cloture"})
_PARIS = "Europe/Paris"

COMMUNES_COLUMNS: tuple[str, ...] = ("commune", "aid_id", "statut")
ZONES_COLUMNS: tuple[str, ...] = ("aid_id", "code", "exclusion", "statut")
COMMUNE_ZONES_COLUMNS: tuple[str, ...] = ("commune", "code")
DOWNLOADS_PATH = "telechargements"  # <base>/telechargements/<version>/<file>, as the web application serves them


# --------------------------------------------------------------------------- schemas


AID_ID_FIELD: dict[str, Any] = {
    "name": "aid_id",
    "title": "Identifiant de l'aide",
    "type": "string",
    "format": "uuid",
    "description": "Identifiant (champ id de aides.csv) d'une aide publiée.",
    "constraints": {"required": True},
}
STATUT_FIELD: dict[str, Any] = {
    "name": "statut",
    "title": "Statut",
    "type": "string",
    "description": "Statut de l'aide (champ statut de aides.csv), pour filtrer sans jointure.",
}


def aides_schema() -> dict[str, Any]:
    """Our Table Schema as embedded in the package: its Table Schema properties only."""
    schema = load_schema()
    keep = ("name", "title", "description", "version", "path", "homepage", "primaryKey", "missingValues", "fields")
    return {key: schema[key] for key in keep if key in schema}


def official_schema() -> dict[str, Any]:
    """The dispositif-aide v0.2.0 Table Schema, derived from ours (see the module docstring)."""
    ours = load_schema()["fields"]
    fields = copy.deepcopy(ours[: len(OFFICIAL_FIELDS)])
    if tuple(f["name"] for f in fields) != OFFICIAL_FIELDS:
        raise ValueError("schemas/schema.json ne commence plus par les 15 champs officiels de dispositif-aide")
    for field in fields:
        if field["name"] in GEO_FIELDS:
            field["constraints"]["pattern"] = OFFICIAL_GEO_CODES_PATTERN
            field["description"] = field["description"].split(_DEVIATION_NOTE, 1)[0]
        elif field["name"] == "url_source":
            constraints = field.pop("constraints", {})
            constraints.pop("pattern", None)
            if constraints:
                field["constraints"] = constraints
            field["pattern"] = OFFICIAL_URL_SOURCE_PATTERN
    return {
        "name": OFFICIAL_SCHEMA_NAME,
        "title": OFFICIAL_SCHEMA_TITLE,
        "version": OFFICIAL_SCHEMA_VERSION,
        "path": OFFICIAL_SCHEMA_URL,
        "fields": fields,
    }


def communes_schema() -> dict[str, Any]:
    return {
        "fields": [
            {
                "name": "commune",
                "title": "Commune",
                "type": "string",
                "description": "Code INSEE d'une commune actuelle du Code officiel géographique.",
                "constraints": {"required": True},
            },
            {
                "name": "aid_id",
                "title": "Identifiant de l'aide",
                "type": "string",
                "format": "uuid",
                "description": "Identifiant (champ id de aides.csv) d'une aide publiée dont la couverture "
                "géographique contient la commune, exclusions déduites.",
                "constraints": {"required": True},
            },
            STATUT_FIELD,
        ],
        "primaryKey": ["commune", "aid_id"],
    }


def zones_schema() -> dict[str, Any]:
    return {
        "fields": [
            AID_ID_FIELD,
            {
                "name": "code",
                "title": "Code géographique",
                "type": "string",
                "description": "Un code (PAYS-, REG-, DEP-, EPCI-, COM-) du champ eligibilite_geographique de "
                "l'aide, ou de eligibilite_geographique_exclusions si exclusion est vrai, tel que aides.csv "
                f"l'écrit. Les communes qu'il couvre sont celles de {COMMUNE_ZONES_PARQUET}.",
                "constraints": {"required": True},
            },
            {
                "name": "exclusion",
                "title": "Exclusion",
                "type": "boolean",
                "description": "Vrai pour un code des exclusions : ses communes sont retirées de la couverture.",
                "constraints": {"required": True},
            },
            STATUT_FIELD,
        ],
        "primaryKey": ["aid_id", "code", "exclusion"],
    }


def commune_zones_schema() -> dict[str, Any]:
    return {
        "fields": [
            {
                "name": "commune",
                "title": "Commune",
                "type": "string",
                "description": "Code INSEE d'une commune actuelle du Code officiel géographique.",
                "constraints": {"required": True},
            },
            {
                "name": "code",
                "title": "Code géographique",
                "type": "string",
                "description": "Un code qui couvre la commune : COM- la commune elle-même, EPCI- son EPCI, DEP- "
                "son département, REG- sa région, PAYS-99100 (la France, collectivités d'outre-mer comprises).",
                "constraints": {"required": True},
            },
        ],
        "primaryKey": ["commune", "code"],
    }


def provenance_schema() -> dict[str, Any]:
    return {
        "fields": [
            AID_ID_FIELD,
            {
                "name": "source",
                "title": "Source",
                "type": "string",
                "description": "Identifiant de la source (champ sources de aides.csv) qui publie l'enregistrement.",
                "constraints": {"required": True, "pattern": "^[a-z0-9][a-z0-9-]*$"},
            },
            {
                "name": "identifiant_source",
                "title": "Identifiant à la source",
                "type": "string",
                "description": "Identifiant de l'enregistrement dans la source (règle publicodes, identifiant "
                "d'API, adresse de la page…).",
                "constraints": {"required": True},
            },
            {
                "name": "url_source",
                "title": "URL à la source",
                "type": "string",
                "format": "uri",
                "description": "Page de l'aide telle que cette source l'indique, s'il y en a une.",
            },
            {
                "name": "date_collecte",
                "title": "Date de collecte",
                "type": "datetime",
                "description": "Date et heure (UTC) de la dernière collecte de la source.",
            },
        ],
        "primaryKey": ["source", "identifiant_source"],
        "missingValues": [""],
    }


def provenance_frame(conn: duckdb.DuckDBPyConnection, text: pl.DataFrame) -> pl.DataFrame:
    """Every source record behind each published aid, as text, in a stable order."""
    conn.register("published_ids", text.select(pl.col("id").alias("aid_id")))
    try:
        frame = query_frame(
            conn,
            """
            SELECT p.aid_id::VARCHAR AS aid_id, p.source, p.native_id AS identifiant_source,
                   p.url AS url_source, s.fetched_at AS date_collecte
            FROM aides_provenance p
            JOIN published_ids i ON i.aid_id = p.aid_id::VARCHAR
            LEFT JOIN source_state s USING (source)
            ORDER BY aid_id, p.source, identifiant_source
            """,
        )
    finally:
        conn.unregister("published_ids")
    collected = (
        pl.col("date_collecte")
        .cast(pl.Utf8)
        .str.to_datetime(time_zone="UTC", strict=False)
        .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return frame.with_columns(collected.alias("date_collecte")).select(
        [f["name"] for f in provenance_schema()["fields"]]
    )


def redirects_schema() -> dict[str, Any]:
    return {
        "fields": [
            {
                "name": "ancien_id",
                "type": "string",
                "format": "uuid",
                "description": "Identifiant d'une aide fusionnée dans une autre : il n'est plus publié.",
                "constraints": {"required": True},
            },
            {
                "name": "id",
                "type": "string",
                "format": "uuid",
                "description": "L'aide publiée qui la remplace.",
                "constraints": {"required": True},
            },
            {"name": "date", "type": "datetime", "description": "Quand la fusion a eu lieu."},
        ],
        "primaryKey": ["ancien_id"],
        "missingValues": [""],
    }


def redirects_frame(conn: duckdb.DuckDBPyConnection, published_ids: pl.Series) -> pl.DataFrame:
    """(ancien_id, id, date): every aid id absorbed by a merge (``id_events`` ``fusion``), with the
    published aid it now belongs to (following later merges); ids whose chain ends on no
    published aid are left out."""
    events = query_frame(
        conn,
        """
        SELECT other_aid_id::VARCHAR AS ancien_id, aid_id::VARCHAR AS id,
               strftime(max(event_at) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS date
        FROM id_events WHERE kind = 'fusion' AND other_aid_id IS NOT NULL GROUP BY ALL
        """,
    )
    target = dict(zip(events["ancien_id"].to_list(), events["id"].to_list(), strict=True))
    published = set(published_ids.to_list())
    rows = []
    for old, when in zip(events["ancien_id"].to_list(), events["date"].to_list(), strict=True):
        seen, current = {old}, target[old]
        while current not in published and current in target and current not in seen:
            seen.add(current)
            current = target[current]
        if current in published and old not in published:
            rows.append((old, current, when))
    schema = {"ancien_id": pl.String, "id": pl.String, "date": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row").unique("ancien_id", keep="last").sort("ancien_id")


def changes_schema() -> dict[str, Any]:
    return {
        "fields": [
            {"name": "id", "type": "string", "format": "uuid", "constraints": {"required": True}},
            {"name": "changement", "type": "string", "constraints": {"required": True, "enum": list(CHANGE_KINDS)}},
            {
                "name": "champs",
                "type": "string",
                "description": "Champs modifiés, séparés par des pipes ; vide pour une aide ajoutée ou supprimée.",
            },
        ],
        "primaryKey": ["id"],
        "missingValues": [""],
    }


# --------------------------------------------------------------------------- frames


def catalogue_frame(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The published aids as text, ordered by id, with empty cells as nulls (as a CSV reads back)."""
    frame = published_frame(conn)
    return frame.with_columns(
        pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in frame.columns
    ).sort("id")


def _field_types() -> dict[str, str]:
    return {f["name"]: f.get("type", "string") for f in load_schema()["fields"]}


def expected_parquet_types() -> dict[str, pl.DataType]:
    """The column types of aides.parquet."""
    types: dict[str, pl.DataType] = {}
    for name, kind in _field_types().items():
        if kind == "number":
            types[name] = pl.Float64()
        elif kind == "integer":
            types[name] = pl.Int64()
        elif kind == "datetime":
            types[name] = pl.Datetime("us", _PARIS if name in _PARIS_FIELDS else "UTC")
        else:
            types[name] = pl.String()
    return types


def typed_frame(text: pl.DataFrame) -> pl.DataFrame:
    """aides.parquet's rows: the text frame with numbers and datetimes typed (strict: a cell that
    does not parse raises instead of becoming null)."""
    exprs = []
    for name, dtype in expected_parquet_types().items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            column = (
                column.str.replace(r"Z$", "+00:00")
                .str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_unit="us", strict=True)
                .dt.convert_time_zone(dtype.time_zone or "UTC")
            )
        elif dtype in (pl.Float64, pl.Int64):
            column = column.cast(dtype, strict=True)
        exprs.append(column.alias(name))
    return text.select(exprs)


def text_of_typed(typed: pl.DataFrame) -> pl.DataFrame:
    """The inverse of ``typed_frame``: how each typed value is written in the CSV."""
    exprs = []
    for name in typed.columns:
        dtype = typed.schema[name]
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if name in _PARIS_FIELDS:
                column = column.dt.convert_time_zone(_PARIS).dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            else:
                column = column.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif dtype != pl.String:
            column = column.cast(pl.String)
        exprs.append(column.alias(name))
    return typed.select(exprs)


def neutralise_formulas(frame: pl.DataFrame, schema: dict[str, Any] | None = None) -> pl.DataFrame:
    """Prefix ``'`` to string cells a spreadsheet would run as a formula (see module docstring)."""
    schema = schema or load_schema()
    exprs = []
    for field in schema["fields"]:
        name = field["name"]
        if name not in frame.columns or field.get("type", "string") != "string":
            continue
        text = pl.col(name)
        limit = field.get("constraints", {}).get("maxLength")
        body = text
        if limit is not None:
            room = int(limit) - 1  # one character for the quote
            at_word = text.str.slice(0, room - 1).str.replace(r"\s+\S*$", "") + pl.lit("…")
            body = pl.when(text.str.len_chars() > room).then(at_word).otherwise(text)
        exprs.append(
            pl.when(text.str.contains(FORMULA_START_PATTERN))
            .then(pl.lit(NEUTRALISING_QUOTE) + body)
            .otherwise(text)
            .alias(name)
        )
    return frame.with_columns(exprs) if exprs else frame


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """Comma-separated, UTF-8 without BOM, ``\\n`` line ends, quotes only where needed."""
    frame.write_csv(
        path, separator=",", line_terminator="\n", quote_style="necessary", include_bom=False, null_value=""
    )


def read_csv_text(path: Path) -> pl.DataFrame:
    """A release CSV read back with every cell as text (empty → null)."""
    return pl.read_csv(path, infer_schema=False, encoding="utf8", empty_string_is_null=True)


# --------------------------------------------------------------------------- dispositif-aide


def epci_communes(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(code, commune): each ``EPCI-…`` code and the ``COM-…`` code of each of its current member
    communes, from ``TERRITORY_COMMUNES_SQL`` (what ``aides-communes.parquet`` is computed from)."""
    return query_frame(
        conn,
        f"SELECT DISTINCT code, 'COM-' || commune AS commune FROM ({TERRITORY_COMMUNES_SQL}) "
        "WHERE starts_with(code, 'EPCI-') ORDER BY code, commune",
    )


def _geo_codes(official: pl.DataFrame, field: str) -> pl.DataFrame:
    """(id, code): the codes of one geography field, one row each."""
    return (
        official.select("id", pl.col(field).str.split(MULTI_VALUE_SEPARATOR).alias("code"))
        .explode("code")
        .filter(pl.col("code").is_not_null() & (pl.col("code") != ""))
    )


def expand_epci(official: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """``official`` with every geography cell that names an ``EPCI-…`` code rewritten for the
    official format: each EPCI code replaced by the ``COM-…`` codes of its member communes
    (``members``: :func:`epci_communes`), united with the cell's other codes, sorted and
    deduplicated. Other cells are unchanged; an EPCI without a known member stays as it is (its
    row is left out, see :func:`dispositif_exclusions`)."""
    for field in GEO_FIELDS:
        codes = _geo_codes(official, field)
        naming_epci = codes.filter(pl.col("code").str.starts_with("EPCI-")).select("id").unique()
        if naming_epci.is_empty():
            continue
        rewritten = (
            codes.join(naming_epci, on="id", how="semi")
            .join(members, on="code", how="left")
            .select("id", pl.coalesce("commune", "code").alias("code"))
            .unique()
            .group_by("id")
            .agg(pl.col("code").sort().str.join(MULTI_VALUE_SEPARATOR).alias("_communes"))
        )
        official = (
            official.join(rewritten, on="id", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_communes", field).alias(field))
            .drop("_communes")
        )
    return official


def dispositif_frame(
    conn: duckdb.DuckDBPyConnection, official: pl.DataFrame, resolver: GeoResolver, schema: dict[str, Any]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows of dispositif-aide.csv, (id, motif) of the rows left out), from ``official``: the 15
    official fields of the published aids, as aides.csv writes them."""
    members = epci_communes(conn)
    expanded = expand_epci(official, members)
    excluded = dispositif_exclusions(conn, official, resolver, schema, members=members, expanded=expanded)
    return expanded.join(excluded.select("id"), on="id", how="anti", maintain_order="left"), excluded


def dispositif_exclusions(
    conn: duckdb.DuckDBPyConnection,
    official: pl.DataFrame,
    resolver: GeoResolver,
    schema: dict[str, Any],
    members: pl.DataFrame | None = None,
    expanded: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """(id, motif) of the rows of ``official`` (the 15 fields, as written) that the official
    schema refuses once their EPCI codes are written as communes (``expanded``, by default
    :func:`expand_epci` of ``official``); one French reason per row. The geography is judged
    code by code as the source states it: a Corsican code, or an EPCI whose communes cannot all be
    written (Corsican members, or no current member at all)."""
    members = epci_communes(conn) if members is None else members
    expanded = expand_epci(official, members) if expanded is None else expanded
    epci_known = set(members.get_column("code").unique().to_list())
    refused_members: dict[str, list[str]] = {}
    for code, commune in members.filter(~pl.col("commune").str.contains(_OFFICIAL_GEO_CODE)).iter_rows():
        refused_members.setdefault(code, []).append(commune)
    geo_reasons = []
    for field in GEO_FIELDS:
        codes = _geo_codes(official, field)
        is_epci = pl.col("code").str.starts_with("EPCI-")
        epci_bad = ~pl.col("code").is_in(sorted(epci_known)) | pl.col("code").is_in(sorted(refused_members))
        bad = codes.filter(pl.when(is_epci).then(epci_bad).otherwise(~pl.col("code").str.contains(_OFFICIAL_GEO_CODE)))
        if bad.is_empty():
            continue
        distinct = bad.get_column("code").unique().sort().to_list()  # few distinct codes
        reasons = pl.DataFrame(
            {
                "code": distinct,
                "raison": [
                    _geo_reason(code, resolver, code in epci_known, refused_members.get(code, [])) for code in distinct
                ],
            },
            schema={"code": pl.String, "raison": pl.String},
        )
        geo_reasons.append(
            bad.join(reasons, on="code", how="left")
            .group_by("id")
            .agg(pl.col("raison").unique().sort().str.join(" ; "))
            .select("id", (pl.lit(f"{field} : ") + pl.col("raison")).alias("motif"), pl.lit(field).alias("champ"))
        )
    numbered = expanded.with_row_index("_ligne", offset=1)
    name = "_release_dispositif"
    conn.register(name, numbered)
    try:
        violations = validate_relation(conn, name, "_ligne", schema=schema, limit=None)
    finally:
        conn.unregister(name)
    ids = numbered.get_column("id").to_list()
    checked = pl.DataFrame(
        {
            "id": [ids[v.row - 1] for v in violations],
            "champ": [v.field for v in violations],
            "contrainte": [v.constraint for v in violations],
            "motif": [f"{v.field} : {v.message}" for v in violations],
        },
        schema={"id": pl.String, "champ": pl.String, "contrainte": pl.String, "motif": pl.String},
    )
    geo = (
        pl.concat(geo_reasons)
        if geo_reasons
        else pl.DataFrame(schema={"id": pl.String, "motif": pl.String, "champ": pl.String})
    )
    # A geography pattern violation is already told, code by code, by the geo reasons.
    checked = checked.join(geo.select("id", "champ"), on=["id", "champ"], how="anti").select("id", "motif")
    return (
        pl.concat([geo.select("id", "motif"), checked])
        .group_by("id")
        .agg(pl.col("motif").unique().sort().str.join(" ; "))
        .sort("id")
    )


_MEMBERS_SHOWN = 3


def _geo_reason(code: str, resolver: GeoResolver, epci_known: bool = False, refused: list[str] | None = None) -> str:
    label = resolver.label(code)
    if code.startswith("EPCI-"):
        if not epci_known:
            return (
                f"{label} : aucune commune membre actuelle dans le référentiel géographique, "
                "l'EPCI ne peut pas s'écrire en communes (niveau absent du schéma officiel)"
            )
        refused = refused or []
        shown = ", ".join(refused[:_MEMBERS_SHOWN]) + ("…" if len(refused) > _MEMBERS_SHOWN else "")
        return (
            f"{label} : {len(refused)} commune(s) membre(s) corse(s) ({shown}), refusée(s) par le motif "
            "officiel (que des chiffres après le niveau)"
        )
    if code[:4] in ("DEP-", "COM-") and ("-2A" in code or "-2B" in code):
        return f"{label} : code corse, refusé par le motif officiel (que des chiffres après le niveau)"
    return f"{label} : code refusé par le motif officiel (NIVEAU-chiffres, niveau en majuscules)"


# --------------------------------------------------------------------------- aides-communes

_PAIRS_ROW_GROUP = 1 << 20
# Pairs computed at once, at most (plus the pairs of one commune): what bounds the memory of
# the file's writing, whatever the size of the catalogue. Measured at 100,000 records (33.6
# million pairs), the process grows by 0.22 GB with slices of 2^18 pairs, 0.29 GB with 2^20,
# 0.33 GB with 2^21, 0.61 GB with 2^22 (2.1 GB when every pair was held), in the same time
# within the noise: each slice costs two small joins, a few milliseconds.
_PAIRS_SLICE = 1 << 20


class CommunePairs:
    """(commune, aid_id, statut) for every current commune and every aid of ``text`` covering it,
    computed in consecutive slices of communes (:meth:`slices`): concatenated, the slices are
    the rows of aides-communes.parquet in its order (by commune, then aid id).

    Why slices: 79 % of the pairs are national aids times 34,969 communes, so the whole set is
    far larger than its input (34 to 55 million pairs for 100,000 records, about 200 million
    for a million: 2 GB, then 15 GB, when held at once). Each slice is a range of communes whose keys — counted beforehand
    from the number of aids naming each code, an upper bound of its pairs — stay within
    ``slice_pairs`` (default ``_PAIRS_SLICE``; a commune is never cut, so a slice can exceed it
    by the aids of one commune).

    Set-based, on integers: each aid's codes are split and numbered once, here; for a slice, they
    are joined to the communes of that slice each code covers (COM itself, EPCI members, DEP / REG
    communes, PAYS-99100 all communes; another country covers none), every pair becomes one
    64-bit key ``commune rank · 2^b + aid rank``, the keys are sorted (which orders the rows by
    commune, then aid id, and lets duplicates — overlapping codes — be dropped by comparing
    neighbours), the pairs of the exclusions are removed, and only then are the strings gathered
    (views of the strings, not copies).

    The referential is read when the object is made, on the caller's connection and thread;
    :meth:`slices` only computes (it may run in a thread of polars' streaming engine).
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection, text: pl.DataFrame, slice_pairs: int | None = None) -> None:
        communes = query_frame(conn, "SELECT code FROM ref_communes ORDER BY code").get_column("code")
        covered = query_frame(conn, f"SELECT code, commune FROM ({TERRITORY_COMMUNES_SQL})")
        rank = pl.DataFrame({"commune": communes}).with_row_index("c")
        codes = covered.select(pl.col("code").unique()).with_row_index("t")
        # (t, c): each code and each commune it covers, by commune: a slice is a contiguous range.
        self._territories = covered.join(rank, on="commune").join(codes, on="code").select("t", "c").sort("c", "t")
        aids = text.select("id", "statut", *GEO_FIELDS).sort("id")
        numbered = aids.select(*GEO_FIELDS).with_row_index("a")

        def named(field: str) -> pl.DataFrame:
            """(a, t): the codes each aid names in ``field``, as numbers (unknown codes cover nothing)."""
            return (
                numbered.select("a", pl.col(field).str.split(MULTI_VALUE_SEPARATOR).alias("code"))
                .explode("code")
                .join(codes, on="code")
                .select("a", "t")
            )

        self._included, self._excluded = named(GEO_FIELDS[0]), named(GEO_FIELDS[1])
        # The keys each commune gives before deduplication (what a slice holds at its peak), then
        # consecutive ranges of communes of at most ``slice_pairs`` keys.
        budget = _PAIRS_SLICE if slice_pairs is None else slice_pairs
        self._bounds: list[tuple[int, int]] = list(
            self._territories.join(self._included.group_by("t").len("n"), on="t")
            .group_by("c")
            .agg(pl.col("n").sum().cast(pl.Int64))
            .sort("c")
            .group_by(((pl.col("n").cum_sum() - pl.col("n")) // max(1, budget)).alias("s"), maintain_order=True)
            .agg(pl.col("c").first().alias("first"), pl.col("c").last().alias("last"))
            .select("first", "last")
            .iter_rows()
        )
        self._shift = max(1, (aids.height - 1).bit_length())
        # One chunk each: a gather over several chunks is several times slower (68 ms instead of
        # 8 ms for 2 million communes, measured; the referential query returns two chunks).
        self._communes = communes.rechunk()
        self._ids = aids.get_column("id").rechunk()
        self._statuts = aids.get_column("statut").rechunk()

    def slices(self) -> Iterator[pl.DataFrame]:
        """The pairs, one range of communes at a time, in the file's order."""
        shift = self._shift
        key = (pl.col("c").cast(pl.UInt64) * (1 << shift) + pl.col("a").cast(pl.UInt64)).alias("k")
        by_commune = self._territories.get_column("c")
        schema = {name: pl.String for name in COMMUNES_COLUMNS}
        for first, last in self._bounds:
            begin = by_commune.search_sorted(first, side="left")
            part = self._territories.slice(begin, by_commune.search_sorted(last, side="right") - begin)
            dropped = self._excluded.join(part, on="t").select(key).get_column("k")
            kept = (
                self._included.join(part, on="t")
                .select(key)
                .sort("k")
                .filter(pl.col("k").ne_missing(pl.col("k").shift(1)) & ~pl.col("k").is_in(dropped.implode()))
                .get_column("k")
            )
            aid = (kept % (1 << shift)).cast(pl.UInt32)
            yield pl.DataFrame(
                {
                    "commune": self._communes.gather((kept // (1 << shift)).cast(pl.UInt32)),
                    "aid_id": self._ids.gather(aid),
                    "statut": self._statuts.gather(aid),
                },
                schema=schema,
            )


def write_communes_parquet(conn: duckdb.DuckDBPyConnection, text: pl.DataFrame, path: Path) -> int:
    """Write aides-communes.parquet (rows ordered by commune, then aid id); return its row count.

    The slices of :class:`CommunePairs` stream into polars' own Parquet sink (through an IO
    source), which cuts them into row groups of ``_PAIRS_ROW_GROUP`` rows across slices: the
    file is byte for byte the one a single ``write_parquet`` of every pair would write (same
    encodings, dictionaries, statistics and row groups), with one slice held at a time instead
    of every pair (at 100,000 records, the process grows by 0.3 GB instead of 2.1 GB, in less
    time: see ``_PAIRS_SLICE`` and benchmarks/README.md). ``register_io_source`` is polars'
    IO-plugin interface, marked unstable: the version is pinned by uv.lock, and
    tests/test_release.py checks the bytes against a one-shot ``write_parquet``.
    """
    pairs = CommunePairs(conn, text)
    _streamed(pairs.slices, pl.Schema({name: pl.String() for name in COMMUNES_COLUMNS})).sink_parquet(
        path, compression="zstd", row_group_size=_PAIRS_ROW_GROUP, statistics=True
    )
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _streamed(frames: Callable[[], Iterator[pl.DataFrame]], schema: pl.Schema) -> pl.LazyFrame:
    """A LazyFrame whose rows are ``frames()``, computed one frame at a time as a streaming sink
    pulls them (the projection, filter and row limit polars pushes down are applied to each)."""

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        left = n_rows
        for frame in frames():
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            yield frame
            if left == 0:
                return

    return register_io_source(source, schema=schema)


# --------------------------------------------------------------------------- aides-zones, communes-zones


def zones_frame(text: pl.DataFrame) -> pl.DataFrame:
    """aides-zones.parquet's rows: (aid_id, code, exclusion, statut), one per code each aid names
    in its geography (exclusion false) or its exclusions (true), ordered by aid id, exclusion, code."""
    parts = [
        text.select(
            pl.col("id").alias("aid_id"),
            pl.col(field).str.split(MULTI_VALUE_SEPARATOR).alias("code"),
            pl.lit(exclusion).alias("exclusion"),
            "statut",
        )
        .explode("code")
        .filter(pl.col("code").is_not_null() & (pl.col("code") != ""))
        for field, exclusion in zip(GEO_FIELDS, (False, True), strict=True)
    ]
    schema = pl.Schema({"aid_id": pl.String, "code": pl.String, "exclusion": pl.Boolean, "statut": pl.String})
    return (
        pl.concat(parts)
        .unique(["aid_id", "code", "exclusion"])
        .sort("aid_id", "exclusion", "code")
        .select(list(ZONES_COLUMNS))
        .cast(schema)
    )


def commune_zones_frame(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """communes-zones.parquet's rows: (commune, code) for every current commune and every code that
    covers it (``TERRITORY_COMMUNES_SQL``), ordered by commune, then code."""
    return query_frame(
        conn,
        f"SELECT DISTINCT commune, code FROM ({TERRITORY_COMMUNES_SQL}) ORDER BY commune, code",
    ).select(list(COMMUNE_ZONES_COLUMNS))


_SMALL_FILE_ZSTD_LEVEL = 19  # ~175,000 rows at most: 0.1 s, a sixth smaller than the default level


def write_zones_parquets(
    conn: duckdb.DuckDBPyConnection, text: pl.DataFrame, zones_path: Path, communes_path: Path
) -> tuple[int, int]:
    """Write aides-zones.parquet and communes-zones.parquet; return their row counts."""
    zones = zones_frame(text)
    zones.write_parquet(zones_path, compression="zstd", compression_level=_SMALL_FILE_ZSTD_LEVEL, statistics=True)
    communes = commune_zones_frame(conn)
    communes.write_parquet(communes_path, compression="zstd", compression_level=_SMALL_FILE_ZSTD_LEVEL, statistics=True)
    return zones.height, communes.height


def communes_of_zones(zones: pl.DataFrame, commune_zones: pl.DataFrame) -> pl.DataFrame:
    """(commune, aid_id, statut), the pairs of aides-communes.parquet, derived from the two compact
    files: an aid covers a commune when one of its codes covers it and none of its exclusions does.
    Ordered by commune, then aid id, as aides-communes.parquet."""
    covered = zones.join(commune_zones, on="code")
    included = covered.filter(~pl.col("exclusion")).select("commune", "aid_id", "statut").unique()
    excluded = covered.filter(pl.col("exclusion")).select("commune", "aid_id")
    return included.join(excluded, on=["commune", "aid_id"], how="anti").sort("commune", "aid_id")


# --------------------------------------------------------------------------- changes


def same_content(previous: pl.DataFrame, current: pl.DataFrame) -> bool:
    """Whether two aides.parquet frames hold the same rows (order ignored), columns and types."""
    if previous.schema != current.schema or previous.height != current.height:
        return False
    return previous.sort("id").equals(current.sort("id"))


def compute_changes(previous: pl.DataFrame | None, current: pl.DataFrame) -> pl.DataFrame:
    """changements.csv's rows: (id, changement, champs) of every aid added, modified or removed."""
    schema = pl.Schema({"id": pl.String, "changement": pl.String, "champs": pl.String})
    if previous is None:
        return current.select("id", pl.lit(ADDED).alias("changement"), pl.lit(None, pl.String).alias("champs"))
    previous = _aligned(previous, current)
    fields = [c for c in current.columns if c != "id"]
    joined = current.join(previous, on="id", how="full", suffix="_avant", coalesce=False)
    changed = [pl.when(pl.col(c).ne_missing(pl.col(f"{c}_avant"))).then(pl.lit(c)) for c in fields]
    out = joined.select(
        pl.coalesce("id", "id_avant").alias("id"),
        pl.when(pl.col("id_avant").is_null())
        .then(pl.lit(ADDED))
        .when(pl.col("id").is_null())
        .then(pl.lit(REMOVED))
        .otherwise(pl.lit(MODIFIED))
        .alias("changement"),
        pl.concat_list(changed).list.drop_nulls().list.join(MULTI_VALUE_SEPARATOR).alias("champs"),
    )
    out = out.filter((pl.col("changement") != MODIFIED) | (pl.col("champs") != "")).with_columns(
        pl.when(pl.col("changement") == MODIFIED).then(pl.col("champs")).otherwise(None).alias("champs")
    )
    order = pl.col("changement").replace_strict({k: i for i, k in enumerate(CHANGE_KINDS)}, return_dtype=pl.Int8)
    return out.sort(order, "id").select(list(schema)).cast(schema)


def _aligned(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """The previous frame with the current columns and types (a new column is null before)."""
    exprs = []
    for name, dtype in current.schema.items():
        if name in previous.columns:
            exprs.append(pl.col(name).cast(dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype).alias(name))
    return previous.select(exprs)


def change_counts(changes: pl.DataFrame) -> dict[str, int]:
    counts = dict(changes.group_by("changement").len().iter_rows())
    return {kind: int(counts.get(kind, 0)) for kind in CHANGE_KINDS}


# --------------------------------------------------------------------------- sources


def source_counts(text: pl.DataFrame) -> pl.DataFrame:
    """(source, aides): how many published aids each source contributes to."""
    return (
        text.select(pl.col("sources").str.split(MULTI_VALUE_SEPARATOR).alias("source"))
        .explode("source")
        .filter(pl.col("source").is_not_null())
        .group_by("source")
        .len("aides")
        .sort("source")
    )


def package_sources(sources: list[dict] | None, counts: pl.DataFrame) -> list[dict[str, Any]]:
    """Data Package ``sources``: the given declarations, else the source ids of the catalogue."""
    if not sources:
        return [{"title": name} for name in counts.get_column("source").to_list()]
    out = []
    for declared in sources:
        name = declared.get("name")
        title = declared.get("title") or declared.get("publisher") or name
        entry: dict[str, Any] = {"title": str(title) if title else "source sans nom"}
        if name:
            entry["name"] = str(name)
        path = declared.get("path") or declared.get("homepage")
        if path:
            entry["path"] = str(path)
        out.append(entry)
    return out


# --------------------------------------------------------------------------- datapackage


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def csv_resource(
    folder: Path, name: str, filename: str, title: str, schema: dict[str, Any], rows: int
) -> dict[str, Any]:
    """A CSV table resource: frictionless checks its schema, bytes, sha256 and row count."""
    path = folder / filename
    return {
        "name": name,
        "title": title,
        "type": "table",
        "path": filename,
        "scheme": "file",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "dialect": {
            "delimiter": ",",
            "quoteChar": '"',
            "doubleQuote": True,
            "lineTerminator": "\n",
            "skipInitialSpace": False,  # stated: otherwise readers guess it from the first lines
            "header": True,
        },
        "schema": schema,
        "bytes": path.stat().st_size,
        "hash": f"sha256:{sha256_file(path)}",
        "rows": rows,
    }


def parquet_resource(
    folder: Path,
    name: str,
    filename: str,
    title: str,
    schema: dict[str, Any],
    rows: int,
    description: str | None = None,
) -> dict[str, Any]:
    """A Parquet file resource: frictionless checks bytes and sha256; rows are ``num_rows``."""
    path = folder / filename
    resource: dict[str, Any] = {"name": name, "title": title}
    if description:
        resource["description"] = description
    resource.update(
        {
            "type": "file",
            "path": filename,
            "scheme": "file",
            "format": "parquet",
            "mediatype": PARQUET_MEDIATYPE,
            "schema": schema,
            "bytes": path.stat().st_size,
            "hash": f"sha256:{sha256_file(path)}",
            "num_rows": rows,
        }
    )
    return resource


def public_file_url(base: str, version: str, filename: str) -> str:
    """The address the web application serves a release file at: ``<base>/telechargements/<version>/<file>``."""
    return f"{base.rstrip('/')}/{DOWNLOADS_PATH}/{version}/{filename}"


def datapackage(
    version: str,
    created: str,
    sources: list[dict[str, Any]],
    resources: list[dict[str, Any]],
    public_url: str | None = None,
) -> dict[str, Any]:
    """The package of a release; with ``public_url`` (the site's base address), each resource's
    ``path`` is its public address (:func:`public_file_url`) and its ``scheme`` ``https``/``http``,
    else the file's name in the folder."""
    if public_url:
        scheme = public_url.split(":", 1)[0]
        resources = [
            {**r, "path": public_file_url(public_url, version, r["path"]), "scheme": scheme} for r in resources
        ]
    return {
        "name": "catalogue-aides-transition-ecologique",
        "title": "Catalogue national des aides à la transition écologique",
        "description": "Les aides à la transition écologique de tous leurs éditeurs, normalisées au schéma "
        "aides-transition-ecologique (compatible dispositif-aide v0.2.0 d'Etalab). "
        "Voir README.md et CHANGELOG.md.",
        "version": version,
        "created": created,
        "licenses": [LICENSE],
        "sources": sources,
        "keywords": ["aides", "transition écologique", "dispositif-aide", "subventions"],
        "resources": resources,
    }


def local_package(package: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``package`` with each resource's public address (``…/telechargements/<version>/<file>``)
    turned back into the name of its file in ``folder``, to validate it without the network.
    Raises ValueError for a path that is neither a file name nor that release's address of one."""
    version = str(package.get("version", ""))
    resources = []
    for resource in package.get("resources", []):
        path = str(resource.get("path", ""))
        if "://" in path:
            prefix, _, filename = path.rpartition("/")
            if not prefix.endswith(f"/{DOWNLOADS_PATH}/{version}") or not (folder / filename).is_file():
                raise ValueError(f"{path} n'est l'adresse publique d'aucun fichier de la publication {version}")
            resource = {**resource, "path": filename, "scheme": "file"}
        resources.append(resource)
    return {**package, "resources": resources}


def write_json(data: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- notes


def _md(text: Any) -> str:
    """A value safe inside a Markdown table cell."""
    if text is None:
        return ""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


_LIST_LIMIT = 200


def changelog(
    version: str,
    published_at: str,
    previous_version: str | None,
    counts: dict[str, int],
    changes: pl.DataFrame,
    titles: pl.DataFrame,
    excluded: pl.DataFrame,
    per_source: pl.DataFrame,
    source_titles: dict[str, str],
    epci_written_as_communes: int = 0,
) -> str:
    """CHANGELOG.md, in French: figures, changes, aids left out of dispositif-aide.csv, sources.

    ``titles`` has (id, titre) for the current and the removed aids; ``excluded`` (id, motif);
    ``epci_written_as_communes``: how many rows of dispositif-aide.csv name EPCI codes in aides.csv.
    """
    tally = change_counts(changes)
    lines = [f"# Publication {version}", ""]
    lines.append(f"Publiée le {published_at} (heure de Paris).")
    lines.append(
        f"Publication précédente : {previous_version}."
        if previous_version
        else "Première publication : toutes les aides sont ajoutées."
    )
    lines += ["", "## En chiffres", "", "| fichier | lignes |", "| --- | ---: |"]
    for name, value in counts.items():
        lines.append(f"| {_md(name)} | {value} |")
    lines += ["", "## Changements", ""]
    lines.append(
        f"{tally[ADDED]} aide(s) ajoutée(s), {tally[MODIFIED]} modifiée(s), {tally[REMOVED]} supprimée(s)"
        f" (détail ligne par ligne : `{CHANGES_CSV}`)."
    )
    detailed = changes.join(titles, on="id", how="left")
    for kind, heading in ((ADDED, "Ajoutées"), (MODIFIED, "Modifiées"), (REMOVED, "Supprimées")):
        part = detailed.filter(pl.col("changement") == kind)
        if part.is_empty():
            continue
        lines += ["", f"### {heading} ({part.height})", ""]
        for row in part.head(_LIST_LIMIT).iter_rows(named=True):
            champs = f" — champs : {row['champs'].replace(MULTI_VALUE_SEPARATOR, ', ')}" if row["champs"] else ""
            lines.append(f"- `{row['id']}` {_md(row['titre'])}{champs}")
        if part.height > _LIST_LIMIT:
            lines.append(f"- … et {part.height - _LIST_LIMIT} autre(s), voir `{CHANGES_CSV}`.")
    lines += ["", f"## Aides écartées de {DISPOSITIF_CSV}", ""]
    if epci_written_as_communes:
        lines.append(
            f"{epci_written_as_communes} aide(s) nommant des EPCI y sont écrites avec les communes membres "
            f"de ces EPCI (le schéma officiel ne définit pas de niveau EPCI ; voir `{README_MD}`)."
        )
        lines.append("")
    if excluded.is_empty():
        lines.append("Aucune : toutes les aides publiées respectent le schéma dispositif-aide v0.2.0.")
    else:
        lines.append(
            f"{excluded.height} aide(s) ne respectent pas le schéma officiel dispositif-aide v0.2.0 ; "
            f"elles restent entières dans `{AIDES_CSV}`."
        )
        lines += ["", "| id | titre | motif |", "| --- | --- | --- |"]
        for row in excluded.join(titles, on="id", how="left").iter_rows(named=True):
            lines.append(f"| `{row['id']}` | {_md(row['titre'])} | {_md(row['motif'])} |")
    lines += ["", "## Aides par source", "", "| source | nom | aides |", "| --- | --- | ---: |"]
    for source, number in per_source.iter_rows():
        lines.append(f"| {_md(source)} | {_md(source_titles.get(source, ''))} | {number} |")
    lines.append("")
    lines.append("Une aide trouvée dans plusieurs sources et fusionnée compte pour chacune d'elles.")
    lines.append("")
    return "\n".join(lines)


def readme(version: str, referential: str | None = None, public_url: str | None = None) -> str:
    """README.md of a release: the files and the rules a reuser must know.

    ``referential``: the geographic referential the release was built with ("package version");
    ``public_url``: the site's base address, when ``datapackage.json`` names the files by it."""
    built_with = f" (ici {referential})" if referential else ""
    if public_url:
        where = (
            f"Dans `{DATAPACKAGE_JSON}`, chaque fichier est désigné par son adresse publique, "
            f"`{public_file_url(public_url, version, '<fichier>')}` (la version est fixée : la taille et "
            f"l'empreinte annoncées sont celles de ces fichiers)."
        )
    else:
        where = (
            f"Dans `{DATAPACKAGE_JSON}`, chaque fichier est désigné par son nom dans ce dossier, "
            "qui se suffit à lui-même."
        )
    return f"""# Catalogue des aides à la transition écologique — publication {version}

Licence : Etalab Licence Ouverte 2.0. Description machine : `{DATAPACKAGE_JSON}` (Data Package,
vérifié avant publication aux règles de frictionless, puis par `frictionless validate` une fois
publié). Changements : `{CHANGELOG_MD}`, `{CHANGES_CSV}`.
{where}

## Fichiers

| fichier | contenu |
| --- | --- |
| `{AIDES_CSV}` | toutes les aides publiées, tous les champs du schéma aides-transition-ecologique, dans l'ordre du schéma |
| `{AIDES_PARQUET}` | les mêmes lignes et colonnes, typées : texte, dates avec fuseau horaire, nombres (float64) |
| `{DISPOSITIF_CSV}` | les 15 champs de dispositif-aide v0.2.0 d'Etalab, strictement valide : toutes les aides qu'il exprime |
| `{COMMUNES_PARQUET}` | une ligne (commune, aid_id, statut) par commune actuelle et par aide qui la couvre, exclusions déduites |
| `{ZONES_PARQUET}` | forme compacte du précédent : une ligne (aid_id, code, exclusion, statut) par code de chaque aide |
| `{COMMUNE_ZONES_PARQUET}` | une ligne (commune, code) par commune actuelle et par code qui la couvre (voir plus bas) |
| `{CHANGES_CSV}` | id, changement (ajoutée, modifiée, supprimée), champs modifiés, par rapport à la publication précédente |
| `{PROVENANCE_CSV}` | chaque enregistrement source derrière chaque aide publiée : aide, source, identifiant et page à la source, collecte |
| `{COVERAGE_CSV}` | par collectivité (région, département, EPCI, commune > 10 000 hab.) : aides propres, sources, relecture |

## Règles d'écriture

- CSV séparés par des virgules, encodés en UTF-8 sans BOM, fins de ligne `\\n`, guillemets doubles
  seulement quand une cellule en contient, ou contient une virgule ou un saut de ligne.
- Cellules à plusieurs valeurs : valeurs séparées par `|`, sans espace.
- Dates : ISO 8601 avec fuseau ; `date_ouverture` (00:00:00) et `date_cloture` (23:59:59) à l'heure
  de Paris (`+01:00` / `+02:00`), `date_mise_a_jour` et `date_collecte` en UTC (`Z`).
- **Formules neutralisées** : dans les fichiers CSV, une cellule de texte qui commence par `=`, `+`,
  `-`, `@`, une tabulation ou un retour chariot est précédée d'une apostrophe `'`, pour qu'un tableur
  ne l'exécute pas comme une formule. Pour retrouver la valeur d'origine, retirez l'apostrophe
  initiale de ces cellules. Si l'apostrophe fait dépasser la longueur maximale du champ
  (`promesse`, `description`), le texte est d'abord coupé à un mot avec `…`. Les nombres et les
  dates ne sont jamais concernés. Les fichiers Parquet gardent les valeurs telles quelles.
- **EPCI dans `{DISPOSITIF_CSV}`** : le schéma officiel ne définit pas de niveau EPCI. Une aide
  dont la couverture ou les exclusions nomment des codes `EPCI-…` y est écrite avec les codes
  `COM-…` des communes actuellement membres de ces EPCI selon le référentiel géographique de la
  publication{built_with},
  réunis aux autres codes de la cellule, triés et sans doublon : elle couvre les mêmes communes.
  `{AIDES_CSV}` garde le code `EPCI-…` tel que la source l'énonce.
  Une cellule peut ainsi compter plusieurs milliers de caractères (environ 10 par commune).
- `{DISPOSITIF_CSV}` écarte les seules aides que le schéma officiel refuse : codes corses
  (`DEP-2A`, `COM-2B033`…, ou EPCI dont des communes membres sont corses), refusés par son motif
  `^[A-Z]+-\\d+` ; EPCI sans aucune commune membre connue ; champ officiel obligatoire vide…
  Elles sont listées avec leur motif dans `{CHANGELOG_MD}` et restent entières dans `{AIDES_CSV}`.
- `{COMMUNES_PARQUET}` couvre les communes actuelles du Code officiel géographique : `COM-` la
  commune, `EPCI-` ses communes membres, `DEP-` et `REG-` leurs communes, `PAYS-99100` toutes les
  communes (collectivités d'outre-mer comprises) ; les exclusions retirent leurs communes.
- **Les aides d'une commune, en forme compacte** : les codes de la commune X sont les lignes de
  `{COMMUNE_ZONES_PARQUET}` où `commune` = X ; les aides de X sont celles de `{ZONES_PARQUET}`
  qui ont une ligne `exclusion` fausse pour l'un de ces codes et aucune ligne `exclusion` vraie
  pour l'un d'eux. C'est exactement la réponse de `{COMMUNES_PARQUET}`, calculée à partir des
  mêmes règles ; par exemple avec DuckDB :

  ```sql
  SELECT DISTINCT z.aid_id FROM 'aides-zones.parquet' z JOIN 'communes-zones.parquet' c USING (code)
  WHERE c.commune = '75056' AND NOT z.exclusion
  EXCEPT
  SELECT z.aid_id FROM 'aides-zones.parquet' z JOIN 'communes-zones.parquet' c USING (code)
  WHERE c.commune = '75056' AND z.exclusion
  ```
"""


def titles_frame(current: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """(id, titre) of the current aids and of the previous ones no longer there."""
    frames: list[pl.DataFrame] = [current.select("id", "titre")]
    if previous is not None and {"id", "titre"} <= set(previous.columns):
        frames.append(
            previous.select(pl.col("id").cast(pl.String), pl.col("titre").cast(pl.String)).join(
                current.select("id"), on="id", how="anti"
            )
        )
    return pl.concat(frames)


def source_titles(sources: Iterable[dict] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for declared in sources or ():
        name = declared.get("name")
        title = declared.get("title") or declared.get("publisher")
        if name and title:
            out[str(name)] = str(title)
    return out
