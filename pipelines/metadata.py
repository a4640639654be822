"""Shared helpers to describe assets and materialisations in the Dagster UI."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb

from sources.base import SourceSpec, adapter_module
from sources.registry import declaration_files
from warehouse.settings import PROJECT_ROOT

OWNERS = ["team:donnees-catalogue"]
"""Who answers for every asset of the code location (the data team)."""


def preview(conn: duckdb.DuckDBPyConnection, sql: str, limit: int = 10) -> dg.MetadataValue:
    """A Markdown table of the first rows of a query, for the asset's metadata."""
    cursor = conn.execute(f"SELECT * FROM ({sql}) LIMIT {int(limit)}")
    return md_table([column[0] for column in cursor.description], cursor.fetchall())


def md_table(columns: list[str], rows: list[tuple], empty: str = "aucune ligne") -> dg.MetadataValue:
    """Rows as a Markdown table the UI renders (cells on one line, ``|`` escaped)."""
    if not rows:
        return dg.MetadataValue.md(empty)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = ("" if value is None else str(value).replace("|", "\\|").replace("\n", " ") for value in row)
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def code_version(*patterns: str, files: tuple[Path, ...] = ()) -> str:
    """A short digest of the project files matching ``patterns`` (globs from the project root) and
    of ``files`` (anywhere: a deployment's own declarations live outside the repository): the
    ``code_version`` of an asset, so the UI says when its code changed since it last ran."""
    digest = hashlib.sha256()
    found = [path for pattern in patterns for path in sorted(PROJECT_ROOT.glob(pattern))]
    for path in [*found, *files]:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def declaration_of(spec_name: str) -> Path | None:
    """The ``sources/catalogue/*.toml`` file that declares the source ``spec_name``."""
    pattern = re.compile(rf'^\s*name\s*=\s*"{re.escape(spec_name)}"\s*$', re.MULTILINE)
    return next((path for path in declaration_files() if pattern.search(path.read_text(encoding="utf-8"))), None)


def source_code_version(spec: SourceSpec) -> str:
    """The source's declaration file, its adapter module, and the shared fetch and parse layer."""
    adapter = Path(adapter_module(spec).__file__ or "")
    declaration = declaration_of(spec.name)
    own = tuple(path for path in (adapter, declaration) if path is not None)
    return code_version("sources/ingest.py", "sources/mapping.py", "sources/record.py", files=own)


def project_path(path: Path | None) -> dg.MetadataValue:
    """A project file as a path the UI shows (relative to the repository)."""
    if path is None:
        return dg.MetadataValue.text("")
    try:
        return dg.MetadataValue.path(path.resolve().relative_to(PROJECT_ROOT).as_posix())
    except ValueError:
        return dg.MetadataValue.path(str(path))


@cache
def published_column_schema() -> dg.TableSchema:
    """The published table's columns, from ``schemas/schema.json`` (declared once, shown in the UI)."""
    from schemas import load_schema

    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field["name"],
                type=field.get("type", "string"),
                description=field.get("title", ""),
                constraints=dg.TableColumnConstraints(
                    nullable=not field.get("constraints", {}).get("required", False),
                    unique=bool(field.get("constraints", {}).get("unique", False)),
                ),
            )
            for field in load_schema()["fields"]
        ]
    )
