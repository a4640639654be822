"""Skip rebuilding the catalogue when nothing it is made from has changed.

Most scheduled runs find every source unchanged. The catalogue is a function of: each
source's stored payload (``source_state`` digests), the source declarations, the loaded
referential, the day (statuses depend on it), and the code and mapping tables that transform
(:func:`code_files`, never a data folder). Their fingerprint is kept with the build; an
identical fingerprint means the stored catalogue is exactly what a rebuild would give, so
it is reused, and so are its schema validation and its release: a run where nothing
changed does not even re-read the catalogue to compare it with the latest release.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import duckdb

from schemas.validate import validate_relation
from sources.base import SourceSpec
from warehouse.normalise.catalogue import CatalogueSummary, build_catalogue
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.projection import published_frame
from warehouse.publication.release import LATEST, ReleaseResult, publish_release
from warehouse.settings import PROJECT_ROOT, WarehousePaths

# The Python packages the catalogue is built with, walked package by package: a folder without
# ``__init__.py`` (a data folder, a release, ``__pycache__``) is never entered.
_CODE_PACKAGES = ("warehouse", "schemas", "sources")
# The tables that drive the transforms, by explicit folder and pattern, one level deep. The source
# declarations (``sources/catalogue/*.toml``) are not here: their parsed form is an input of its own.
_TABLE_GLOBS = (
    ("warehouse/migrations", "*.sql"),
    ("warehouse/normalise/vocab", "*.csv"),
    ("warehouse/organisations", "*.csv"),
    ("warehouse/submissions", "libelles.csv"),
    ("schemas", "*.json"),
)
VIOLATIONS_KEPT = 50


def _package_modules(package: Path) -> list[Path]:
    """The ``.py`` files of a package and of its sub-packages (folders with ``__init__.py``)."""
    if not (package / "__init__.py").is_file():
        return []
    found = sorted(package.glob("*.py"))
    for child in sorted(p for p in package.iterdir() if p.is_dir()):
        found += _package_modules(child)
    return found


def code_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """The files whose content the catalogue depends on besides its data: the modules of
    :data:`_CODE_PACKAGES` and the tables of :data:`_TABLE_GLOBS`. Listed by rule, never by a
    recursive glob, so that data kept under a code folder (releases, exports, a warehouse
    configured there by ``AIDES_WAREHOUSE_DIR``) neither triggers a rebuild nor grows the hashing."""
    files = [path for package in _CODE_PACKAGES for path in _package_modules(root / package)]
    files += [path for folder, pattern in _TABLE_GLOBS for path in sorted((root / folder).glob(pattern))]
    return sorted({path for path in files if path.is_file()})


def _code_digest(root: Path = PROJECT_ROOT) -> str:
    """One digest of :func:`code_files`, names and contents (a file added, renamed or edited counts)."""
    digest = hashlib.sha256()
    for path in code_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def inputs_fingerprint(conn: duckdb.DuckDBPyConnection, specs: list[SourceSpec], today: date) -> str:
    """One digest of everything the catalogue is built from."""
    parts = {
        "sources": [
            list(map(str, row))
            for row in conn.execute("SELECT source, digest, records FROM source_state ORDER BY source").fetchall()
        ],
        "declarations": sorted(json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str) for spec in specs),
        "referentiel": [
            str(v)
            for v in conn.execute(
                "SELECT max(loaded_at), (SELECT count(*) FROM ref_communes), (SELECT count(*) FROM ref_epci), "
                "(SELECT count(*) FROM ref_communes_rattachees) FROM ref_version"
            ).fetchall()[0]
        ],
        "jour": today.isoformat(),
        "code": _code_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def build_if_changed(
    conn: duckdb.DuckDBPyConnection, specs: list[SourceSpec], today: date
) -> tuple[CatalogueSummary, bool]:
    """The catalogue's summary, and whether it was rebuilt (False: its inputs had not changed)."""
    fingerprint = inputs_fingerprint(conn, specs, today)
    rows = conn.execute("SELECT fingerprint, summary FROM catalogue_builds").fetchall()
    if rows and rows[0][0] == fingerprint:
        return CatalogueSummary(**json.loads(rows[0][1])), False
    summary = build_catalogue(conn, specs, today)
    conn.execute("BEGIN TRANSACTION")
    conn.execute("DELETE FROM catalogue_builds").fetchall()
    conn.execute(
        "INSERT INTO catalogue_builds (fingerprint, built_at, summary) VALUES (?, now(), ?)",
        [fingerprint, json.dumps(dataclasses.asdict(summary), ensure_ascii=False)],
    ).fetchall()
    conn.execute("COMMIT")
    return summary, True


@dataclasses.dataclass(frozen=True)
class SchemaCheck:
    rows: int
    violations: list[dict]  # {"ligne", "champ", "message", "valeur"}, at most VIOLATIONS_KEPT
    reused: bool  # the build had already been checked


def check_schema(conn: duckdb.DuckDBPyConnection) -> SchemaCheck:
    """Validate the published projection of the current build against schemas/schema.json, once
    per build: a build already checked gets its stored result."""
    stored = conn.execute("SELECT checked, rows_checked, violations FROM catalogue_builds").fetchall()
    if stored and stored[0][0]:
        return SchemaCheck(stored[0][1], json.loads(stored[0][2]), True)
    frame = published_frame(conn).with_row_index("ligne", offset=2)
    conn.register("published", frame)
    try:
        found = validate_relation(conn, "published", "ligne", limit=VIOLATIONS_KEPT)
    finally:
        conn.unregister("published")
    violations = [{"ligne": v.row, "champ": v.field, "message": v.message, "valeur": v.value} for v in found]
    if stored:
        conn.execute(
            "UPDATE catalogue_builds SET checked = true, rows_checked = ?, violations = ?",
            [frame.height, json.dumps(violations, ensure_ascii=False, default=str)],
        ).fetchall()
    return SchemaCheck(frame.height, violations, False)


def publish_if_changed(
    conn: duckdb.DuckDBPyConnection,
    paths: WarehousePaths,
    sources: list[dict] | None = None,
    now: datetime | None = None,
) -> ReleaseResult:
    """Publish the current build unless the latest release already carries it.

    ``publish_release`` itself compares the catalogue with the latest release; this only
    spares that comparison (and the resolver) when the build is the one last published."""
    stored = conn.execute("SELECT release_version FROM catalogue_builds").fetchall()
    latest = paths.exports_dir / LATEST
    carried = stored[0][0] if stored else None
    if carried and latest.exists() and latest.resolve().name == carried:
        return ReleaseResult(False, None, None, {}, {}, [])
    result = publish_release(conn, paths, GeoResolver.from_warehouse(conn), now=now, sources=sources)
    version = result.version if result.published else (latest.resolve().name if latest.exists() else None)
    if stored and version:
        conn.execute("UPDATE catalogue_builds SET release_version = ?", [version]).fetchall()
    return result
