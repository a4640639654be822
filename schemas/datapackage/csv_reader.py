"""A CSV resource read by DuckDB exactly as Python's csv module (frictionless) reads it.

Three readings, cheapest first, why:

- :func:`scan`: one streaming pass of DuckDB's parallel reader in strict mode (every record as
  wide as the header, RFC 4180 quoting), every cell as text, computing only aggregates: how many
  rows, how many cells break each rule, how many line breaks the cells hold. A valid file is
  decided there, without keeping a single row.
- :func:`load_records` with ``strict=True``: the same reading kept as a table of records, when
  the scan found something to report (then rows must be numbered and shown).
- :func:`load_records` with ``strict=False``, for a ragged or gappy file (a record wider or
  narrower than the header, a blank line): DuckDB again, sequential and lenient (short records
  padded, as many columns as the widest record), over a copy in which each blank line holds a
  marker so that it becomes a record instead of being skipped; the marker is removed from the
  cells afterwards. Slower, only for files that are invalid anyway.

The table has ``r``, the record's number as frictionless gives it (the header is record 1, a
quoted multi-line cell is one record), and ``c1``…``cN``: each cell's text, ``''`` for an empty
cell, NULL only for a cell the record does not have.

DuckDB skips blank lines where Python reads an empty record: :mod:`schemas.datapackage.files`
counted the adjacent line breaks of the file, and :func:`scan` those inside the cells; they are
equal exactly when the file has no blank line. A file whose quoting Python reads leniently and
DuckDB refuses (a quote after a closing quote, a quote after a space, a quote never closed), or
that is not UTF-8, is reported unreadable (:class:`UnreadableCsv`), never guessed at. A file that
mixes line terminators (``\n``, ``\r\n``, a lone ``\r``: each ends a record for Python) is
refused as a whole by DuckDB's strict reader: its quoting is checked strictly on a copy with
``\n`` only, then it is read leniently.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from schemas.datapackage.dialect import CsvDialect
from schemas.datapackage.files import BREAK_PAIRS, FileFacts

STRUCTURAL = frozenset({"MISSING COLUMNS", "TOO MANY COLUMNS"})
_BLANK_LINE = re.compile(rb"(\r\n|\r(?!\n)|\n)(?=[\r\n])")


class UnreadableCsv(ValueError):
    """The file cannot be read as Python's csv module reads it; ``error_type`` is frictionless's."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class CsvTable:
    name: str  # a DuckDB table: r, c1…c{width}
    width: int
    records: int  # header included


@dataclass(frozen=True)
class Scan:
    values: tuple[Any, ...]  # the aggregates asked for, in order
    structural: bool  # some record is not as wide as the header (or strict reading failed): rows were lost
    breaks_match: bool  # the cells hold every adjacent line break of the file: no blank line


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns(width: int) -> str:
    return "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, width + 1)) + "}"


def _strict(path: Path, dialect: CsvDialect, width: int, header: bool, rejects: str) -> str:
    return (
        f"read_csv({_sql(str(path))}, {dialect.duckdb_options(header)}, strict_mode = true, "
        f"ignore_errors = true, store_rejects = true, rejects_table = '{rejects}', "
        f"rejects_scan = '{rejects}_scans', columns = {_columns(width)})"
    )


def scan(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    dialect: CsvDialect,
    width: int,
    facts: FileFacts,
    aggregates: list[str],
    rejects: str,
    header: list[str] | None = None,
    breaking: list[int] | None = None,
) -> Scan:
    """One streaming strict pass over the data rows (the first record skipped when the dialect has
    a header: ``header``, as Python read it) computing ``aggregates`` (SQL over ``c1``…``c{width}``).
    ``breaking``: the columns whose cells may hold line breaks (default all): counting them in
    fewer columns can only find a file gappy when it is not, and send it to the lenient reader.
    Raises :class:`UnreadableCsv` for a file Python reads otherwise."""
    if dialect.header and header is not None:
        _check_header(conn, path, dialect, width, header)
    present = [pair for pair in BREAK_PAIRS if facts.pairs[pair]]
    columns = [i for i in breaking if i <= width] if breaking is not None else range(1, width + 1)
    breaks = [
        " + ".join(
            [
                f"coalesce(sum(CASE WHEN contains(c{i}, {_sql(pair)}) "
                f"THEN (strlen(c{i}) - strlen(replace(c{i}, {_sql(pair)}, ''))) // 2 END), 0)"
                for i in columns
            ]
            or ["0"]
        )
        for pair in present
    ]
    try:
        values = conn.execute(
            f"SELECT {', '.join([*aggregates, *breaks]) or 'count(*)'} "
            f"FROM {_strict(path, dialect, width, dialect.header, rejects)}"
        ).fetchall()[0]
    except duckdb.InvalidInputException as exc:  # line terminators mixed in one file?
        conn.execute(f"DROP TABLE IF EXISTS {rejects}; DROP TABLE IF EXISTS {rejects}_scans")
        _check_quoting(conn, path, dialect, width, rejects, exc)
        return Scan(values=(), structural=True, breaks_match=False)  # only the lenient reader copes
    kinds = _rejects(conn, rejects)
    unreadable = {kind: count for kind, count in kinds.items() if kind not in STRUCTURAL}
    if unreadable:
        raise _unreadable(unreadable)
    found = dict(zip(present, values[len(aggregates) :], strict=True))
    return Scan(
        values=tuple(values[: len(aggregates)]),
        structural=bool(kinds),
        breaks_match=not facts.starts_with_break and all(found[p] == facts.pairs[p] for p in present),
    )


def spacing_patterns(dialect: CsvDialect) -> tuple[re.Pattern[bytes], ...]:
    """A space between a delimiter and an opening quote, or between a closing quote and a
    delimiter: DuckDB drops it and reads the quoted text (``1, "y",3`` gives ``y``), Python keeps
    quotes and spaces as text (`` "y"``). No CSV writer puts it there (a cell with a quote is
    quoted whole, its quotes doubled), so a space next to a lone quote — a space then a quote not
    followed by another quote or the end of the cell, or a quote after some text and before a
    space — makes the file unreadable (:func:`spaced_quote`) rather than read otherwise than
    frictionless reads it. The byte patterns, for :func:`schemas.datapackage.files.read_facts`."""
    if not dialect.quote_char:
        return ()
    quote, delimiter = re.escape(dialect.quote_char.encode()), re.escape(dialect.delimiter.encode())
    return (
        re.compile(b" " + quote + b"[^" + quote + delimiter + b"\\r\\n]"),
        re.compile(quote + b" (?<=[^" + quote + delimiter + b"\\r\\n]" + quote + b" )"),
    )


def spaced_quote() -> UnreadableCsv:
    return UnreadableCsv(
        "source-error",
        "fichier CSV mal formé : une espace entre un guillemet isolé et le séparateur "
        "(DuckDB la retirerait, Python la garde)",
    )


def _check_header(
    conn: duckdb.DuckDBPyConnection, path: Path, dialect: CsvDialect, width: int, header: list[str]
) -> None:
    """DuckDB skips a header without reading it as a record, and one it cannot read makes it return
    no row at all: a first line with a quote or a carriage return is read by DuckDB too, and must
    give the cells Python read (a plain first line cannot be read otherwise)."""
    with open(path, "rb") as handle:
        line = handle.readline(1 << 16)
    if not header or (dialect.quote_char.encode() not in line and b"\r" not in line and line.endswith(b"\n")):
        return  # a blank first line: the lenient reader will read it (the file starts with a line break)
    try:
        rows = conn.execute(
            f"SELECT * FROM read_csv({_sql(str(path))}, {dialect.duckdb_options(False)}, strict_mode = true, "
            f"ignore_errors = true, parallel = false, columns = {_columns(width)}) LIMIT 1"
        ).fetchall()
    except duckdb.InvalidInputException:
        return  # mixed line terminators: the strict scan fails the same way, the lenient reader reads it
    if not rows or list(rows[0]) != header:
        raise UnreadableCsv("source-error", "en-tête illisible : guillemet mal placé ou fin de ligne dans un libellé")


def _check_quoting(
    conn: duckdb.DuckDBPyConnection, path: Path, dialect: CsvDialect, width: int, rejects: str, exc: Exception
) -> None:
    """DuckDB's strict reader refuses a file mixing ``\n``, ``\r\n`` and lone ``\r`` as a whole,
    where Python's csv module takes each as the end of a record; the lenient reader copes but
    would not notice a malformed quote. So the quoting is checked strictly on a copy whose line
    terminators are all ``\n`` (quotes unchanged); a file without ``\r`` failed for another reason."""
    data = path.read_bytes()
    if b"\r" not in data:
        raise UnreadableCsv("source-error", f"fichier CSV illisible : {str(exc).splitlines()[0]}") from exc
    with tempfile.TemporaryDirectory(prefix="aides-validation-") as folder:
        copy = Path(folder) / "lf.csv"
        copy.write_bytes(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        try:
            conn.execute(f"SELECT count(*) FROM {_strict(copy, dialect, width, False, rejects)}").fetchall()
        except duckdb.Error as again:
            conn.execute(f"DROP TABLE IF EXISTS {rejects}; DROP TABLE IF EXISTS {rejects}_scans")
            raise UnreadableCsv("source-error", f"fichier CSV illisible : {str(again).splitlines()[0]}") from again
        unreadable = {kind: n for kind, n in _rejects(conn, rejects).items() if kind not in STRUCTURAL}
    if unreadable:
        raise _unreadable(unreadable)


def _rejects(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    found = conn.execute(f"SELECT error_type, count(*) FROM {table} GROUP BY ALL").fetchall()
    conn.execute(f"DROP TABLE {table}; DROP TABLE {table}_scans")
    return {str(kind): int(count) for kind, count in found}


def _unreadable(kinds: dict[str, int]) -> UnreadableCsv:
    if "INVALID UNICODE" in kinds:
        return UnreadableCsv("encoding-error", "le fichier n'est pas en UTF-8 valide")
    what = ", ".join(f"{kind.lower()} ({count})" for kind, count in sorted(kinds.items()))
    return UnreadableCsv(
        "source-error",
        f"fichier CSV mal formé ({what}) : guillemet mal placé ou jamais fermé, ou ligne trop longue",
    )


def load_records(
    conn: duckdb.DuckDBPyConnection, path: Path, dialect: CsvDialect, name: str, width: int, strict: bool
) -> CsvTable:
    """The file's records (header included) as the table ``name`` (see the module docstring)."""
    if strict:
        conn.execute(
            f"CREATE TEMP TABLE {name}_read AS SELECT * FROM {_strict(path, dialect, width, False, name + '_rej')}"
        )
        _rejects(conn, f"{name}_rej")
        conn.execute(f"CREATE TEMP TABLE {name} AS SELECT rowid + 1 AS r, * FROM {name}_read")
        conn.execute(f"DROP TABLE {name}_read")
        return CsvTable(name, width, _count(conn, name))
    return _load_leniently(conn, path, dialect, name, width)


def _count(conn: duckdb.DuckDBPyConnection, name: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])


def _load_leniently(
    conn: duckdb.DuckDBPyConnection, path: Path, dialect: CsvDialect, name: str, width: int
) -> CsvTable:
    """Ragged records and blank lines: blank lines marked, records padded, as wide as the widest."""
    data = path.read_bytes()
    data = data.removeprefix(b"\xef\xbb\xbf")
    marker = b"\x02blank" + secrets.token_hex(8).encode() + b"\x03"
    marked = _BLANK_LINE.sub(rb"\1" + marker, data)
    if marked[:1] in (b"\n", b"\r"):
        marked = marker + marked
    width = max(width * 2, 8)
    with tempfile.TemporaryDirectory(prefix="aides-validation-") as folder:
        copy = Path(folder) / "marked.csv"
        copy.write_bytes(marked)
        while True:
            try:
                conn.execute(
                    f"CREATE TEMP TABLE {name}_read AS SELECT * FROM read_csv({_sql(str(copy))}, "
                    f"{dialect.duckdb_options(False)}, strict_mode = false, null_padding = true, parallel = false, "
                    f"columns = {_columns(width)})"
                )
            except duckdb.Error as exc:
                raise UnreadableCsv("source-error", f"fichier CSV illisible : {str(exc).splitlines()[0]}") from exc
            if not conn.execute(f"SELECT count(c{width}) FROM {name}_read").fetchall()[0][0]:
                break  # no record reached the last column: none was cut
            conn.execute(f"DROP TABLE {name}_read")
            width *= 2
    text = _sql(marker.decode())
    blank = f"c1 = {text} AND " + " AND ".join(f"c{i} IS NULL" for i in range(2, width + 1))
    cells = ", ".join(
        f"CASE WHEN {blank} THEN NULL ELSE replace(c{i}, {text}, '') END AS c{i}" for i in range(1, width + 1)
    )
    conn.execute(f"CREATE TEMP TABLE {name} AS SELECT rowid + 1 AS r, {cells} FROM {name}_read")
    conn.execute(f"DROP TABLE {name}_read")
    return CsvTable(name, width, _count(conn, name))
