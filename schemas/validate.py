"""Validate a table against a Table Schema in DuckDB, set-based.

One validator of rows for the whole project: the blocking check on the normalised catalogue,
the rows ``dispositif-aide.csv`` must leave out, and the files that collectivités submit (a
whole release, files and package, is checked by :mod:`schemas.datapackage`). Every
constraint of ``schema.json`` becomes one SQL predicate run over all rows at once, so
it stays fast on a million rows; each violation names the row, the field, the value
and, in French, what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from schemas import load_schema

_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_URI = r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$"


@dataclass(frozen=True)
class Violation:
    row: int  # the table's row number column (a CSV line number for files)
    field: str
    constraint: str  # required, type, format, pattern, enum, maxLength, minimum, maximum, unique
    value: str | None
    message: str


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _checks(field: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(constraint, SQL predicate true when the cell is WRONG, French message) for one field."""
    col = f"trim(CAST({_quote(field['name'])} AS VARCHAR))"
    present = f"({col} IS NOT NULL AND {col} <> '')"
    constraints = field.get("constraints", {})
    checks: list[tuple[str, str, str]] = []
    if constraints.get("required"):
        checks.append(("required", f"NOT {present}", "valeur obligatoire manquante"))
    kind, fmt = field.get("type", "string"), field.get("format")
    if kind == "number":
        checks.append(
            (
                "type",
                f"{present} AND TRY_CAST({col} AS DOUBLE) IS NULL",
                "nombre attendu (séparateur décimal : le point)",
            )
        )
    elif kind == "integer":
        checks.append(("type", f"{present} AND TRY_CAST({col} AS BIGINT) IS NULL", "nombre entier attendu"))
    elif kind == "datetime":
        checks.append(
            (
                "type",
                f"{present} AND (NOT regexp_full_match({col}, {_literal(_DATETIME)}) OR TRY_CAST({col} AS TIMESTAMPTZ) IS NULL)",
                "date et heure ISO 8601 attendues (ex. 2025-10-15T00:00:00+02:00)",
            )
        )
    elif kind == "date":
        checks.append(
            ("type", f"{present} AND TRY_STRPTIME({col}, '%Y-%m-%d') IS NULL", "date ISO attendue (AAAA-MM-JJ)")
        )
    if fmt == "uuid":
        checks.append(
            ("format", f"{present} AND NOT regexp_full_match({col}, {_literal(_UUID)})", "identifiant UUID attendu")
        )
    elif fmt == "uri":
        checks.append(
            ("format", f"{present} AND NOT regexp_full_match({col}, {_literal(_URI)})", "adresse web (URI) attendue")
        )
    if "pattern" in constraints:
        pattern = constraints["pattern"]
        checks.append(
            (
                "pattern",
                f"{present} AND NOT regexp_full_match({col}, {_literal(pattern)})",
                f"valeur qui ne respecte pas le format attendu ({pattern})",
            )
        )
    if "enum" in constraints:
        values = ", ".join(_literal(v) for v in constraints["enum"])
        checks.append(
            (
                "enum",
                f"{present} AND {col} NOT IN ({values})",
                "valeur non autorisée (valeurs possibles : " + ", ".join(constraints["enum"]) + ")",
            )
        )
    if "maxLength" in constraints:
        limit = int(constraints["maxLength"])
        checks.append(
            ("maxLength", f"{present} AND length({col}) > {limit}", f"texte trop long (au plus {limit} caractères)")
        )
    for bound, op, word in (("minimum", "<", "au moins"), ("maximum", ">", "au plus")):
        if bound in constraints:
            limit = constraints[bound]
            checks.append(
                (
                    bound,
                    f"{present} AND TRY_CAST({col} AS DOUBLE) {op} {limit}",
                    f"valeur hors limites ({word} {limit})",
                )
            )
    return checks


def validate_relation(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    row_column: str,
    schema: dict[str, Any] | None = None,
    limit: int | None = 10_000,
) -> list[Violation]:
    """Violations of ``schema`` in ``relation`` (a table or view whose columns are named as the fields)."""
    schema = schema or load_schema()
    columns = {row[0] for row in conn.execute(f"SELECT * FROM {relation} LIMIT 0").description}
    parts = []
    for field in schema["fields"]:
        name = field["name"]
        if name not in columns:
            continue  # missing columns are the caller's concern (a header problem, reported once)
        for constraint, predicate, message in _checks(field):
            parts.append(
                f"SELECT {_quote(row_column)} AS row, {_literal(name)} AS field, {_literal(constraint)} AS constraint_, "
                f"CAST({_quote(name)} AS VARCHAR) AS value, {_literal(message)} AS message FROM {relation} WHERE {predicate}"
            )
        if field.get("constraints", {}).get("unique"):
            col = _quote(name)
            parts.append(
                f"SELECT {_quote(row_column)} AS row, {_literal(name)}, 'unique', CAST({col} AS VARCHAR), "
                f"'valeur déjà utilisée sur une ligne précédente' FROM (SELECT *, row_number() OVER "
                f"(PARTITION BY {col} ORDER BY {_quote(row_column)}) AS n FROM {relation} WHERE {col} IS NOT NULL) WHERE n > 1"
            )
    if not parts:
        return []
    sql = " UNION ALL ".join(parts) + " ORDER BY row, field"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [Violation(int(r[0]), r[1], r[2], r[3], r[4]) for r in conn.execute(sql).fetchall()]
