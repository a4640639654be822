"""One rule for folding names and labels before comparing them, for scalars and polars alike.

Headings of a producer's page, commune names, vocabulary labels, aid titles and stated dates
are all compared after the same steps, in this order:

1. NFKD, then every combining mark dropped: ``é`` → ``e``, ``ﬁ`` → ``fi``, no-break space → space,
   ``´`` → space;
2. ligatures spelt out, both cases (NFKD keeps them): ``œ`` → ``oe``, ``æ`` / ``ǽ`` → ``ae``,
   ``ß`` → ``ss``;
3. typographic apostrophes (``’ ‘ ` ʼ``) → ``'``;
4. lower case;
5. unless ``keep_punctuation``: every run of characters that is neither a letter nor a digit
   (apostrophes, hyphens, slashes, spaces…) → one space;
6. runs of white space → one space, none at either end.

``keep_punctuation=True`` is for texts whose punctuation means something: dates (``31/12/2025``,
``10:00``), vocabulary labels (mapping files keyed with their apostrophes and hyphens), and the
``s/`` ("sur") of a commune name before it is split into words. :func:`fold` (one Python
string: headings, names looked up one at a time) and :func:`fold_expr` (a polars column: hot
paths) implement the same steps; ``tests/test_folding.py`` checks that they agree.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

LIGATURES: dict[str, str] = {"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS"}
"""Letters NFKD does not decompose, spelt out as French writes them without the ligature."""

APOSTROPHES: str = "’‘`ʼ"
"""Typographic apostrophes read as ``'`` (the acute accent ``´`` used as one is a space after NFKD)."""

_LIGATURE_TABLE = str.maketrans(LIGATURES)
_APOSTROPHE_TABLE = str.maketrans(dict.fromkeys(APOSTROPHES, "'"))
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")


def fold(text: str, *, keep_punctuation: bool = False) -> str:
    """``text`` folded for comparison (module docstring): ``"L’Œuvre  d'Été-2"`` → ``"l oeuvre d ete 2"``."""
    if not text.isascii():  # ASCII has nothing to decompose, no mark, no ligature: most names skip this
        text = unicodedata.normalize("NFKD", text)
        if not text.isascii():
            text = "".join(char for char in text if char.isascii() or unicodedata.category(char)[0] != "M")
            text = text.translate(_LIGATURE_TABLE)
    text = text.translate(_APOSTROPHE_TABLE).lower()
    if not keep_punctuation:
        text = _NOT_LETTER_OR_DIGIT.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def fold_expr(expr: pl.Expr, *, keep_punctuation: bool = False) -> pl.Expr:
    """The same folding as :func:`fold`, as one polars expression over a string column."""
    folded = (
        expr.str.normalize("NFKD")
        .str.replace_all(r"\p{M}+", "")
        .str.replace_many(list(LIGATURES), list(LIGATURES.values()))
        .str.replace_all(f"[{APOSTROPHES}]", "'")
        .str.to_lowercase()
    )
    if not keep_punctuation:
        folded = folded.str.replace_all(r"[^\p{L}\p{N}]+", " ")
    return folded.str.replace_all(r"\s+", " ").str.strip_chars()
