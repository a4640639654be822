"""Tests of the published Table Schema (schemas/schema.json) and its examples.

The official dispositif-aide v0.2.0 schema is read from ``../shared`` (never
copied into the project). Row numbers are frictionless ``rowNumber`` values:
the header is row 1, the first data row is row 2 (a quoted multi-line cell
does not shift the numbering).
"""

from __future__ import annotations

import copy
import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from frictionless import Resource, Schema, validate
from paths import OFFICIAL_SCHEMA

from schemas import (
    CIBLES,
    ECHELLES,
    GEO_CODE_PATTERN,
    GEO_CODES_PATTERN,
    OFFICIAL_FIELDS,
    OFFICIAL_GEO_CODES_PATTERN,
    RECURRENCES,
    SCHEMA_PATH,
    STATUTS,
    THEMATIQUES,
    field_names,
    load_schema,
    published_fields,
)
from schemas.readme import expected_readme

ROOT = Path(__file__).parents[1]
SCHEMAS_DIR = ROOT / "schemas"
FRICTIONLESS_CLI = Path(sys.executable).parent / "frictionless"

EXTRA_FIELDS = [
    "echelle",
    "thematiques",
    "montant_max",
    "taux_max",
    "url_demarche",
    "statut",
    "recurrence",
    "sources",
    "date_collecte",
]
GEO_FIELDS = ("eligibilite_geographique", "eligibilite_geographique_exclusions")
URL_PATTERN = r"^https?://.+"

# exemple-invalide.csv: rowNumber -> the errors the row is there to show, as
# (error type, field name, constraint name for a constraint-error).
# A bad or duplicate `id` is reported twice by frictionless: once on the
# field and once as a `primary-key` error (the schema's primaryKey is `id`).
INVALID_ROWS: dict[int, set[tuple[str, str | None, str | None]]] = {
    2: {("constraint-error", "titre", "required")},
    3: {("type-error", "id", None), ("primary-key", None, None)},
    4: {("unique-error", "id", None), ("primary-key", None, None)},
    5: {("constraint-error", "description", "maxLength")},
    6: {("constraint-error", "promesse", "maxLength")},
    7: {("constraint-error", "cibles", "pattern")},
    8: {("constraint-error", "eligibilite_geographique", "pattern")},
    9: {("constraint-error", "eligibilite_geographique_exclusions", "pattern")},
    10: {("type-error", "date_ouverture", None)},
    11: {("constraint-error", "statut", "enum")},
    12: {("constraint-error", "echelle", "enum")},
    13: {("constraint-error", "montant_max", "minimum")},
    14: {("constraint-error", "taux_max", "maximum")},
    15: {("constraint-error", "url_source", "pattern")},
    16: {("constraint-error", "thematiques", "pattern")},
    17: {("constraint-error", "sources", "pattern")},
    18: {("constraint-error", "date_mise_a_jour", "required")},
    19: {("constraint-error", "objets_finances", "pattern")},
    20: {("constraint-error", "age_min", "minimum")},
    21: {("constraint-error", "plafond_rfr_periode", "enum")},
}

GEO_ACCEPTED = [
    "COM-2A004",
    "COM-2B033",
    "DEP-2B",
    "DEP-974",
    "EPCI-200046977",
    "PAYS-99100",
    "REG-84",
    "REG-975",
    "COM-75056|DEP-2A",
    "PAYS-99100|EPCI-200046977|REG-11|DEP-69|COM-69123",
]
GEO_REJECTED = [
    "DEP-2C",
    "COM-7505",
    "EPCI-12345",
    "CP-75001",
    "COM-75056|",
    "|COM-75056",
    "COM-75056||DEP-2A",
    "COM-75056 | DEP-2A",
    "COM-75056,DEP-2A",
    "com-75056",
    "dep-2a",
    "DEP-2a",
    "COM-2a004",
    "PAYS-991",
    "REG-1",
    "DEP-1",
    "COM-2A0041",
]


# Fixtures and helpers


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    assert OFFICIAL_SCHEMA.is_file(), f"missing {OFFICIAL_SCHEMA}"
    return json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    return load_schema()


def _fields(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {field["name"]: field for field in schema["fields"]}


def _errors(basepath: Path, name: str) -> list[tuple[int | None, str, str | None, str | None]]:
    """Validate ``basepath/name`` against our schema; return its errors as
    (rowNumber, error type, field name, constraint name or None)."""
    resource = Resource(path=name, basepath=str(basepath), schema=Schema.from_descriptor(load_schema()))
    report = resource.validate()
    found = []
    for row_number, error_type, field_name, note in report.flatten(["rowNumber", "type", "fieldName", "note"]):
        match = re.match(r'constraint "(\w+)"', note or "")
        constraint = match.group(1) if error_type == "constraint-error" and match else None
        found.append((row_number, error_type, field_name, constraint))
    return found


def _accepts(field_name: str, value: str) -> bool:
    """Whether frictionless accepts ``value`` in the field of our schema."""
    field = Schema.from_descriptor(load_schema()).get_field(field_name)
    _, notes = field.read_cell(value)
    return not notes


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FRICTIONLESS_CLI), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


# The schema itself


def test_schema_is_a_valid_table_schema() -> None:
    report = validate(str(SCHEMA_PATH), type="schema")
    assert report.valid, report.flatten(["type", "note"])


def test_schema_validation_is_not_vacuous(tmp_path: Path) -> None:
    broken = load_schema()
    broken["fields"][0]["type"] = "uuid"
    (tmp_path / "schema.json").write_text(json.dumps(broken), encoding="utf-8")
    assert not validate(str(tmp_path / "schema.json"), type="schema").valid


def test_schema_is_valid_with_the_cli() -> None:
    result = _run_cli("validate", "--type", "schema", "schemas/schema.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_metadata(ours: dict[str, Any]) -> None:
    assert ours["$schema"] == "https://specs.frictionlessdata.io/schemas/table-schema.json"
    assert ours["name"] == "aides-transition-ecologique"
    assert ours["countryCode"] == "FR"
    assert ours["primaryKey"] == "id"
    assert ours["missingValues"] == [""]
    assert [licence["name"] for licence in ours["licenses"]] == ["etalab-2.0"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", ours["version"])
    assert ours["created"] <= ours["lastModified"]
    for key in ("title", "description", "homepage", "path", "contributors"):
        assert ours[key], key


def test_version_is_in_changelog(ours: dict[str, Any]) -> None:
    changelog = (SCHEMAS_DIR / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{ours['version']}] - {ours['lastModified']}" in changelog


def test_readme_documents_every_field() -> None:
    readme = (SCHEMAS_DIR / "README.md").read_text(encoding="utf-8")
    for name in field_names():
        assert f"| `{name}` |" in readme, name


def test_field_order() -> None:
    assert field_names()[: len(OFFICIAL_FIELDS)] == list(OFFICIAL_FIELDS)
    assert field_names()[len(OFFICIAL_FIELDS) :][: len(EXTRA_FIELDS)] == EXTRA_FIELDS


def test_every_field_is_documented(ours: dict[str, Any]) -> None:
    for field in ours["fields"]:
        for key in ("name", "title", "description", "example", "type"):
            assert field.get(key), (field["name"], key)
        # Examples are written as they appear in a CSV cell.
        assert isinstance(field["example"], str), field["name"]
    for name in EXTRA_FIELDS:
        assert _fields(ours)[name].get("constraints"), name


def test_every_pattern_compiles(ours: dict[str, Any]) -> None:
    for field in ours["fields"]:
        pattern = field.get("constraints", {}).get("pattern")
        if pattern is not None:
            re.compile(pattern)
        assert "pattern" not in field, f"{field['name']}: pattern outside constraints"


# Compatibility with dispositif-aide v0.2.0


def test_official_field_names_and_order(official: dict[str, Any]) -> None:
    assert [field["name"] for field in official["fields"]] == list(OFFICIAL_FIELDS)


def test_official_fields_are_copied_verbatim(official: dict[str, Any], ours: dict[str, Any]) -> None:
    mine = _fields(ours)
    for field in official["fields"]:
        if field["name"] in (*GEO_FIELDS, "url_source"):
            continue
        assert mine[field["name"]] == field, field["name"]


def test_url_source_deviation(official: dict[str, Any], ours: dict[str, Any]) -> None:
    """The official pattern sits outside `constraints` (ignored by
    frictionless); ours is inside `constraints`, as `^https?://.+`."""
    off = _fields(official)["url_source"]
    assert off["pattern"] == "^(https?://).+"
    assert "constraints" not in off
    expected = copy.deepcopy(off)
    del expected["pattern"]
    expected["constraints"] = {"pattern": URL_PATTERN}
    assert _fields(ours)["url_source"] == expected
    assert _fields(ours)["url_demarche"]["constraints"]["pattern"] == URL_PATTERN


@pytest.mark.parametrize("name", GEO_FIELDS)
def test_geography_deviation(official: dict[str, Any], ours: dict[str, Any], name: str) -> None:
    """Same field as the official one but for the extended pattern, and a
    description that starts with the official one and documents the
    extension."""
    off = _fields(official)[name]
    mine = _fields(ours)[name]
    assert off["constraints"]["pattern"] == OFFICIAL_GEO_CODES_PATTERN
    assert mine["constraints"]["pattern"] == GEO_CODES_PATTERN
    assert mine["description"].startswith(off["description"].rstrip())
    assert "EPCI" in mine["description"] and "2A" in mine["description"]
    expected = copy.deepcopy(off)
    expected["constraints"]["pattern"] = GEO_CODES_PATTERN
    assert {**mine, "description": None} == {**expected, "description": None}


def test_official_example_is_valid(tmp_path: Path) -> None:
    """The official exemple.csv holds the 15 official columns only: it is
    checked against our 15 official fields."""
    schema = load_schema()
    schema["fields"] = schema["fields"][: len(OFFICIAL_FIELDS)]
    resource = Resource(
        path="exemple.csv",
        basepath=str(OFFICIAL_SCHEMA.parent),
        schema=Schema.from_descriptor(schema),
    )
    report = resource.validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "note"])


# Vocabularies and fields derived from the schema by the schemas package


def test_vocabularies_are_read_from_the_schema(ours: dict[str, Any]) -> None:
    mine = _fields(ours)
    assert ECHELLES == ("commune", "epci", "departement", "region", "national", "europe")
    assert list(ECHELLES) == mine["echelle"]["constraints"]["enum"]
    assert STATUTS == ("ouverte", "à venir", "clôturée", "permanente")
    assert RECURRENCES == ("ponctuelle", "récurrente", "permanente")
    assert CIBLES == ("professionnels", "particuliers", "associations", "secteur public")
    assert THEMATIQUES[:3] == ("alimentation", "agriculture", "biodiversite") and len(THEMATIQUES) == 14
    themes = "(" + "|".join(THEMATIQUES) + ")"
    assert mine["thematiques"]["constraints"]["pattern"] == rf"^{themes}(\|{themes})*$"


def test_published_fields_are_read_from_the_schema() -> None:
    fields = {f.name: f for f in published_fields()}
    assert list(fields) == field_names()
    assert {n for n, f in fields.items() if f.multi_valued} == {
        "types_aides",
        "programmes_parents",
        "cibles",
        "eligibilite_geographique",
        "eligibilite_geographique_exclusions",
        "thematiques",
        "sources",
        "objets_finances",
        "etat_materiel",
        "situations",
        "categories_revenus",
        "montants_conditionnels",
    }
    assert (fields["promesse"].max_length, fields["description"].max_length) == (180, 5000)
    assert fields["titre"].required and not fields["promesse"].required
    assert fields["url_source"].format == "uri" and fields["montant_max"].type == "number"
    assert fields["types_aides"].values is None  # no enumeration in the schema: the vocab table holds it


def test_readme_fields_table_follows_the_schema() -> None:
    """Regenerate with ``python -m schemas.readme --write`` after a change to schema.json."""
    text = (SCHEMAS_DIR / "README.md").read_text(encoding="utf-8")
    assert expected_readme(text) == text, "schemas/README.md : la table des champs ne suit plus schema.json"


# Examples


def test_field_examples_are_valid(tmp_path: Path, ours: dict[str, Any]) -> None:
    with open(tmp_path / "examples.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(field_names())
        writer.writerow([field["example"] for field in ours["fields"]])
    assert _errors(tmp_path, "examples.csv") == []


def test_valid_example_file() -> None:
    assert _errors(SCHEMAS_DIR, "exemple-valide.csv") == []


def test_valid_example_file_with_the_cli() -> None:
    result = _run_cli("validate", "--schema", "schemas/schema.json", "schemas/exemple-valide.csv")
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_files_are_plain_utf8_csv() -> None:
    for name in ("exemple-valide.csv", "exemple-invalide.csv"):
        raw = (SCHEMAS_DIR / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), f"{name} has a BOM"
        with open(SCHEMAS_DIR / name, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        assert header == field_names(), name


def test_each_invalid_row_shows_exactly_its_error() -> None:
    with open(SCHEMAS_DIR / "exemple-invalide.csv", encoding="utf-8", newline="") as handle:
        data_rows = sum(1 for _ in csv.reader(handle)) - 1
    assert data_rows == len(INVALID_ROWS)

    found: dict[int | None, set[tuple[str, str | None, str | None]]] = {}
    for row_number, error_type, field_name, constraint in _errors(SCHEMAS_DIR, "exemple-invalide.csv"):
        found.setdefault(row_number, set()).add((error_type, field_name, constraint))
    assert found == INVALID_ROWS


def test_invalid_example_file_fails_with_the_cli() -> None:
    result = _run_cli("validate", "--schema", "schemas/schema.json", "schemas/exemple-invalide.csv")
    assert result.returncode != 0


# Geography


@pytest.mark.parametrize("name", GEO_FIELDS)
@pytest.mark.parametrize("value", GEO_ACCEPTED)
def test_geography_accepts(name: str, value: str) -> None:
    assert _accepts(name, value)


@pytest.mark.parametrize("name", GEO_FIELDS)
@pytest.mark.parametrize("value", GEO_REJECTED)
def test_geography_pattern_rejects(name: str, value: str) -> None:
    assert not _accepts(name, value)


def test_single_geo_code_pattern() -> None:
    singles = [value for value in GEO_ACCEPTED if "|" not in value]
    assert all(re.fullmatch(GEO_CODE_PATTERN, value) for value in singles)
    assert not any(re.fullmatch(GEO_CODE_PATTERN, value) for value in GEO_REJECTED)
    assert not re.fullmatch(GEO_CODE_PATTERN, "COM-75056|DEP-2A")


def test_official_geo_pattern_rejects_corsica() -> None:
    """Why the deviation exists (and what the dispositif-aide export must
    leave out)."""
    assert not re.fullmatch(OFFICIAL_GEO_CODES_PATTERN, "DEP-2A")
    assert not re.fullmatch(OFFICIAL_GEO_CODES_PATTERN, "COM-2B033")
    assert re.fullmatch(OFFICIAL_GEO_CODES_PATTERN, "COM-75056|DEP-69")


# Datetimes and URIs, as frictionless 5 reads them


@pytest.mark.parametrize(
    ("value", "accepted", "aware"),
    [
        ("2025-10-15T15:00:00Z", True, True),
        ("2025-01-01T00:00:00+01:00", True, True),
        ("2023-06-01T22:00:00.000Z", True, True),
        # Accepted although it has no offset: read as a naive datetime.
        ("2025-10-15T15:00:00", True, False),
        ("2025-10-15", False, None),
        ("15/10/2025", False, None),
        ("2022-07-28T11: 40: 47+02: 00", False, None),
    ],
)
def test_datetime_parsing(value: str, accepted: bool, aware: bool | None) -> None:
    field = Schema.from_descriptor(load_schema()).get_field("date_collecte")
    cell, notes = field.read_cell(value)
    assert (not notes) is accepted
    if accepted:
        assert (cell.tzinfo is not None) is aware


def test_uri_format_alone_accepts_a_broken_url(official: dict[str, Any]) -> None:
    """Why the url_source pattern had to move into `constraints`."""
    broken = "https: //exemple.fr"
    official_field = Schema.from_descriptor({"fields": [_fields(official)["url_source"]]}).get_field("url_source")
    assert official_field.read_cell(broken)[1] is None
    for name in ("url_source", "url_demarche"):
        assert not _accepts(name, broken)
        assert _accepts(name, "https://exemple.fr/aide?id=1")
