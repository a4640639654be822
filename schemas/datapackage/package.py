"""Every resource of a data package checked: files, CSV tables, foreign keys, Parquet footers.

The order and the rules are frictionless's (``Package.validate``): each resource's bytes and
digest against its ``bytes`` and ``hash``; a table resource's header and rows
(:mod:`schemas.datapackage.table`) and its row count against ``rows``; then the foreign keys,
checked on the values the cells stand for: a row whose key cells all stand for nothing is not
checked, any other must find its values among the referenced resource's rows (``IS NOT
DISTINCT FROM``: frictionless compares tuples, ``None`` equal to ``None``).

Beyond frictionless (``extension``): a Parquet file resource, for which frictionless checks only
bytes and digest, also has its footer read: column names and types against its declared schema,
number of rows against its ``num_rows``. Reading no row, it costs nothing.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from schemas.datapackage.cells import SchemaProblem, pattern_expressions
from schemas.datapackage.csv_reader import UnreadableCsv, spacing_patterns
from schemas.datapackage.dialect import CsvDialect, UnsupportedDialect, effective_dialect, text_encoding
from schemas.datapackage.errors import PackageError, PackageReport
from schemas.datapackage.files import FileFacts, declared_hash, file_errors, read_facts
from schemas.datapackage.table import TableResult, as_list, check_table

_TABLE_FORMATS = ("csv", "tsv")
_PARQUET_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("VARCHAR",),
    "boolean": ("BOOLEAN",),
    "integer": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"),
    "number": ("DOUBLE", "FLOAT", "DECIMAL"),
    "datetime": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"),
    "date": ("DATE",),
}


def validate_package(folder: Path, descriptor: dict[str, Any] | None = None, limit: int | None = 1000) -> PackageReport:
    """The project's verdict on the package ``descriptor`` (default: ``folder/datapackage.json``),
    its paths read relative to ``folder``; at most ``limit`` errors are detailed per resource
    (all are counted).

    Each file's bytes (size, digest, line breaks: :func:`read_facts`) are read by a thread, one
    file ahead of DuckDB: hashing lets DuckDB's threads run, and the next file is ready when
    DuckDB has done with this one."""
    if descriptor is None:
        descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    resources: list[dict[str, Any]] = list(descriptor.get("resources") or [])
    names = [str(r.get("name") or f"resource{i + 1}") for i, r in enumerate(resources)]
    pointed = _pointed_fields(resources, names)
    report = PackageReport()
    tables: dict[str, TableResult] = {}
    plans = [_plan(folder, name, resource) for name, resource in zip(names, resources, strict=True)]
    with tempfile.TemporaryDirectory(prefix="aides-validation-") as spill, ThreadPoolExecutor(1) as reader:
        facts = [reader.submit(_read, plan) for plan in plans]
        conn = duckdb.connect(config={"temp_directory": spill})
        compiles = _compiler(conn, resources)
        try:
            for index, (plan, resource) in enumerate(zip(plans, resources, strict=True)):
                errors, table = _resource(
                    conn,
                    folder,
                    plan,
                    facts[index],
                    f"res{index}",
                    resource,
                    pointed.get(plan.name, set()),
                    limit,
                    compiles,
                )
                if table is not None:
                    tables[plan.name] = table
                    report.rows[plan.name] = table.rows
                report.add(errors, _counts(errors, table))
            for name, resource in zip(names, resources, strict=True):
                if name in tables:
                    report.add(*_foreign_key_errors(conn, name, resource, tables, limit))
        finally:
            conn.close()
    return report


@dataclass
class _Plan:
    """How a resource is read: its file, kind and, for a CSV table, its dialect (or why not)."""

    name: str
    path: Path | None = None
    problem: PackageError | None = None  # the file cannot be read at all
    kind: str = "file"
    fmt: str = ""
    algorithms: tuple[str, ...] = ()
    encoding: str = "utf-8"
    dialect: CsvDialect | None = None
    dialect_problem: PackageError | None = None


def _plan(folder: Path, name: str, resource: dict[str, Any]) -> _Plan:
    location = resource.get("path")
    if not isinstance(location, str) or "://" in location:
        return _Plan(name, problem=PackageError(name, "scheme-error", f"chemin non local ou multiple : {location!r}"))
    path = folder / location
    if not path.is_file():
        return _Plan(name, problem=PackageError(name, "scheme-error", f"fichier introuvable : {location}"))
    fmt = str(resource.get("format") or path.suffix.lstrip(".")).lower()
    declared = declared_hash(resource)
    plan = _Plan(name, path, kind=resource.get("type") or ("table" if fmt in _TABLE_FORMATS else "file"), fmt=fmt)
    plan.algorithms = (declared[0],) if declared else ()
    if plan.kind == "table" and fmt in _TABLE_FORMATS:
        try:
            plan.encoding = text_encoding(path, resource.get("encoding"))
            plan.dialect = effective_dialect(resource, path, plan.encoding)
        except UnsupportedDialect as exc:
            plan.dialect_problem = PackageError(name, "dialect-error", str(exc))
    return plan


def _read(plan: _Plan) -> FileFacts | None:
    if plan.path is None:
        return None
    if plan.dialect is None:
        return read_facts(plan.path, False, algorithms=plan.algorithms)
    quote = plan.dialect.quote_char.encode() or b'"'
    return read_facts(plan.path, True, spacing_patterns(plan.dialect), plan.algorithms, quote)


def _counts(errors: list[PackageError], table: TableResult | None) -> Counter[str]:
    """Every error counted: the file's, and all of the table's (of which only some are detailed)."""
    counts = Counter(e.type for e in errors)
    if table is not None:
        counts -= Counter(e.type for e in table.errors)
        counts.update(table.counts)
    return counts


def _pointed_fields(resources: list[dict[str, Any]], names: list[str]) -> dict[str, set[str]]:
    """For each resource, the fields other resources' foreign keys point at."""
    pointed: dict[str, set[str]] = {}
    for name, resource in zip(names, resources, strict=True):
        schema = resource.get("schema") if isinstance(resource.get("schema"), dict) else {}
        for fk in (schema or {}).get("foreignKeys") or []:
            reference = fk.get("reference") or {}
            pointed.setdefault(reference.get("resource") or name, set()).update(as_list(reference.get("fields")))
    return pointed


def _resource(
    conn: duckdb.DuckDBPyConnection,
    folder: Path,
    plan: _Plan,
    reading: Future[FileFacts | None],
    table_id: str,
    resource: dict[str, Any],
    pointed: set[str],
    limit: int | None,
    compiles: Callable[[str], bool],
) -> tuple[list[PackageError], TableResult | None]:
    """The resource's own errors (its table's, if it is one, included) and its table."""
    name, path = plan.name, plan.path
    facts = reading.result()
    if plan.problem is not None or path is None or facts is None:
        return [plan.problem or PackageError(name, "scheme-error", "fichier illisible")], None
    errors: list[PackageError] = []
    table = None
    if plan.kind == "table":
        try:
            if plan.dialect_problem is not None:
                errors.append(plan.dialect_problem)
            elif plan.dialect is None:
                raise SchemaProblem(
                    f"table au format {plan.fmt} : seuls CSV et TSV sont lus par le validateur du projet"
                )
            else:
                schema = _schema(folder, resource)
                table = check_table(
                    conn,
                    name,
                    table_id,
                    resource,
                    schema,
                    path,
                    plan.encoding,
                    plan.dialect,
                    facts,
                    pointed,
                    limit,
                    compiles,
                )
        except SchemaProblem as exc:
            errors.append(PackageError(name, "schema-error", str(exc)))
        except UnreadableCsv as exc:
            errors.append(PackageError(name, exc.error_type, str(exc)))
    elif plan.fmt == "parquet":
        errors += _parquet_footer(conn, name, resource, path)
    if table is not None:
        errors = table.errors + errors
    rows = table.rows if table is not None else None
    if plan.kind != "table" or table is not None:
        errors += file_errors(name, resource, facts, rows)
    else:
        errors += [e for e in file_errors(name, resource, facts, rows) if e.type != "row-count"]
    return errors, table


_COMPILED: dict[str, bool] = {}


def _compiler(conn: duckdb.DuckDBPyConnection, resources: list[dict[str, Any]]) -> Callable[[str], bool]:
    """Whether DuckDB compiles an RE2 expression, remembered (the same patterns recur across
    resources and releases); the patterns of ``resources`` are tried at once, in one query."""
    known = _COMPILED
    pending = [e for e in pattern_expressions(resources) if e not in known]
    if pending:
        try:
            conn.execute("SELECT " + ", ".join("regexp_matches('', ?)" for _ in pending), pending).fetchall()
            known.update(dict.fromkeys(pending, True))
        except duckdb.Error:
            pass  # one of them does not compile: each is tried alone when asked

    def compiles(expression: str) -> bool:
        if expression not in known:
            try:
                conn.execute("SELECT regexp_matches('', ?)", [expression]).fetchall()
                known[expression] = True
            except duckdb.Error:
                known[expression] = False
        return known[expression]

    return compiles


def _schema(folder: Path, resource: dict[str, Any]) -> dict[str, Any]:
    schema = resource.get("schema") or {}
    if isinstance(schema, str):
        if "://" in schema:
            raise SchemaProblem(f"schéma distant non lu : {schema}")
        loaded: dict[str, Any] = json.loads((folder / schema).read_text(encoding="utf-8"))
        return loaded
    return dict(schema)


def _parquet_footer(
    conn: duckdb.DuckDBPyConnection, name: str, resource: dict[str, Any], path: Path
) -> list[PackageError]:
    """Columns, types and row count of a Parquet file against its declared schema (footer only)."""
    literal = "'" + str(path).replace("'", "''") + "'"
    try:
        columns = conn.execute(f"DESCRIBE SELECT * FROM read_parquet({literal})").fetchall()
        (rows,) = conn.execute(f"SELECT count(*) FROM read_parquet({literal})").fetchall()[0]
    except duckdb.Error as exc:
        return [PackageError(name, "parquet-error", f"fichier Parquet illisible : {exc}", extension=True)]
    errors = []
    fields = (resource.get("schema") or {}).get("fields") if isinstance(resource.get("schema"), dict) else None
    if fields is not None:
        found = [str(c[0]) for c in columns]
        wanted = [f["name"] for f in fields]
        if found != wanted:
            errors.append(PackageError(name, "parquet-error", f"colonnes {found} au lieu de {wanted}", extension=True))
        else:
            for (column, sql_type, *_), f in zip(columns, fields, strict=True):
                allowed = _PARQUET_TYPES.get(f.get("type") or "string")
                if allowed and not str(sql_type).startswith(allowed):
                    errors.append(
                        PackageError(
                            name,
                            "parquet-error",
                            f"colonne {column} de type {sql_type}, incompatible avec le type {f.get('type')} déclaré",
                            field=str(column),
                            extension=True,
                        )
                    )
    declared = resource.get("num_rows")
    if declared is not None and declared != rows:
        errors.append(
            PackageError(name, "row-count", f"{rows} ligne(s) au lieu de {declared} (num_rows)", extension=True)
        )
    return errors


def _foreign_key_errors(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    resource: dict[str, Any],
    tables: dict[str, TableResult],
    limit: int | None,
) -> tuple[list[PackageError], Counter[str]]:
    schema = resource.get("schema") if isinstance(resource.get("schema"), dict) else {}
    target = tables[name]
    errors: list[PackageError] = []
    counts: Counter[str] = Counter()
    for fk in (schema or {}).get("foreignKeys") or []:
        fields = as_list(fk.get("fields"))
        reference = fk.get("reference") or {}
        source_name = reference.get("resource") or name
        source_fields = as_list(reference.get("fields"))
        if source_name not in tables:
            message = f"clé étrangère vers la ressource « {source_name} », absente ou illisible"
            errors.append(PackageError(name, "resource-error", message))
            counts["resource-error"] += 1
            continue
        source = tables[source_name]
        if not set(fields) <= set(target.expected) or target.keys is None:
            continue
        mine = [f't."{f}"' for f in fields]
        theirs = [f's."{f}"' if f in source.expected and source.keys else "NULL" for f in source_fields]
        if len(theirs) != len(mine):
            raise ValueError(f"{name} : clé étrangère de {len(mine)} champ(s) vers {len(theirs)}")
        matches = " AND ".join(f"{s} IS NOT DISTINCT FROM {t}" for s, t in zip(theirs, mine, strict=True))
        source_table = source.keys or "(SELECT NULL AS r WHERE false)"
        found = conn.execute(
            f"SELECT t.r, {', '.join(mine)} FROM {target.keys} t WHERE NOT ({' AND '.join(f'{c} IS NULL' for c in mine)}) "
            f"AND NOT EXISTS (SELECT 1 FROM {source_table} s WHERE NOT ({' AND '.join(f'{c} IS NULL' for c in theirs)}) "
            f"AND {matches}) ORDER BY t.r"
        ).fetchall()
        counts["foreign-key"] += len(found)
        for row, *values in found[: limit if limit is not None else None]:
            shown = ", ".join("" if v is None else str(v) for v in values)
            errors.append(
                PackageError(
                    name,
                    "foreign-key",
                    f"ligne {row} : {', '.join(fields)} = {shown} absent(s) de {source_name} ({', '.join(source_fields)})",
                    row=int(row),
                )
            )
    return errors, counts
