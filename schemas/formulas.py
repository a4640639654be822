"""The formula-neutralising rule of the published CSV files, defined once.

A text cell whose first character a spreadsheet runs as a formula (``=``, ``+``, ``-``, ``@``,
tab, carriage return) is written with a single quote in front in the releases and in the
pre-filled submission files; the submission validator flags such cells, and reads a cell
neutralised that way as its text. The releases (polars), the validator (DuckDB) and the
submissions adapter (Python) all use the patterns below, derived from
:data:`FORMULA_START_CHARACTERS`: the same regex syntax serves Python's ``re``, polars' Rust
regex and DuckDB's RE2.
"""

from __future__ import annotations

import re

FORMULA_START_CHARACTERS: str = "=+-@\t\r"
"""First characters a spreadsheet runs as a formula (OWASP's CSV-injection list)."""

NEUTRALISING_QUOTE: str = "'"
"""Written in front of such a cell: spreadsheets show the text instead of running it."""

_CLASS_ESCAPES = {"\t": r"\t", "\r": r"\r", "-": r"\-", "]": r"\]", "\\": r"\\", "^": r"\^", "[": r"\["}
_CLASS = "[" + "".join(_CLASS_ESCAPES.get(char, char) for char in FORMULA_START_CHARACTERS) + "]"

FORMULA_START_PATTERN: str = "^" + _CLASS
"""A cell a spreadsheet would run as a formula (``re``, polars ``str.contains``, DuckDB
``regexp_matches``)."""

NEUTRALISED_PATTERN: str = "^" + re.escape(NEUTRALISING_QUOTE) + _CLASS
"""A cell neutralised by the quote: the quote, then a formula's first character."""

FORMULA_START: re.Pattern[str] = re.compile(FORMULA_START_PATTERN)
"""``FORMULA_START_PATTERN`` compiled, for Python scalars."""

_NEUTRALISED_QUOTE = re.compile("^" + re.escape(NEUTRALISING_QUOTE) + f"(?={_CLASS})")


def without_neutralising_quote(text: str) -> str:
    """``text`` without the quote that neutralises a formula (``'=1`` → ``=1``; ``'abc`` unchanged)."""
    return _NEUTRALISED_QUOTE.sub("", text, count=1)
