"""Releases for open-data consumers: built, validated, then swapped in atomically."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.automation import ON_INPUT_CHANGE
from pipelines.defs.catalogue.assets import aides
from pipelines.metadata import OWNERS, code_version, published_column_schema
from sources.registry import load_specs
from warehouse.catalogue_state import publish_if_changed
from warehouse.db import connect_writer
from warehouse.settings import warehouse_paths


def _sources() -> list[dict]:
    return [{"name": s.name, "title": s.publisher, "path": s.homepage, "licence": s.licence} for s in load_specs()]


@dg.asset(
    group_name="publication",
    kinds={"csv", "parquet"},
    pool="duckdb",
    owners=OWNERS,
    code_version=code_version("warehouse/publication/*.py", "schemas/*.json"),
    automation_condition=ON_INPUT_CHANGE,
    deps=[aides],
)
def publication(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """La publication pour les réutilisateurs : `aides.csv`, `aides.parquet`, `dispositif-aide.csv`,
    `aides-communes.parquet`, `couverture.csv`, `datapackage.json`, `CHANGELOG.md` et
    `changements.csv`, dans `data/exports/releases/VERSION/` ; `data/exports/latest` désigne la
    plus récente. Rien n'est publié quand le contenu du catalogue n'a pas changé."""
    paths = warehouse_paths()
    with connect_writer(paths) as conn:
        result = publish_if_changed(conn, paths, sources=_sources())
    latest = paths.exports_dir / "latest"
    context.log.info(f"publication : {'nouvelle version ' + str(result.version) if result.published else 'inchangée'}")
    return dg.MaterializeResult(
        metadata={
            "publiee": result.published,
            "version_publication": result.version or (latest.resolve().name if latest.exists() else ""),
            "dossier": dg.MetadataValue.path(str((result.path or latest).resolve())),
            "dagster/column_schema": published_column_schema(),
            **{f"nb_{name}": count for name, count in result.counts.items()},
            **{f"changements_{kind}": count for kind, count in result.changes.items()},
            "exclues_dispositif_aide": len(result.excluded_from_dispositif_aide),
        }
    )


@dg.asset_check(asset=publication, blocking=True)
def publication_valide() -> dg.AssetCheckResult:
    """frictionless validates the whole latest datapackage (the consumers' own check; with public
    addresses, against the release folder's own files). A release never changes once published:
    its verdict is kept beside the releases (``exports/.validations/VERSION.json``), keyed by the
    digest of its datapackage, and a run that published nothing new does not pay it again."""
    package = warehouse_paths().exports_dir / "latest" / "datapackage.json"
    if not package.exists():
        return dg.AssetCheckResult(passed=False, metadata={"erreur": "aucune publication"})
    release = package.parent.resolve()
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    verdict = release.parent.parent / ".validations" / f"{release.name}.json"
    if verdict.exists():
        kept = json.loads(verdict.read_text(encoding="utf-8"))
        if kept.get("datapackage_sha256") == digest:
            return dg.AssetCheckResult(
                passed=kept["valid"],
                metadata={"rapport": dg.MetadataValue.md(kept["rapport"]), "verdict_reutilise": True},
            )
    valid, report = _validate(package)
    verdict.parent.mkdir(parents=True, exist_ok=True)
    verdict.write_text(json.dumps({"datapackage_sha256": digest, "valid": valid, "rapport": report}), encoding="utf-8")
    return dg.AssetCheckResult(
        passed=valid, metadata={"rapport": dg.MetadataValue.md(report), "verdict_reutilise": False}
    )


def _validate(package: Path) -> tuple[bool, str]:
    """frictionless's verdict on a datapackage, and its report as Markdown."""
    if "://" in package.read_text(encoding="utf-8"):
        # public addresses (AIDES_PUBLIC_URL): checked against the folder's own files, no download
        from warehouse.publication.release import validate_package

        report = validate_package(package.parent.resolve())
        errors = [error.message for error in report.errors] + [
            f"{task.place} : {error.message}" for task in report.tasks for error in task.errors
        ]
        return report.valid, "\n".join(f"- {e}" for e in errors[:50]) or "valide"
    frictionless = Path(sys.executable).parent / "frictionless"
    done = subprocess.run([str(frictionless), "validate", str(package)], capture_output=True, text=True, timeout=1800)
    return done.returncode == 0, "```\n" + (done.stdout[-3000:] or done.stderr[-3000:]) + "\n```"
