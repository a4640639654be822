"""The CSV dialect frictionless reads a resource with, and its DuckDB spelling.

frictionless takes the dialect the package declares and, for what it leaves out, what Python's
``csv.Sniffer`` guesses on the file's first 100 lines (delimiter, quote, ``skipInitialSpace``):
:func:`effective_dialect` does the same, so both validators read the same cells. A dialect
DuckDB cannot read exactly as Python's ``csv`` module does (an escape character, spaces skipped
after the delimiter, comment or several header rows) is refused with :class:`UnsupportedDialect`
rather than approximated; the release declares every property, nothing is guessed for it.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_LINES = 100  # frictionless's CSV sample (formats/csv/parser.py)
_SNIFFED_DELIMITERS = ",\t;|"
_UNSUPPORTED = ("commentChar", "commentRows", "skipBlankRows")
NO_NULL = "\x01\x02aides:null\x03"  # no cell is ever NULL but one a short record does not have


class UnsupportedDialect(ValueError):
    """A dialect the project's validator cannot reproduce exactly."""


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    quote_char: str  # "" when nothing is quoted
    header: bool
    header_case: bool  # labels compared with field names case-sensitively

    def duckdb_options(self, skip_header: bool) -> str:
        """``read_csv`` options: this dialect, every cell as text, nothing guessed, nothing trimmed,
        an empty cell as ``''``; ``skip_header``: the first record is not read as data."""
        quote = _sql(self.quote_char)
        return (
            f"delim = {_sql(self.delimiter)}, quote = {quote}, escape = {quote}, header = {str(skip_header).lower()}, "
            "auto_detect = false, comment = '', encoding = 'utf-8', allow_quoted_nulls = false, "
            f"nullstr = {_sql(NO_NULL)}"
        )

    def python_dialect(self) -> type[csv.Dialect]:
        """How frictionless's CsvParser configures Python's reader for this dialect."""

        class Dialect(csv.excel):
            delimiter = self.delimiter
            quotechar = self.quote_char or '"'
            quoting = csv.QUOTE_NONE if self.quote_char == "" else csv.QUOTE_MINIMAL
            doublequote = True
            skipinitialspace = False

        return Dialect


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def text_encoding(path: Path, declared: str | None) -> str:
    """frictionless's encoding for a UTF-8 resource: ``utf-8-sig`` when the file starts with a BOM."""
    name = codecs.lookup(declared or "utf-8").name
    if name not in ("utf-8", "ascii"):
        raise UnsupportedDialect(f"encodage {declared} non pris en charge (UTF-8 seulement)")
    with open(path, "rb") as handle:
        return "utf-8-sig" if handle.read(3) == codecs.BOM_UTF8 else "utf-8"


def effective_dialect(resource: dict[str, Any], path: Path, encoding: str) -> CsvDialect:
    """The dialect frictionless would read ``path`` with (declared, then sniffed, then defaults)."""
    declared = dict(resource.get("dialect") or {})
    if isinstance(declared.get("csv"), dict):  # frictionless v5 nests the CSV control
        declared = {**declared, **declared.pop("csv")}
    for name in _UNSUPPORTED:
        if declared.get(name):
            raise UnsupportedDialect(f"propriété de dialecte « {name} » non prise en charge")
    if declared.get("headerRows", [1]) not in ([1], []):
        raise UnsupportedDialect("plusieurs lignes d'en-tête : non pris en charge")
    if declared.get("escapeChar"):
        raise UnsupportedDialect("caractère d'échappement : non pris en charge (DuckDB ne lit pas comme Python)")
    delimiter = declared.get("delimiter")
    quote_char = declared.get("quoteChar")
    skip_initial_space = declared.get("skipInitialSpace")
    if delimiter is None or quote_char is None or skip_initial_space is None:
        sniffed = _sniff(path, encoding, delimiter or ("\t" if resource.get("format") == "tsv" else None))
        delimiter = delimiter or sniffed.delimiter
        quote_char = quote_char if quote_char is not None else sniffed.quotechar
        skip_initial_space = skip_initial_space if skip_initial_space is not None else sniffed.skipinitialspace
    if skip_initial_space:
        raise UnsupportedDialect("espaces ignorés après le séparateur (skipInitialSpace) : non pris en charge")
    if len(delimiter) != 1 or len(quote_char) > 1:
        raise UnsupportedDialect("séparateur ou guillemet de plus d'un caractère")
    return CsvDialect(
        delimiter=delimiter,
        quote_char=quote_char,
        header=bool(declared.get("header", True)) and declared.get("headerRows", [1]) != [],
        header_case=bool(declared.get("headerCase", True)),
    )


class _Sniffed:
    delimiter = ","
    quotechar = '"'
    skipinitialspace = False


def _sniff(path: Path, encoding: str, delimiter: str | None) -> Any:
    """``csv.Sniffer`` on the first lines, as frictionless's CsvParser calls it."""
    with open(path, encoding=encoding, newline="", errors="replace") as handle:
        sample = "".join(itertools.islice(handle, SAMPLE_LINES))
    try:
        found = csv.Sniffer().sniff(sample, delimiter or _SNIFFED_DELIMITERS)
    except csv.Error:
        return _Sniffed()
    if found.quotechar == "'":  # frictionless ignores a guessed single quote (embedded JSON)
        found.quotechar = '"'
    return found


def first_record(path: Path, encoding: str, dialect: CsvDialect) -> list[str]:
    """The file's first record as Python's csv module reads it (the header's cells)."""
    with open(path, encoding=encoding, newline="", errors="replace") as handle:
        return next(csv.reader(handle, dialect.python_dialect()), [])
