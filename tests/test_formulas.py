"""One formula-neutralising rule: Python, polars and DuckDB read it the same way."""

from __future__ import annotations

import duckdb
import polars as pl

from schemas.formulas import (
    FORMULA_START,
    FORMULA_START_CHARACTERS,
    FORMULA_START_PATTERN,
    NEUTRALISED_PATTERN,
    NEUTRALISING_QUOTE,
    without_neutralising_quote,
)

SAMPLE = [
    '=HYPERLINK("http://x")',
    "+33 1 23",
    "-50 %",
    "@SUM(A1)",
    "\tcaché",
    "\rretour",
    "texte",
    "",
    " =espace",
    "'=neutralisée",
    "'-liste",
    "'texte",
    "''=deux",
    "a=b",
    "—tiret long",
    "•puce",
    "\n=ligne",
    "^",
    "\\",
    "]",
]


def test_the_rule_is_the_spreadsheet_characters() -> None:
    assert FORMULA_START_CHARACTERS == "=+-@\t\r"
    assert FORMULA_START_PATTERN == r"^[=+\-@\t\r]"  # the pattern the releases wrote before
    assert NEUTRALISED_PATTERN == r"^'[=+\-@\t\r]"


def test_python_polars_and_duckdb_agree() -> None:
    python = [bool(FORMULA_START.match(text)) for text in SAMPLE]
    assert python == [bool(text) and text[0] in FORMULA_START_CHARACTERS for text in SAMPLE]
    frame = pl.DataFrame({"v": SAMPLE})
    polars = frame.select(pl.col("v").str.contains(FORMULA_START_PATTERN)).to_series().to_list()
    conn = duckdb.connect()
    conn.register("sample", frame.with_row_index("i").to_arrow())
    sql = conn.execute(
        "SELECT regexp_matches(v, ?), regexp_matches(v, ?), "
        "CASE WHEN regexp_matches(v, ?) THEN substr(v, 2) ELSE v END FROM sample ORDER BY i",
        [FORMULA_START_PATTERN, NEUTRALISED_PATTERN, NEUTRALISED_PATTERN],
    ).fetchall()
    assert polars == python == [row[0] for row in sql]
    neutralised = [text.startswith(NEUTRALISING_QUOTE) and bool(FORMULA_START.match(text[1:])) for text in SAMPLE]
    assert [row[1] for row in sql] == neutralised
    assert [row[2] for row in sql] == [without_neutralising_quote(text) for text in SAMPLE]


def test_without_neutralising_quote_removes_only_that_quote() -> None:
    assert without_neutralising_quote("'=1+1") == "=1+1"
    assert without_neutralising_quote("'- Être résident") == "- Être résident"
    assert without_neutralising_quote("'texte") == "'texte"
    assert without_neutralising_quote("''=deux") == "''=deux"
