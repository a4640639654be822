"""How the cells of one field are checked: frictionless's rules as SQL, its reader for the long tail.

For each field, :func:`field_check` writes SQL over the field's column (the cell's text):

- ``blank``: the cell is absent or one of the missing values (``missingValues``, exact text);
- ``fast``: the cell is surely of the field's type, in the canonical form the project writes
  (``2025-10-15T00:00:00+02:00``, ``1500.5``, a lower- or upper-case UUID…);
- one predicate per constraint, exact on those canonical cells (``pattern`` through
  :mod:`schemas.datapackage.regex`, lengths in code points as Python counts them, bounds
  compared as doubles only when every value involved has at most 15 significant digits, where a
  double decides exactly as Python's ``Decimal``);
- ``key``: the value the cell stands for in ``unique``, ``primaryKey`` and ``foreignKeys``.

A present cell that is not canonical (``' 5 '``, ``1e3``, ``1_000``, a week date, a pattern
RE2 cannot say exactly…) is rare, and never in a release the project writes: each distinct
such text is given to frictionless's own cell reader for this field (:class:`SlowReader`), which
says whether it is of the type, which constraints it breaks, and the value it stands for. So
"what is a number" stays frictionless's definition, to the last odd case, while every row of
every usual file is decided in SQL.

Cheap tests come first, as CASE branches: DuckDB evaluates both sides of an OR on every row, a
CASE branch only on the rows that reach it (a text's byte length before its code points, a
pattern with ASCII digits before the one with every Unicode digit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.datapackage.regex import UnsupportedPattern, to_re2, to_re2_full

DEFAULT_TRUE = ("true", "True", "TRUE", "1")
DEFAULT_FALSE = ("false", "False", "FALSE", "0")
SUPPORTED: dict[str, tuple[str, ...]] = {
    "string": ("required", "minLength", "maxLength", "pattern", "enum"),
    "number": ("required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"),
    "integer": ("required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"),
    "date": ("required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"),
    "datetime": ("required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"),
    "boolean": ("required", "enum"),
    "any": ("required", "enum"),
}
KNOWN_TYPES = frozenset(
    {"any", "array", "boolean", "date", "datetime", "duration", "geojson", "geopoint", "integer", "list"}
    | {"number", "object", "string", "time", "year", "yearmonth"}
)  # frictionless's field types: the ones without SQL go to its reader
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_URI = "^[a-zA-Z][a-zA-Z0-9+.-]*:"  # rfc3986's URI_MATCHER finds a scheme: all frictionless asks
_DATE = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_DATETIME = _DATE + "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
_EXACT_DIGITS = 15  # two decimals of at most 15 significant digits never round to the same double


class SchemaProblem(ValueError):
    """A field the validator cannot check (unknown type, constraint its type does not have)."""


@dataclass(frozen=True)
class FieldCheck:
    """The SQL that checks one field's column; ``fast`` None: every present cell goes to frictionless's reader."""

    position: int
    name: str
    column: str
    required: bool
    blank: str
    fast: str | None
    constraints: tuple[tuple[str, str], ...]  # (constraint, SQL true when a fast cell satisfies it)
    key: str | None  # SQL value of a fast cell for unique / primaryKey / foreignKeys
    descriptor: dict[str, Any]
    may_break: bool = True  # a valid fast cell may hold a line break (see csv_reader.scan)
    present_blank: str = "false"  # ``blank`` for a cell that is there (the strict reading has no NULL)
    quick: tuple[tuple[str, str], ...] = ()  # constraints again, quicker, true only where the exact one is


Rule = tuple[str, str, str]  # (constraint, SQL true when a fast cell satisfies it, quicker SQL true only then)


def _same(name: str, test: str) -> Rule:
    return (name, test, test)


def sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(column: str, values: Iterable[str]) -> str:
    listed = ", ".join(sql_text(v) for v in values)
    return f"{column} IN ({listed})" if listed else "false"


def missing_values(entries: Iterable[Any]) -> tuple[str, ...]:
    """``missingValues`` as texts (Data Package v2 also allows ``{"value": …, "label": …}``)."""
    return tuple(str(e["value"]) if isinstance(e, dict) else str(e) for e in entries)


def field_check(
    position: int,
    descriptor: dict[str, Any],
    schema_missing: tuple[str, ...],
    keyed: bool,
    compiles: Callable[[str], bool],
) -> FieldCheck:
    """The checks of the field at ``position`` (1-based column); ``keyed``: its values are compared
    (unique, primary or foreign key); ``compiles``: whether DuckDB accepts an RE2 expression."""
    column = f"c{position}"
    kind = descriptor.get("type") or "string"
    fmt = str(descriptor.get("format") or "default").removeprefix("fmt:")
    constraints = descriptor.get("constraints") or {}
    missing = missing_values(descriptor["missingValues"]) if "missingValues" in descriptor else schema_missing
    if kind not in KNOWN_TYPES:
        raise SchemaProblem(f"champ {descriptor.get('name')} : type {kind!r} inconnu")
    if kind in SUPPORTED:
        unsupported = [n for n in constraints if n not in (*SUPPORTED[kind], "unique")]
        if unsupported:
            raise SchemaProblem(
                f"champ {descriptor.get('name')} : contrainte {', '.join(unsupported)} impossible pour le type {kind}"
            )
    present_blank = (
        (f"{column} = {sql_text(missing[0])}" if len(missing) == 1 else _in(column, missing)) if missing else "false"
    )
    blank = f"({column} IS NULL OR {present_blank})"
    fast, checks, key = _typed(column, kind, fmt, descriptor, constraints, keyed, compiles)
    enum = constraints.get("enum")
    no_break = (
        (kind in ("number", "integer", "boolean", "date", "datetime") or fmt == "uuid")
        or (isinstance(enum, list) and not any("\n" in str(v) or "\r" in str(v) for v in enum))
    ) and fast is not None
    return FieldCheck(
        position=position,
        name=str(descriptor.get("name")),
        column=column,
        required=bool(constraints.get("required")),
        blank=blank,
        fast=fast,
        constraints=tuple((name, exact) for name, exact, _ in checks) if fast is not None else (),
        key=key if fast is not None else None,
        descriptor=descriptor,
        may_break=not no_break,
        present_blank=present_blank,
        quick=tuple((name, quick) for name, _, quick in checks) if fast is not None else (),
    )


def _typed(
    column: str,
    kind: str,
    fmt: str,
    descriptor: dict[str, Any],
    constraints: dict[str, Any],
    keyed: bool,
    compiles: Callable[[str], bool],
) -> tuple[str | None, list[Rule], str | None]:
    """(fast predicate, constraint predicates, key) for the field's type; fast None: no fast path."""
    active = {n: v for n, v in constraints.items() if v is not None and n not in ("required", "unique")}
    if kind in ("string", "any"):
        return _string(column, kind, fmt, active, compiles)
    if kind == "integer":
        return _numeric(column, active, "BIGINT", _as_int, f"regexp_full_match({column}, '-?[0-9]{{1,18}}')")
    if kind == "number":
        if descriptor.get("decimalChar", ".") != "." or keyed:
            return None, [], None
        canonical = (
            f"regexp_full_match({column}, '-?[0-9]+(\\.[0-9]+)?') "
            f"AND strlen(regexp_replace({column}, '[^0-9]', '', 'g')) <= {_EXACT_DIGITS}"
        )
        return _numeric(column, active, "DOUBLE", _as_decimal, canonical)
    if kind == "boolean":
        return _boolean(column, descriptor, active)
    if kind in ("date", "datetime") and fmt == "default" and not active and not keyed:
        pattern = _DATE if kind == "date" else _DATETIME
        valid = (  # a day after the 28th is checked against its month (and leap years)
            f"regexp_full_match({column}, '{pattern}') AND left({column}, 4) <> '0000' "
            f"AND (substr({column}, 9, 2) <= '28' OR TRY_CAST(left({column}, 10) AS DATE) IS NOT NULL)"
        )
        return valid, [], None
    return None, [], None


def _string(
    column: str, kind: str, fmt: str, active: dict[str, Any], compiles: Callable[[str], bool]
) -> tuple[str | None, list[Rule], str | None]:
    if kind == "any":
        fast = "true"
    elif fmt == "default":
        fast = "true"
    elif fmt == "uuid" and "enum" not in active:
        fast = f"regexp_full_match({column}, '{_UUID}')"
    elif fmt == "uri" and "enum" not in active:
        fast = f"regexp_matches({column}, '{_URI}')"
    else:
        return None, [], None
    checks: list[Rule] = []
    for name, value in active.items():
        if name == "minLength":
            checks.append(_same(name, f"length({column}) >= {int(value)}"))
        elif name == "maxLength":  # bytes first: as many code points at most, and known without reading
            limit = int(value)
            checks.append(
                _same(name, f"CASE WHEN strlen({column}) <= {limit} THEN true ELSE length({column}) <= {limit} END")
            )
        elif name == "enum":
            checks.append(_same(name, _in(column, [v for v in value if isinstance(v, str)])))
        elif name == "pattern":
            matched = _pattern(column, str(value), compiles)
            if matched is None:
                return None, [], None
            checks.append((name, *matched))
    return fast, checks, column


def pattern_expressions(resources: Iterable[dict[str, Any]]) -> list[str]:
    """The RE2 expressions :func:`field_check` will ask about for these resources' patterns."""
    found = []
    for resource in resources:
        schema = resource.get("schema")
        fields = (schema.get("fields") or []) if isinstance(schema, dict) else []
        for field in fields:
            pattern = (field.get("constraints") or {}).get("pattern")
            if isinstance(pattern, str):
                try:
                    found.append(to_re2_full(pattern) or to_re2(pattern))
                except UnsupportedPattern:
                    continue
    return list(dict.fromkeys(found))


def _pattern(column: str, pattern: str, compiles: Callable[[str], bool]) -> tuple[str, str] | None:
    """(exact, quick): SQL true when the cell matches ``pattern`` as frictionless matches it, and a
    quicker test true only then (ASCII digits for ``\\d``); None when RE2 cannot say it exactly
    (then frictionless's reader decides). A full match when the pattern allows it (quicker)."""
    try:
        full = to_re2_full(pattern)
        function, exact = ("regexp_full_match", full) if full else ("regexp_matches", to_re2(pattern))
        narrow = to_re2_full(pattern, ascii_digits=True) if full else to_re2(pattern, ascii_digits=True)
    except UnsupportedPattern:
        return None
    if exact is None or narrow is None or not compiles(exact):
        return None
    test = f"{function}({column}, {sql_text(exact)})"
    if narrow == exact:
        return test, test
    quick = f"{function}({column}, {sql_text(narrow)})"  # compiles when the exact one does
    return f"CASE WHEN {quick} THEN true ELSE {test} END", quick


def _numeric(
    column: str, active: dict[str, Any], sql_type: str, read: Callable[[Any], Any], fast: str
) -> tuple[str | None, list[Rule], str | None]:
    """Integers and numbers: the bounds and enumerated values read as frictionless reads them."""
    digits = 18 if sql_type == "BIGINT" else _EXACT_DIGITS
    typed = f"TRY_CAST({column} AS {sql_type})"
    checks: list[Rule] = []
    for name, value in active.items():
        values = value if name == "enum" else [value]
        literals = [read(v) for v in values]
        if name != "enum" and literals[0] is None:
            return None, [], None  # frictionless cannot compare with that bound either: let it say so
        kept = [v for v in literals if v is not None]
        if not all(_exact(v, digits) for v in kept):
            return None, [], None
        texts = [f"CAST({sql_text(str(v))} AS {sql_type})" for v in kept]
        if name == "enum":
            checks.append(_same(name, f"{typed} IN ({', '.join(texts)})" if texts else "false"))
        else:
            checks.append(_same(name, f"{typed} {_BOUNDS[name]} {texts[0]}"))
    key = f"CAST({typed} AS VARCHAR)" if sql_type == "BIGINT" else None
    return fast, checks, key


def _exact(value: Any, digits: int) -> bool:
    """The value converts to the SQL type without rounding into another one (see module docstring)."""
    if isinstance(value, int):
        return len(str(abs(value))) <= digits
    return bool(value.is_finite()) and len(value.normalize().as_tuple().digits) <= digits


def _as_int(value: Any) -> int | None:
    """frictionless's integer reader, for a constraint's value."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _as_decimal(value: Any) -> Decimal | int | None:
    """frictionless's number reader (Decimal), for a constraint's value."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return Decimal(str(value).strip()) if isinstance(value, float | str) else None
    except InvalidOperation:
        return None


def _boolean(
    column: str, descriptor: dict[str, Any], active: dict[str, Any]
) -> tuple[str | None, list[Rule], str | None]:
    mapping: dict[str, bool] = {}
    for text in descriptor.get("trueValues", DEFAULT_TRUE):
        mapping[text] = True
    for text in descriptor.get("falseValues", DEFAULT_FALSE):
        mapping[text] = False
    trues = [text for text, value in mapping.items() if value]
    truth = _in(column, trues)
    checks: list[Rule] = []
    if "enum" in active:
        allowed = {v if isinstance(v, bool) else mapping.get(v) if isinstance(v, str) else None for v in active["enum"]}
        allowed.discard(None)
        listed = ", ".join("true" if v else "false" for v in allowed)
        checks.append(_same("enum", f"({truth}) IN ({listed})" if allowed else "false"))
    return _in(column, mapping), checks, f"CASE WHEN {truth} THEN 'true' ELSE 'false' END"


# --------------------------------------------------------------------------- the long tail


Verdict = tuple[str, list[tuple[str, str | None]], str | None]  # (text, errors, key)


class SlowReader:
    """frictionless's cell reader of each field of a schema, built only when a cell needs it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._schema = schema
        self._readers: dict[str, Callable[[Any], tuple[Any, dict[str, str] | None]]] | None = None

    def verdicts(self, field: str, texts: Iterable[str]) -> list[Verdict]:
        """For each text: its errors ([("type-error", None)] or [("constraint-error", name)…]) and key."""
        reader = self._reader(field)
        out: list[Verdict] = []
        for text in texts:
            try:
                value, notes = reader(text)
            except Exception as exc:  # frictionless itself fails on this cell (a bound it cannot compare…)
                raise SchemaProblem(f"champ {field} : frictionless ne sait pas lire {text!r} ({exc})") from exc
            if notes and "type" in notes:
                out.append((text, [("type-error", None)], None))
            else:
                out.append((text, [("constraint-error", name) for name in notes or {}], canonical_key(value)))
        return out

    def _reader(self, field: str) -> Callable[[Any], tuple[Any, dict[str, str] | None]]:
        if self._readers is None:
            from frictionless import FrictionlessException, Schema

            try:
                schema = Schema.from_descriptor(self._schema)
            except FrictionlessException as exc:
                raise SchemaProblem(f"schéma illisible pour frictionless : {exc}") from exc
            self._readers = {f.name: f.create_cell_reader() for f in schema.fields}
        return self._readers[field]


def canonical_key(value: Any) -> str | None:
    """The text of a parsed value such that two values are equal in Python exactly when their texts are."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        value = Decimal(repr(value)) if value == value else value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None if value.is_nan() else str(value)
        return str(int(value)) if value == value.to_integral_value() else str(value.normalize())
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return "a" + value.astimezone(UTC).isoformat()
        return "n" + value.isoformat()
    if isinstance(value, date):
        return "d" + value.isoformat()
    return value if isinstance(value, str) else repr(value)
