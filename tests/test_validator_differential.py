"""The project's package validator and frictionless agree, error for error, on corrupted releases.

A small valid release is written with the project's own code and schemas: ``aides.csv`` under
``schemas/schema.json`` (the rows of ``schemas/exemple-valide.csv``), ``couverture.csv`` under
``schemas/couverture.json`` and ``provenance.csv`` (with, for this test, a foreign key to the
aids' ids), each described as the release describes it (``release_files.csv_resource``: dialect,
bytes, sha256, rows). Hypothesis then corrupts it in many ways (a wrong cell of every kind, an
emptied required cell, a repeated id, a broken foreign key, a missing or extra cell, a blank
row, a renamed, removed, added or swapped column, stale bytes, digest and row count), both
validators read the same folder, and their verdicts and their errors — as (resource, type, row,
field, constraint), counted — must be the same. The few differences the project's validator
documents (``schemas/datapackage/__init__.py``) are tested for what they are at the end.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import frictionless
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import SCHEMA_PATH, load_coverage_schema
from schemas.datapackage import validate_package
from schemas.datapackage.cells import field_check
from warehouse.publication import release_files as rf
from warehouse.publication.coverage import coverage_schema

Key = tuple[Any, ...]
AIDES = rf.AIDES_CSV
COVERAGE = rf.COVERAGE_CSV
PROVENANCE = rf.PROVENANCE_CSV

with open(SCHEMA_PATH.with_name("exemple-valide.csv"), encoding="utf-8", newline="") as _handle:
    _EXAMPLE = list(csv.reader(_handle))
AIDES_HEADER, AIDES_ROWS = _EXAMPLE[0], _EXAMPLE[1:]
IDS = [row[0] for row in AIDES_ROWS]
COVERAGE_HEADER = [f["name"] for f in load_coverage_schema()["fields"]]
COVERAGE_ROWS = [
    [
        "REG-11",
        "region",
        "Île-de-France",
        "",
        "11",
        "12317279",
        "true",
        "3",
        "2",
        "aides-velo|mte",
        "2026-11-29T06:00:00Z",
        "true",
        "2026-11-20T10:00:00Z",
        "soumission",
    ],
    ["DEP-2A", "departement", "Corse-du-Sud", "2A", "94", "162421", "false", "0", "0", "", "", "false", "", ""],
    [
        "COM-75056",
        "commune",
        "Paris",
        "75",
        "11",
        "2133111",
        "true",
        "1",
        "1",
        "aides-velo",
        "2026-11-29T06:00:00Z",
        "false",
        "",
        "",
    ],
    [
        "EPCI-200046977",
        "epci",
        "Métropole de Lyon",
        "69",
        "84",
        "",
        "false",
        "0",
        "0",
        "",
        "",
        "true",
        "2026-11-01T08:00:00+01:00",
        "rien_a_signaler",
    ],
]
PROVENANCE_HEADER = [f["name"] for f in rf.provenance_schema()["fields"]]
PROVENANCE_ROWS = [
    [aid, "aides-velo", f"regle-{n}", f"https://exemple.test/{n}", "2026-11-29T06:00:00Z"] for n, aid in enumerate(IDS)
] + [[IDS[0], "mte", "programme-1", "", ""]]


def _provenance_schema() -> dict[str, Any]:
    schema = rf.provenance_schema()
    schema["foreignKeys"] = [{"fields": "aid_id", "reference": {"resource": "aides", "fields": "id"}}]
    return schema


SCHEMAS: dict[str, dict[str, Any]] = {
    AIDES: rf.aides_schema(),
    COVERAGE: coverage_schema(),
    PROVENANCE: _provenance_schema(),
}
NAMES = {AIDES: "aides", COVERAGE: "couverture", PROVENANCE: "provenance"}


class Table:
    """A CSV file being corrupted: its header and rows as cells, then raw-text edits."""

    def __init__(self, header: list[str], rows: list[list[str]]) -> None:
        self.header = list(header)
        self.rows = [list(r) for r in rows]
        self.text_edits: list[Callable[[str], str]] = []

    def __repr__(self) -> str:
        return repr(self.text())

    def text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        text = out.getvalue()
        for edit in self.text_edits:
            text = edit(text)
        return text


def base_tables() -> dict[str, Table]:
    return {
        AIDES: Table(AIDES_HEADER, AIDES_ROWS),
        COVERAGE: Table(COVERAGE_HEADER, COVERAGE_ROWS),
        PROVENANCE: Table(PROVENANCE_HEADER, PROVENANCE_ROWS),
    }


def write_release(folder: Path, tables: dict[str, Table], stale: dict[str, dict[str, Any]] | None = None) -> dict:
    """The files and their package, described as the release describes them (``stale``: the
    descriptions of the files before they were corrupted, kept as they were)."""
    resources = []
    for filename, table in tables.items():
        (folder / filename).write_text(table.text(), encoding="utf-8", newline="")
        resource = rf.csv_resource(
            folder, NAMES[filename], filename, NAMES[filename], SCHEMAS[filename], len(table.rows)
        )
        if stale and filename in stale:
            resource.update({k: stale[filename][k] for k in ("bytes", "hash", "rows")})
        resources.append(resource)
    package = rf.datapackage("2026-11-29.1", "2026-11-29T07:00:00+01:00", [], resources)
    (folder / rf.DATAPACKAGE_JSON).write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    return package


def frictionless_keys(folder: Path) -> Counter[Key]:
    report = frictionless.validate(str(folder / rf.DATAPACKAGE_JSON))
    assert not report.errors, [e.message for e in report.errors]  # the descriptor itself is valid
    keys: Counter[Key] = Counter()
    for task in report.tasks:
        assert not task.warnings, task.warnings  # no error limit reached: everything was checked
        for error in task.errors:
            constraint = None
            if error.type == "constraint-error":
                constraint = re.match(r'constraint "(\w+)"', error.note).group(1)  # type: ignore[union-attr]
            field = getattr(error, "field_name", None) or None
            number = getattr(error, "field_number", None) if not field else None
            keys[(task.name, error.type, getattr(error, "row_number", None), field, number, constraint)] += 1
    return keys


def project_keys(folder: Path) -> Counter[Key]:
    report = validate_package(folder, limit=None)
    errors = [e for e in report.errors if not e.extension]
    assert report.total == len(report.errors)  # nothing left out of the details
    return Counter(e.key for e in errors)


def assert_same_errors(folder: Path) -> Counter[Key]:
    theirs, ours = frictionless_keys(folder), project_keys(folder)
    assert ours == theirs, {"frictionless only": theirs - ours, "project only": ours - theirs}
    return ours


# --------------------------------------------------------------------------- corruptions

UUID_VALUES = [
    IDS[0].upper(),
    "{" + IDS[0] + "}",
    IDS[0].replace("-", ""),
    "urn:uuid:" + IDS[0],
    IDS[0][:-1],
    IDS[0] + " ",
    " " + IDS[0],
    IDS[0][:8] + "-" + IDS[0][9:],
    "not-a-uuid",
    "0" * 32,
    "g" + IDS[0][1:],
]
DATETIMES = [
    "2025-10-15T15:00:00Z",
    "2025-10-15T15:00:00",
    "2025-10-15T15:00:00+0200",
    "2025-10-15T15:00:00+02",
    "2025-10-15T15:00:00.123Z",
    "2025-10-15T15:00:00,5Z",
    "2025-10-15T15:00:00.1234567Z",
    "2025-10-15 15:00:00+02:00",
    "2025-10-15T24:00:00Z",
    "2025-10-15T23:60:00Z",
    "2025-02-30T00:00:00Z",
    "2024-02-29T00:00:00+01:00",
    "2025-10-15T15:00:00+24:00",
    "2025-W42-3T15:00:00",
    "2025-10-15",
    "15/10/2025",
    "2025-10-15T15:00:00Zx",
    "0000-01-01T00:00:00Z",
    "2022-07-28T11: 40: 47+02: 00",
    " 2025-10-15T15:00:00Z",
]
NUMBERS = [
    "1500",
    "0",
    "-1",
    "1.5",
    "-0.0",
    " 5 ",
    "1e3",
    "1E-2",
    "1_000",
    "1,5",
    "NaN",
    "inf",
    "-Infinity",
    "abc",
    ".5",
    "5.",
    "+7",
    "٣",
    "１２",
    "0x10",
    "100.000000000000000001",
    "33.333333333333336",
    "1234567890123456",
    "99.99999999999999999",
]
INTEGERS = [
    "18",
    "0",
    "-1",
    "151",
    "150",
    "1.0",
    "+3",
    " 7",
    "7 ",
    "٣",
    "1_0",
    "1e2",
    "",
    "abc",
    "00012",
    "99999999999999999999",
]
BOOLEANS = ["true", "false", "True", "FALSE", "1", "0", "yes", "TRUE ", "tRue", "", "vrai"]
URIS = [
    "https://exemple.fr/a",
    "https: //exemple.fr",
    "ftp://x",
    "://x",
    "x",
    "mailto:a@b",
    "h://",
    "1http://x",
    "http:x",
    "https://",
]
STRINGS = [
    "",
    " ",
    "x",
    "COM-75056",
    "COM-7505",
    "COM-75056\n",
    "COM-75056|DEP-2A",
    "DEP-2a",
    "COM-７５０５６",
    "COM-٧٥٠٥٦",
    "PAYS-99100|",
    "ouverte",
    "Ouverte",
    "ouverte ",
    "à venir",
    "a venir",
    "clôturée",
    "particuliers",
    "particuliers|professionnels",
    "particuliers, professionnels",
    "transport|climat",
    "transport||climat",
    "aides-velo",
    "Aides-Velo",
    "aides velo",
    "an",
    "mois",
    "region",
    "épci",
    "neuf|occasion",
    "=1+1",
    '"quoted"',
    "a,b",
    "ligne\nsuivante",
    "e\u0301" * 91,
    "é" * 181,
    "x" * 5001,
]


def values_for(field: dict[str, Any]) -> st.SearchStrategy[str]:
    kind, fmt = field.get("type", "string"), field.get("format")
    pools = {"number": NUMBERS, "integer": INTEGERS, "boolean": BOOLEANS, "datetime": DATETIMES}
    pool = pools.get(kind) or (UUID_VALUES if fmt == "uuid" else URIS if fmt == "uri" else STRINGS)
    junk = st.text(alphabet="0123456789-:.TZ+ |,aéCOM\n\"'٣", max_size=12)
    return st.one_of(st.sampled_from(pool), st.sampled_from(STRINGS), junk)


@st.composite
def corruption(draw: st.DrawFn) -> tuple[dict[str, Table], bool]:
    """1 to 3 corruptions of the base release, and whether the package keeps its old description."""
    tables = base_tables()
    for _ in range(draw(st.integers(1, 3))):
        filename = draw(st.sampled_from([AIDES, AIDES, COVERAGE, PROVENANCE]))
        table = tables[filename]
        fields = SCHEMAS[filename]["fields"]
        kind = draw(
            st.sampled_from(
                ["cell", "cell", "cell", "cell", "empty", "repeat", "short", "long", "blank", "header", "column", "raw"]
            )
        )
        if not table.rows:
            continue
        row = draw(st.integers(0, len(table.rows) - 1))
        width = len(table.rows[row])
        if kind in ("cell", "empty", "repeat") and min(width, len(fields)) > 0:
            column = draw(st.integers(0, min(width, len(fields)) - 1))
            if kind == "cell":
                table.rows[row][column] = draw(values_for(fields[column]))
            elif kind == "empty":
                table.rows[row][column] = ""
            else:
                table.rows[row][column] = table.rows[draw(st.integers(0, len(table.rows) - 1))][column]
        elif kind == "short" and width:
            del table.rows[row][draw(st.integers(0, width - 1)) :]
        elif kind == "long":
            table.rows[row] += draw(st.lists(st.sampled_from(["", "x", "1", "a b"]), min_size=1, max_size=3))
        elif kind == "blank":
            where, form = draw(st.integers(0, len(table.rows) + 1)), draw(st.sampled_from(["", ",,,", "\r", "   "]))
            table.text_edits.append(_insert_line(where, form))
        elif kind == "raw":  # delimiters and line breaks anywhere but next to a quote (see the differences below)
            position = draw(st.integers(0, 10**6))
            text = draw(st.text(alphabet=[",", "\n", "\r", "x", "é", "|", "\t"], min_size=1, max_size=3))
            table.text_edits.append(_insert_text(position, text))
        elif kind == "header":
            column = draw(st.integers(0, len(table.header) - 1))
            table.header[column] = draw(
                st.sampled_from(
                    ["", " " + table.header[column] + " ", table.header[column].upper(), "autre", table.header[0]]
                )
            )
        else:
            operation = draw(st.sampled_from(["drop", "add", "swap"]))
            column = draw(st.integers(0, len(table.header) - 1))
            other = draw(st.integers(0, len(table.header) - 1))
            for cells in [table.header, *table.rows]:
                if operation == "drop" and column < len(cells):
                    del cells[column]
                elif operation == "add":
                    cells.insert(min(column, len(cells)), "nouvelle" if cells is table.header else "v")
                elif operation == "swap" and max(column, other) < len(cells):
                    cells[column], cells[other] = cells[other], cells[column]
    return tables, draw(st.booleans())


def _insert_text(position: int, text: str) -> Callable[[str], str]:
    """Insert ``text`` in the file, at ``position`` (modulo its length) unless a quote is beside it."""

    def edit(content: str) -> str:
        at = position % (len(content) + 1)
        if '"' in content[max(at - 1, 0) : at + 1]:
            return content
        return content[:at] + text + content[at:]

    return edit


def _insert_line(where: int, form: str) -> Callable[[str], str]:
    """Insert a line before the ``where``-th data row, at the record boundary (text of a quoted
    cell never split: the rows are re-read with the csv module to find the boundary)."""

    def edit(text: str) -> str:
        records = list(csv.reader(io.StringIO(text, newline="")))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for n, record in enumerate(records):
            if n == where:
                out.write(form + "\n")
            writer.writerow(record)
        if where >= len(records):
            out.write(form + "\n")
        return out.getvalue()

    return edit


FAST = settings(
    max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@FAST
@given(corruption())
def test_both_validators_report_the_same_errors_on_a_corrupted_release(case: tuple[dict[str, Table], bool]) -> None:
    tables, keep_description = case
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        stale = None
        if keep_description:
            package = write_release(folder, base_tables())
            stale = {r["path"]: r for r in package["resources"]}
        write_release(folder, tables, stale)
        assert_same_errors(folder)


def test_the_valid_release_is_valid_for_both(tmp_path: Path) -> None:
    write_release(tmp_path, base_tables())
    assert assert_same_errors(tmp_path) == Counter()
    assert validate_package(tmp_path).rows == {"aides": 5, "couverture": 4, "provenance": 6}


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t[AIDES].rows[1].__setitem__(0, IDS[0]), id="repeated id: unique and primary key"),
        pytest.param(lambda t: t[AIDES].rows[1].__setitem__(0, "x"), id="bad id: type and primary key"),
        pytest.param(lambda t: t[PROVENANCE].rows[0].__setitem__(0, str(uuid.uuid4())), id="foreign key"),
        pytest.param(
            lambda t: t[PROVENANCE].rows.append([IDS[1], "aides-velo", "regle-1", "", ""]), id="composite key"
        ),
        pytest.param(lambda t: t[AIDES].text_edits.append(_insert_line(2, "")), id="blank line"),
        pytest.param(lambda t: t[AIDES].text_edits.append(_insert_line(6, "\n")), id="blank lines at the end"),
        pytest.param(lambda t: t[AIDES].rows[2].append("x"), id="extra cell"),
        pytest.param(lambda t: t[AIDES].rows[2].__delitem__(slice(5, None)), id="missing cells"),
        pytest.param(lambda t: t[AIDES].rows.__setitem__(2, [""] * 38), id="row of empty cells"),
        pytest.param(lambda t: t[COVERAGE].header.pop(), id="missing label"),
        pytest.param(lambda t: t[COVERAGE].header.append("extra"), id="extra label"),
    ],
)
def test_known_errors(tmp_path: Path, edit: Callable[[dict[str, Table]], Any]) -> None:
    tables = base_tables()
    edit(tables)
    write_release(tmp_path, tables)
    assert assert_same_errors(tmp_path)  # not valid, and the same errors


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t[AIDES].rows[0].__setitem__(3, "a\n\nb\r\n\r\nc"), id="paragraphs in a cell"),
        pytest.param(lambda t: t[AIDES].text_edits.append(lambda s: s.replace("\n", "\r\n")), id="CRLF"),
        pytest.param(lambda t: t[AIDES].text_edits.append(lambda s: "\ufeff" + s), id="BOM"),
        pytest.param(lambda t: t[AIDES].text_edits.append(lambda s: s.rstrip("\n")), id="no final line break"),
        pytest.param(lambda t: t[AIDES].rows[0].__setitem__(1, 'ab"c'), id="quote inside an unquoted cell"),
        pytest.param(lambda t: t[COVERAGE].header.__setitem__(0, " code\t"), id="label with spaces"),
    ],
)
def test_known_valid_files(tmp_path: Path, edit: Callable[[dict[str, Table]], Any]) -> None:
    tables = base_tables()
    edit(tables)
    write_release(tmp_path, tables)
    assert assert_same_errors(tmp_path) == Counter()


# --------------------------------------------------------------------------- cells, one by one


_FIELDS = [f for f in SCHEMAS[AIDES]["fields"]] + [f for f in SCHEMAS[COVERAGE]["fields"] if f["type"] == "boolean"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_FIELDS) - 1), st.text(max_size=14)), min_size=1, max_size=60))
def test_the_fast_path_never_accepts_what_frictionless_refuses(cells: list[tuple[int, str]]) -> None:
    """Cells the SQL decides alone (canonical forms) get frictionless's verdict, constraint for constraint."""
    conn = duckdb.connect()
    schema = frictionless.Schema.from_descriptor({"fields": _FIELDS, "missingValues": [""]})
    for index, text in cells + [(i, v) for i in range(len(_FIELDS)) for v in ("1", "2025-10-15T15:00:00Z")]:
        check = field_check(1, _FIELDS[index], ("",), False, lambda _e: True)
        if check.fast is None:
            continue
        conn.execute("CREATE OR REPLACE TEMP TABLE t AS SELECT ?::VARCHAR AS c1", [text])
        fast, *oks = conn.execute(
            f"SELECT NOT {check.blank} AND ({check.fast}), "
            + ", ".join(f"coalesce({ok}, false)" for _, ok in check.constraints or [("x", "true")])
            + " FROM t"
        ).fetchall()[0]
        if not fast:
            continue
        _value, notes = schema.get_field(_FIELDS[index]["name"]).read_cell(text)
        assert not (notes or {}).get("type"), (_FIELDS[index]["name"], text)
        broken = {name for (name, _), ok in zip(check.constraints, oks, strict=False) if not ok}
        assert broken == set(notes or {}), (_FIELDS[index]["name"], text, broken, notes)


# --------------------------------------------------------------------------- documented differences


def _single_column_package(folder: Path, text: str) -> dict[str, Any]:
    (folder / "t.csv").write_text(text, encoding="utf-8", newline="")
    fields = [{"name": name, "type": "string", "constraints": {"enum": ["a", "y", "1", "2", "3"]}} for name in "abc"]
    dialect = {"delimiter": ",", "quoteChar": '"', "doubleQuote": True, "skipInitialSpace": False, "header": True}
    return {
        "resources": [{"name": "t", "path": "t.csv", "format": "csv", "dialect": dialect, "schema": {"fields": fields}}]
    }


@pytest.mark.parametrize(
    ("row", "python_reads"),
    [
        ('1,"y"a,3', "ya"),  # text after a closing quote
        ('1, "y",3', ' "y"'),  # a space before an opening quote: DuckDB would drop it and read y
        ('1,"y" ,3', "y "),  # a space after a closing quote: DuckDB would drop it
        ('1,"y\n2,3\n', None),  # a quote never closed
    ],
)
def test_malformed_quoting_is_refused_where_frictionless_reads_on(tmp_path: Path, row: str, python_reads: str) -> None:
    """Stricter, never more lenient: Python's csv module reads on, DuckDB's strict reader does not."""
    package = _single_column_package(tmp_path, "a,b,c\n" + row + "\n")
    ours = validate_package(tmp_path, package)
    assert not ours.valid and set(ours.counts) == {"source-error"}
    if python_reads is not None:
        assert next(csv.reader(io.StringIO(row)))[1] == python_reads
        frictionless.Package(package, basepath=str(tmp_path)).validate()  # reads it, whatever its verdict


def test_mixed_line_terminators_are_read_as_python_reads_them(tmp_path: Path) -> None:
    """DuckDB's strict reader refuses them as a whole; the lenient one reads records as Python does."""
    tables = base_tables()
    tables[AIDES].text_edits.append(lambda s: s.replace("\n", "\r\n", 3))  # the header and the first rows' ends
    tables[COVERAGE].text_edits.append(lambda s: s.replace("\nDEP", "\rDEP"))  # a lone carriage return
    write_release(tmp_path, tables)
    assert assert_same_errors(tmp_path) == Counter()


def test_a_guessed_skip_initial_space_is_not_reproduced(tmp_path: Path) -> None:
    """Undeclared, frictionless guesses it from the first lines (csv.Sniffer); the release declares it."""
    (tmp_path / "t.csv").write_text('a,b\n"x", "y"\n"z", "w"\n', encoding="utf-8")
    package = {
        "resources": [
            {"name": "t", "path": "t.csv", "format": "csv", "schema": {"fields": [{"name": "a"}, {"name": "b"}]}}
        ]
    }
    assert set(validate_package(tmp_path, package).counts) == {"dialect-error"}
    assert rf.csv_resource(tmp_path, "t", "t.csv", "t", {"fields": []}, 2)["dialect"]["skipInitialSpace"] is False
