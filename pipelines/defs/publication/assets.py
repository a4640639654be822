"""Releases for open-data consumers: built, validated, then swapped in atomically."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.defs.catalogue.assets import aides
from sources.registry import load_specs
from warehouse.catalogue_state import publish_if_changed
from warehouse.db import connect_writer
from warehouse.settings import warehouse_paths


def _sources() -> list[dict]:
    return [{"name": s.name, "title": s.publisher, "path": s.homepage, "licence": s.licence} for s in load_specs()]


@dg.asset(group_name="publication", kinds={"csv", "parquet"}, pool="duckdb", deps=[aides])
def publication(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """La publication pour les réutilisateurs : aides.csv, aides.parquet, dispositif-aide.csv,
    aides-communes.parquet, datapackage.json, CHANGELOG.md et changements.csv, dans
    data/exports/releases/<version>/ ; data/exports/latest désigne la plus récente.
    Rien n'est publié quand le contenu du catalogue n'a pas changé."""
    paths = warehouse_paths()
    with connect_writer(paths) as conn:
        result = publish_if_changed(conn, paths, sources=_sources())
    latest = paths.exports_dir / "latest"
    context.log.info(f"publication : {'nouvelle version ' + str(result.version) if result.published else 'inchangée'}")
    return dg.MaterializeResult(
        metadata={
            "publiee": result.published,
            "version_publication": result.version or (latest.resolve().name if latest.exists() else ""),
            "dossier": str(result.path or latest),
            **{f"nb_{name}": count for name, count in result.counts.items()},
            **{f"changements_{kind}": count for kind, count in result.changes.items()},
            "exclues_dispositif_aide": len(result.excluded_from_dispositif_aide),
        }
    )


@dg.asset_check(asset=publication, blocking=True)
def publication_valide() -> dg.AssetCheckResult:
    """frictionless validates the whole latest datapackage (the consumers' own check; with public
    addresses, against the release folder's own files)."""
    package = warehouse_paths().exports_dir / "latest" / "datapackage.json"
    if not package.exists():
        return dg.AssetCheckResult(passed=False, metadata={"erreur": "aucune publication"})
    if "://" in package.read_text(encoding="utf-8"):
        # public addresses (AIDES_PUBLIC_URL): checked against the folder's own files, no download
        from warehouse.publication.release import validate_package

        report = validate_package(package.parent.resolve())
        errors = [error.message for error in report.errors] + [
            f"{task.place} : {error.message}" for task in report.tasks for error in task.errors
        ]
        return dg.AssetCheckResult(
            passed=report.valid,
            metadata={"rapport": dg.MetadataValue.md("\n".join(f"- {e}" for e in errors[:50]) or "valide")},
        )
    frictionless = Path(sys.executable).parent / "frictionless"
    done = subprocess.run([str(frictionless), "validate", str(package)], capture_output=True, text=True, timeout=1800)
    return dg.AssetCheckResult(
        passed=done.returncode == 0,
        metadata={"rapport": dg.MetadataValue.md("```\n" + (done.stdout[-3000:] or done.stderr[-3000:]) + "\n```")},
    )
