"""One CSV table resource checked in DuckDB as frictionless checks it, row for row.

What frictionless does, and how it is done here with set-based SQL over the records table of
:mod:`schemas.datapackage.csv_reader`:

- **Header** (``exact`` field matching, frictionless's default): labels are the first record's
  cells, stripped; each label is paired with the schema field at the same position. A label
  beyond the schema is ``extra-label`` (its column is then an untyped field), a field beyond the
  labels ``missing-label`` (its column is not read at all), an empty label ``blank-label``, a
  repeated one ``duplicate-label``, another name ``incorrect-label``.
- **Rows**: a row whose every expected cell is blank (absent or a missing value) is reported as
  ``blank-row`` and nothing else of its cells; otherwise each cell gets ``type-error`` or its
  ``constraint-error``\\ s (:mod:`schemas.datapackage.cells`), each cell beyond the expected
  fields ``extra-cell``, each expected field the row does not reach ``missing-cell`` (a required
  one also ``constraint-error`` required, as in frictionless).
- **Values compared across rows**, on the values the cells stand for (a cell of the wrong type
  stands for nothing): ``unique-error`` for each row repeating an earlier row's value of a
  ``unique`` field, ``primary-key`` for each row repeating an earlier key or whose key cells
  all stand for nothing (blank rows included), when every key field is among the expected ones.

The values of keyed fields are kept in a table (``<id>_keys``) for the foreign keys, which
:mod:`schemas.datapackage.package` checks once every resource is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from schemas.datapackage.cells import FieldCheck, SchemaProblem, SlowReader, field_check, missing_values, sql_text
from schemas.datapackage.csv_reader import CsvTable, load_records, scan, spaced_quote
from schemas.datapackage.dialect import CsvDialect, first_record
from schemas.datapackage.errors import PackageError, constraint_message, type_message
from schemas.datapackage.files import FileFacts

_ERROR_COLUMNS = "r, type, pos, constraint_, cell"


@dataclass
class TableResult:
    errors: list[PackageError] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rows: int = 0  # data rows read, blank ones included, as frictionless counts them
    keys: str | None = None  # DuckDB table: r and one column per keyed field (named after it)
    expected: list[str] = field(default_factory=list)  # field names in data order


def as_list(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def check_table(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    table_id: str,
    resource: dict[str, Any],
    schema: dict[str, Any],
    path: Path,
    encoding: str,
    dialect: CsvDialect,
    facts: FileFacts,
    source_fields: set[str],
    limit: int | None,
    compiles: Callable[[str], bool],
) -> TableResult:
    """Every error of the CSV resource ``name`` read in ``dialect`` (``facts``: its bytes, read with
    :func:`~schemas.datapackage.csv_reader.spacing_patterns`); ``source_fields``: fields other
    resources' foreign keys point at; ``compiles``: whether DuckDB accepts an RE2 expression."""
    if facts.spaced_quote:
        raise spaced_quote()
    if schema.get("fieldsMatch", "exact") != "exact":
        raise SchemaProblem(f"fieldsMatch « {schema['fieldsMatch']} » non pris en charge (seulement « exact »)")
    fields: list[dict[str, Any]] = list(schema.get("fields") or [])
    first = first_record(path, encoding, dialect) if dialect.header else []
    labels = [cell.strip() for cell in first]
    width = len(first) if dialect.header else len(fields)
    first_row = 2 if dialect.header else 1
    expected = _expected(fields, labels)
    result = TableResult(expected=[f["name"] for f in expected])
    result.errors += _label_errors(name, labels, fields, dialect.header_case)

    names = set(result.expected)
    primary = as_list(schema.get("primaryKey"))
    primary = primary if primary and set(primary) <= names else []
    foreign = [as_list(fk.get("fields")) for fk in schema.get("foreignKeys") or []]
    keyed = {f["name"] for f in expected if (f.get("constraints") or {}).get("unique")} | set(primary)
    keyed |= {n for fk in foreign if set(fk) <= names for n in fk} | (source_fields & names)
    schema_missing = missing_values(schema.get("missingValues", [""]))
    checks = [field_check(i, f, schema_missing, f["name"] in keyed, compiles) for i, f in enumerate(expected, start=1)]

    aggregates = _aggregates(checks, primary) if width == len(checks) else ["count(*)"]
    breaking = [c.position for c in checks if c.may_break]
    scanned = scan(conn, path, dialect, max(width, 1), facts, aggregates, f"{table_id}_scan", first, breaking)
    strict = width > 0 and not scanned.structural and scanned.breaks_match
    valid = strict and width == len(checks) and not any(scanned.values[1:])
    if valid and not all(c.key for c in checks if c.name in keyed):
        valid = False  # a keyed field without SQL key: its values are compared by frictionless's reader
    if valid:
        result.rows = int(scanned.values[0])  # nothing to report: no row was kept
        if any(set(fk) <= names for fk in foreign) or source_fields & names:  # foreign keys need the values
            result.keys = _fast_keys(conn, table_id, path, dialect, width, first_row, checks, keyed)
    else:
        read = load_records(conn, path, dialect, table_id, max(width, 1), strict)
        result.rows = max(read.records - (first_row - 1), 0)
        _detail(conn, name, table_id, read, first_row, checks, schema, keyed, primary, limit, result)
    if not labels and not result.rows:
        result.errors.append(PackageError(name, "source-error", "le fichier est vide"))
    result.counts.update(e.type for e in result.errors if e.row is None)
    return result


def _aggregates(checks: list[FieldCheck], primary: list[str]) -> list[str]:
    """The streaming pass's counts: rows, then rows with anything to report (0: every cell is
    fine), then for each of :func:`_key_sets` how many rows repeat an earlier row's values.

    Each field's test is a CASE, so that DuckDB evaluates a constraint only on the cells that
    reach it (a cast on an empty cell is not free). Repeats are counted with ``list_distinct``
    rather than ``count(DISTINCT …)``, for which DuckDB would keep every column of the file."""
    suspects = [] if any(c.required for c in checks) else [_all_blank(checks, strict=True)]
    for c in checks:  # (a blank row leaves a required field blank: that field's test finds it)
        blank, required = c.present_blank, str(c.required).lower()
        broken = " OR ".join(f"NOT ({ok})" for _, ok in c.quick)  # a quick miss is looked at again, exactly
        if c.fast == "true":
            if broken:
                suspects.append(f"CASE WHEN {blank} THEN {required} ELSE {broken} END")
            elif c.required:
                suspects.append(blank)
        elif c.fast is not None:
            suspects.append(f"CASE WHEN {blank} THEN {required} WHEN {c.fast} THEN {broken or 'false'} ELSE true END")
        else:
            suspects.append(f"CASE WHEN {blank} THEN {required} ELSE true END")
    if primary:
        by_name = {c.name: c for c in checks}
        suspects.append("(" + " AND ".join(by_name[n].present_blank for n in primary) + ")")  # a key of nothing
    repeats = []
    for keys in _key_sets(checks, primary):
        value = (
            keys[0] if len(keys) == 1 else "struct_pack(" + ", ".join(f"k{i} := {k}" for i, k in enumerate(keys)) + ")"
        )
        values = f"list({value}) FILTER (WHERE NOT ({' AND '.join(f'{k} IS NULL' for k in keys)}))"
        repeats.append(f"len({values}) - len(list_distinct({values}))")  # NULL fields equal, as in Python tuples
    return ["count(*)", f"count(*) FILTER (WHERE {' OR '.join(suspects) or 'false'})", *repeats]


def _key_sets(checks: list[FieldCheck], primary: list[str]) -> list[list[str]]:
    """The values that must not repeat, as SQL over a valid file's cells: each unique field, and
    the primary key (a key set once, however many times it is declared)."""
    by_name = {c.name: c for c in checks}
    value = {c.name: f"CASE WHEN NOT {c.present_blank} THEN {c.key or 'NULL'} END" for c in checks}
    sets = [[value[c.name]] for c in checks if (c.descriptor.get("constraints") or {}).get("unique")]
    if primary and [value[n] for n in primary] not in sets:
        sets.append([value[n] for n in primary if n in by_name])
    return sets


def _fast_keys(
    conn: duckdb.DuckDBPyConnection,
    table_id: str,
    path: Path,
    dialect: CsvDialect,
    width: int,
    first_row: int,
    checks: list[FieldCheck],
    keyed: set[str],
) -> str:
    """The keyed fields' values of a file found valid (every cell canonical), for foreign keys."""
    columns = ", ".join(f'CASE WHEN NOT {c.blank} THEN {c.key} END AS "{c.name}"' for c in checks if c.name in keyed)
    widths = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, width + 1))
    conn.execute(
        f"CREATE TEMP TABLE {table_id}_keys_read AS SELECT {columns} "
        f"FROM read_csv({sql_text(str(path))}, {dialect.duckdb_options(dialect.header)}, columns = {{{widths}}})"
    )
    conn.execute(f"CREATE TEMP TABLE {table_id}_keys AS SELECT rowid + {first_row} AS r, * FROM {table_id}_keys_read")
    return f"{table_id}_keys"


def _detail(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    table_id: str,
    read: CsvTable,
    first_row: int,
    checks: list[FieldCheck],
    schema: dict[str, Any],
    keyed: set[str],
    primary: list[str],
    limit: int | None,
    result: TableResult,
) -> None:
    """Every error of a file the streaming pass found something in, row by row (in SQL)."""
    table = _padded(conn, read.name, read.width, len(checks))
    content = f"r >= {first_row}"
    slow = _slow_path(conn, table_id, table, content, checks, schema)
    conn.execute(
        f"CREATE TEMP TABLE {table_id}_blank AS SELECT r FROM {table} WHERE {content} AND {_all_blank(checks)}"
    )
    parts = _cell_errors(table, content, checks, slow, read.width)
    if keyed:
        result.keys = _keys_table(conn, table_id, table, content, [c for c in checks if c.name in keyed], slow)
        parts += _key_errors(result.keys, checks, primary)
    blank_rows = f"SELECT r, 'blank-row', NULL::INTEGER, NULL::VARCHAR, NULL::VARCHAR FROM {table_id}_blank"
    found = (
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS u({_ERROR_COLUMNS}) "
        f"WHERE r NOT IN (SELECT r FROM {table_id}_blank) OR type IN ('unique-error', 'primary-key') "
        f"UNION ALL {blank_rows}"
        if parts
        else blank_rows
    )
    conn.execute(f"CREATE TEMP TABLE {table_id}_errors AS SELECT * FROM ({found}) AS e({_ERROR_COLUMNS})")
    errors, counts = fetch_errors(conn, f"{table_id}_errors", name, checks, limit)
    result.errors += errors
    result.counts.update(counts)


def _expected(fields: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """The fields in data order: paired by position with the labels; a label beyond the schema
    becomes an untyped field named after it (made unique as frictionless does); no labels: the schema."""
    if not labels:
        return fields
    expected = []
    used: set[str] = {f["name"] for f in fields[: len(labels)]}
    for position, label in enumerate(labels):
        if position < len(fields):
            expected.append(fields[position])
            continue
        candidate, suffix = label, 2
        while candidate in used:
            candidate, suffix = f"{label}{suffix}", suffix + 1
        used.add(candidate)
        expected.append({"name": candidate, "type": "any", "missingValues": [""]})
    return expected


def _label_errors(name: str, labels: list[str], fields: list[dict[str, Any]], case: bool) -> list[PackageError]:
    if not labels:
        return []
    same = (lambda a, b: a == b) if case else (lambda a, b: a.lower() == b.lower())
    errors = [
        PackageError(name, "extra-label", f"colonne en trop dans l'en-tête : « {label} »", field="", field_number=n)
        for n, label in enumerate(labels, start=1)
        if n > len(fields)
    ]
    errors += [
        PackageError(
            name, "missing-label", f"colonne « {f['name']} » absente de l'en-tête", field=f["name"], field_number=n
        )
        for n, f in enumerate(fields[len(labels) :], start=len(labels) + 1)
    ]
    for n, (f, label) in enumerate(zip(fields, labels, strict=False), start=1):
        where = {"field": f["name"], "field_number": n}
        if not label:
            errors.append(PackageError(name, "blank-label", f"en-tête vide à la place de « {f['name']} »", **where))
        elif label in labels[: n - 1]:
            errors.append(PackageError(name, "duplicate-label", f"en-tête « {label} » répété", **where))
        elif not same(label, f["name"]):
            errors.append(
                PackageError(name, "incorrect-label", f"en-tête « {label} » au lieu de « {f['name']} »", **where)
            )
    return errors


def _padded(conn: duckdb.DuckDBPyConnection, table: str, width: int, needed: int) -> str:
    """The records with at least ``needed`` cell columns (the missing ones NULL: cells no record has)."""
    if needed <= width:
        return table
    extra = ", ".join(f"NULL::VARCHAR AS c{i}" for i in range(width + 1, needed + 1))
    conn.execute(f"CREATE TEMP VIEW {table}_padded AS SELECT *, {extra} FROM {table}")
    return f"{table}_padded"


def _all_blank(checks: list[FieldCheck], strict: bool = False) -> str:
    """Every expected cell blank; a CASE, so that a row is let go at its first non-blank cell
    (``strict``: read strictly, no cell is NULL)."""
    if not checks:
        return "true"
    tests = [c.present_blank if strict else c.blank for c in checks]
    return "CASE " + " ".join(f"WHEN NOT {t} THEN false" for t in tests) + " ELSE true END"


def _fast(check: FieldCheck) -> str:
    return check.fast if check.fast is not None else "false"


def _slow_path(
    conn: duckdb.DuckDBPyConnection,
    table_id: str,
    table: str,
    content: str,
    checks: list[FieldCheck],
    schema: dict[str, Any],
) -> str | None:
    """Distinct present cells outside the fast path, judged by frictionless's reader: the table
    ``<id>_slow`` (pos, text, type, constraint_, key), one row per error (type NULL: no error)."""
    selects = [
        f"SELECT {c.position} AS pos, {c.column} AS text FROM {table} WHERE {content} AND NOT {c.blank} "
        f"AND NOT ({_fast(c)})"
        for c in checks
        if c.fast != "true"
    ]
    if not selects:
        return None
    found = conn.execute(f"SELECT DISTINCT pos, text FROM ({' UNION ALL '.join(selects)})").fetchall()
    if not found:
        return None
    texts: dict[int, list[str]] = {}
    for pos, text in found:
        texts.setdefault(int(pos), []).append(str(text))
    reader = SlowReader(schema)
    by_position = {c.position: c for c in checks}
    rows: list[tuple[int, str, str | None, str | None, str | None]] = []
    for pos, values in texts.items():
        for text, errors, key in reader.verdicts(by_position[pos].name, values):
            rows += [(pos, text, kind, constraint, key) for kind, constraint in errors] or [
                (pos, text, None, None, key)
            ]
    frame = pl.DataFrame(
        rows,
        schema={"pos": pl.Int32, "text": pl.String, "type": pl.String, "constraint_": pl.String, "key": pl.String},
        orient="row",
    )
    conn.register(f"{table_id}_slow_frame", frame)
    conn.execute(f"CREATE TEMP TABLE {table_id}_slow AS SELECT * FROM {table_id}_slow_frame")
    conn.unregister(f"{table_id}_slow_frame")
    return f"{table_id}_slow"


def _cell_errors(table: str, content: str, checks: list[FieldCheck], slow: str | None, width: int) -> list[str]:
    """One SELECT per check producing (r, type, pos, constraint_, cell)."""
    parts = []
    for c in checks:
        at = f"{c.position}::INTEGER"
        if c.required:
            parts.append(
                f"SELECT r, 'constraint-error', {at}, 'required', {c.column} FROM {table} WHERE {content} AND {c.blank}"
            )
        for name, ok in c.constraints:
            parts.append(
                f"SELECT r, 'constraint-error', {at}, {sql_text(name)}, {c.column} FROM {table} "
                f"WHERE {content} AND NOT {c.blank} AND ({c.fast}) AND NOT ({ok})"
            )
        if slow is not None and c.fast != "true":
            parts.append(
                f"SELECT r, s.type, {at}, s.constraint_, {c.column} FROM {table} JOIN {slow} s "
                f"ON s.pos = {c.position} AND s.text = {c.column} WHERE {content} AND s.type IS NOT NULL"
            )
        parts.append(f"SELECT r, 'missing-cell', {at}, NULL, NULL FROM {table} WHERE {content} AND {c.column} IS NULL")
    for extra in range(len(checks) + 1, width + 1):
        parts.append(
            f"SELECT r, 'extra-cell', {extra}::INTEGER, NULL, c{extra} FROM {table} WHERE {content} AND c{extra} IS NOT NULL"
        )
    return parts


def _keys_table(
    conn: duckdb.DuckDBPyConnection, table_id: str, table: str, content: str, keyed: list[FieldCheck], slow: str | None
) -> str:
    """``<id>_keys``: each content row's values of the keyed fields (NULL: the cell stands for nothing)."""
    columns, joins = [], []
    for c in keyed:
        fallback = "NULL"
        if slow is not None and c.fast != "true":
            alias = f"s{c.position}"
            joins.append(
                f"LEFT JOIN (SELECT DISTINCT text, key FROM {slow} WHERE pos = {c.position}) {alias} "
                f"ON {alias}.text = {c.column}"
            )
            fallback = f"{alias}.key"
        fast_key = f"WHEN {_fast(c)} THEN {c.key} " if c.key else ""
        columns.append(f'CASE WHEN {c.blank} THEN NULL {fast_key}ELSE {fallback} END AS "{c.name}"')
    conn.execute(
        f"CREATE TEMP TABLE {table_id}_keys AS SELECT r, {', '.join(columns)} FROM {table} "
        f"{' '.join(joins)} WHERE {content}"
    )
    return f"{table_id}_keys"


def _key_errors(keys: str, checks: list[FieldCheck], primary: list[str]) -> list[str]:
    parts = []
    for c in checks:
        if (c.descriptor.get("constraints") or {}).get("unique"):
            parts.append(
                f"SELECT r, 'unique-error', {c.position}::INTEGER, NULL, first::VARCHAR FROM (SELECT r, "
                f'row_number() OVER w AS n, first_value(r) OVER w AS first FROM {keys} WHERE "{c.name}" IS NOT NULL '
                f'WINDOW w AS (PARTITION BY "{c.name}" ORDER BY r)) WHERE n > 1'
            )
    if primary:
        quoted = ", ".join(f'"{n}"' for n in primary)
        none = " AND ".join(f'"{n}" IS NULL' for n in primary)
        parts.append(f"SELECT r, 'primary-key', NULL::INTEGER, NULL, NULL FROM {keys} WHERE {none}")
        parts.append(
            f"SELECT r, 'primary-key', NULL::INTEGER, NULL, first::VARCHAR FROM (SELECT r, row_number() OVER w AS n, "
            f"first_value(r) OVER w AS first FROM {keys} WHERE NOT ({none}) WINDOW w AS (PARTITION BY {quoted} ORDER BY r)) "
            "WHERE n > 1"
        )
    return parts


def fetch_errors(
    conn: duckdb.DuckDBPyConnection, errors: str, name: str, checks: list[FieldCheck], limit: int | None
) -> tuple[list[PackageError], Counter[str]]:
    """The errors of the table ``errors`` (r, type, pos, constraint_, cell): counts by type, and
    the first ``limit`` in row order with their French messages."""
    counts = Counter(
        {str(t): int(n) for t, n in conn.execute(f"SELECT type, count(*) FROM {errors} GROUP BY ALL").fetchall()}
    )
    if not counts:
        return [], counts
    cap = f" LIMIT {int(limit)}" if limit is not None else ""
    rows = conn.execute(
        f"SELECT r, type, pos, constraint_, cell FROM {errors} ORDER BY r, pos NULLS FIRST, type, constraint_{cap}"
    ).fetchall()
    by_position = {c.position: c for c in checks}
    return [_error(name, by_position, *row) for row in rows], counts


def _error(
    name: str,
    checks: dict[int, FieldCheck],
    row: int,
    kind: str,
    pos: int | None,
    constraint: str | None,
    cell: str | None,
) -> PackageError:
    check = checks.get(pos) if pos is not None else None
    field_name = check.name if check else ("" if kind == "extra-cell" else None)
    descriptor = check.descriptor if check else {}
    where = f"ligne {row}" + (f", colonne {field_name}" if field_name else f", colonne {pos}" if pos else "")
    if kind == "type-error":
        detail = type_message(descriptor.get("type") or "string", str(descriptor.get("format") or "default"))
    elif kind == "constraint-error":
        detail = constraint_message(constraint or "", descriptor.get("constraints") or {})
    elif kind in ("unique-error", "primary-key") and cell:
        what = "clé primaire" if kind == "primary-key" else "valeur"
        detail, cell = f"{what} déjà présente ligne {cell}", None
    else:
        detail = {
            "primary-key": "clé primaire vide",
            "blank-row": "ligne vide",
            "extra-cell": "cellule en trop",
            "missing-cell": "cellule manquante",
        }.get(kind, kind)
    value = f" : {cell!r}" if cell is not None and kind in ("type-error", "constraint-error", "extra-cell") else ""
    return PackageError(
        resource=name,
        type=kind,
        message=f"{where} : {detail}{value}",
        row=int(row),
        field=field_name,
        field_number=int(pos) if pos is not None else None,
        constraint=constraint,
        cell=cell,
    )
