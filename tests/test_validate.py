"""The project's own set-based validator agrees with the schema's examples."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from schemas.validate import validate_relation

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"

# Same rows as tests/test_schema.py's frictionless expectations, as (field, constraint).
EXPECTED = {
    2: {("titre", "required")},
    3: {("id", "format")},
    4: {("id", "unique")},
    5: {("description", "maxLength")},
    6: {("promesse", "maxLength")},
    7: {("cibles", "pattern")},
    8: {("eligibilite_geographique", "pattern")},
    9: {("eligibilite_geographique_exclusions", "pattern")},
    10: {("date_ouverture", "type")},
    11: {("statut", "enum")},
    12: {("echelle", "enum")},
    13: {("montant_max", "minimum")},
    14: {("taux_max", "maximum")},
    15: {("url_source", "pattern"), ("url_source", "format")},
    16: {("thematiques", "pattern")},
    17: {("sources", "pattern")},
    18: {("date_mise_a_jour", "required")},
    19: {("objets_finances", "pattern")},
    20: {("age_min", "minimum")},
    21: {("plafond_rfr_periode", "enum")},
}


def _load(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    conn.execute(
        f"CREATE TABLE t AS SELECT row_number() OVER () + 1 AS ligne, * FROM read_csv('{path}', all_varchar = true, header = true)"
    )


def test_valid_example_has_no_violation():
    conn = duckdb.connect()
    _load(conn, SCHEMAS / "exemple-valide.csv")
    assert validate_relation(conn, "t", "ligne") == []


def test_each_invalid_row_fails_with_the_error_it_shows():
    conn = duckdb.connect()
    _load(conn, SCHEMAS / "exemple-invalide.csv")
    found: dict[int, set] = {}
    for violation in validate_relation(conn, "t", "ligne"):
        found.setdefault(violation.row, set()).add((violation.field, violation.constraint))
        assert violation.message  # French explanation for every problem
    assert found == EXPECTED


@pytest.mark.parametrize("value", ["2025-10-15T15:00:00Z", "2025-10-15T00:00:00+02:00", "2023-06-01T22:00:00.000Z"])
def test_iso_datetimes_are_accepted(value):
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (ligne INTEGER, date_ouverture VARCHAR)")
    conn.execute("INSERT INTO t VALUES (2, ?)", [value])
    assert validate_relation(conn, "t", "ligne") == []


@pytest.mark.parametrize("value", ["15/10/2025", "2025-10-15", "2025-02-30T00:00:00Z", "2022-07-28T11: 40: 47+02: 00"])
def test_other_date_forms_are_refused(value):
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (ligne INTEGER, date_ouverture VARCHAR)")
    conn.execute("INSERT INTO t VALUES (2, ?)", [value])
    [violation] = validate_relation(conn, "t", "ligne")
    assert (violation.field, violation.constraint, violation.value) == ("date_ouverture", "type", value)
