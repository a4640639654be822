"""A Table Schema ``pattern`` as frictionless applies it, written for DuckDB's regular expressions (RE2).

frictionless compiles ``"^{pattern}$"`` with Python's ``re`` and calls ``match``: anchored at
the start, ``$`` also matching before a final ``\\n``, ``\\d`` any Unicode decimal digit. RE2
differs on exactly those points, so :func:`to_re2` rewrites them (``\\A(?:…)``, ``$`` as
``(?:\\n?\\z)``, ``\\d`` as ``\\p{Nd}``) and refuses everything whose meaning it cannot carry
over exactly (``\\w``, ``\\s``, ``\\b``, inline flags, back-references, a ``$`` followed by more
pattern, POSIX-looking classes, ``{,n}``…). A refused pattern is not an error: its cells are then
checked by frictionless's own reader, one distinct value at a time (:mod:`schemas.datapackage.cells`).
"""

from __future__ import annotations

import re

_SAME_ESCAPES = frozenset("ntrfv")  # \n \t \r \f \v mean the same in both engines
_QUANTIFIER = re.compile(r"\{\d+(,\d*)?\}")


class UnsupportedPattern(ValueError):
    """The pattern means something RE2 cannot say exactly."""


def to_re2(pattern: str, ascii_digits: bool = False) -> str:
    """The RE2 expression that ``regexp_matches`` evaluates exactly as ``re.match("^{pattern}$", cell)``.

    ``ascii_digits``: ``\\d`` as ``[0-9]`` only — a narrower expression, quicker to evaluate: a cell
    it accepts, the exact one accepts too. Raises :class:`UnsupportedPattern` when no exact
    translation is known."""
    translated, _ = _translate(f"^{pattern}$", ascii_digits)
    return r"\A(?:" + translated + ")"


def to_re2_full(pattern: str, ascii_digits: bool = False) -> str | None:
    """The same test as ``regexp_full_match`` (quicker: anchored at both ends), when the pattern
    is one branch between its anchors: ``^X$`` matches a cell, for Python, when X matches it whole
    or whole but a final ``\\n``, so ``X\\n?`` over the whole cell. None for a pattern with an
    alternative at its top level or an anchor inside. Raises :class:`UnsupportedPattern` as
    :func:`to_re2` does."""
    core = pattern
    while core.startswith("^"):
        core = core[1:]
    while core.endswith("$") and not _escaped_at(core, len(core) - 1):
        core = core[:-1]
    translated, plain = _translate(core, ascii_digits, anchors=False)
    return f"(?:{translated})\\n?" if plain else None


def _escaped_at(text: str, index: int) -> bool:
    """Whether the character at ``index`` is escaped (an odd number of backslashes before it)."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _translate(wrapped: str, ascii_digits: bool, anchors: bool = True) -> tuple[str, bool]:
    """The RE2 spelling of a Python pattern, and whether it is one plain branch (no ``|`` at its
    top level, no ``^`` or ``$`` outside a class: what :func:`to_re2_full` needs)."""
    out: list[str] = []
    i, in_class, depth, plain = 0, False, 0, True
    while i < len(wrapped):
        char = wrapped[i]
        if char == "\\":
            if i + 1 >= len(wrapped):
                raise UnsupportedPattern("barre oblique inverse finale")
            out.append(_escape(wrapped, i, in_class, ascii_digits))
            i += 6 if wrapped[i + 1] == "u" else 4 if wrapped[i + 1] == "x" else 2
            continue
        if in_class:
            if char == "[" or (char == ":" and out and out[-1] == "["):
                raise UnsupportedPattern("classe imbriquée ou POSIX")
            if char == "]" and not _class_opened_just_before(out):
                in_class = False
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if wrapped[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
        elif char == "$":
            plain = False
            if not anchors:
                out.append("$")  # not used: a full match only takes plain patterns
            elif wrapped[i + 1 :].strip("$)"):
                raise UnsupportedPattern("« $ » suivi d'autre chose que la fin du motif")
            else:
                out.append(r"(?:\n?\z)")
        elif char == "(" and wrapped[i + 1 : i + 2] == "?":
            if not (wrapped.startswith("(?:", i) or wrapped.startswith("(?P<", i)):
                raise UnsupportedPattern("groupe spécial (drapeaux, assertions)")
            depth += 1
            out.append(char)
        elif char == "{":
            if not _QUANTIFIER.match(wrapped, i):
                raise UnsupportedPattern("accolade hors quantificateur {m,n}")
            out.append(char)
        else:
            depth += char == "("
            depth -= char == ")"
            plain = plain and not (char == "^" or (char == "|" and depth == 0))
            out.append(char)
        i += 1
    if in_class:
        raise UnsupportedPattern("classe non fermée")
    return "".join(out), plain


def _class_opened_just_before(out: list[str]) -> bool:
    """``]`` right after ``[`` or ``[^`` is a literal in both engines."""
    return bool(out) and (out[-1] == "[" or (out[-1] == "^" and len(out) > 1 and out[-2] == "["))


def _escape(wrapped: str, i: int, in_class: bool, ascii_digits: bool = False) -> str:
    letter = wrapped[i + 1]
    if letter == "d":
        if ascii_digits:
            return "0-9" if in_class else "[0-9]"
        return r"\p{Nd}"
    if letter == "D":
        if in_class:
            raise UnsupportedPattern(r"\D dans une classe")
        return r"\P{Nd}"
    if letter in _SAME_ESCAPES:
        return "\\" + letter
    if letter == "x":
        digits = wrapped[i + 2 : i + 4]
        if not re.fullmatch(r"[0-9a-fA-F]{2}", digits):
            raise UnsupportedPattern(r"\x mal formé")
        return r"\x{" + digits + "}"
    if letter == "u":
        digits = wrapped[i + 2 : i + 6]
        if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
            raise UnsupportedPattern(r"\u mal formé")
        return r"\x{" + digits + "}"
    if letter.isascii() and not letter.isalnum():
        return "\\" + letter  # an escaped punctuation character is itself in both engines
    raise UnsupportedPattern(f"séquence \\{letter}")
