"""One asset per declared source (group ``ingestion``), built from ``sources/catalogue/*.toml``."""

import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import dagster as dg

from pipelines.metadata import OWNERS, declaration_of, preview, project_path, source_code_version
from sources.base import SourceSpec, adapter_module
from sources.context import pipeline_context
from sources.ingest import ingest
from sources.registry import load_specs
from warehouse.db import connect_writer
from warehouse.holds import Hold, pending_holds
from warehouse.ingestion import DEFAULT_MAX_DROP, SourceRunLine, previous_digest, store_outcome
from warehouse.settings import warehouse_paths


def asset_name(spec: SourceSpec) -> str:
    return "records_" + spec.name.replace("-", "_")


SOURCE_CHECKS = ("source_disponible",)
"""The check computed with each source's records, in the same step (no second connection)."""


def max_age_days(spec: SourceSpec) -> int:
    """How old a source's last good collection may get: 8 days for a weekly one, 2 for a daily one."""
    return 8 if spec.schedule.split()[4:5] not in (["*"], []) else 2


def _availability(line: SourceRunLine, holds: list[Hold]) -> dg.AssetCheckResult:
    """Not green whenever the catalogue does not hold the source's current view: collection
    failed, the source was unavailable and served from its last snapshot, or a change is held
    and waits for a decision."""
    status, stale, error = line.status, bool(line.stale), line.error or ""
    passed = status not in ("unavailable", "held", "failed") and not stale and not holds
    description = None
    if not passed:
        description = f"{status}{' (instantané précédent)' if stale else ''} : {error}"
        if holds:
            description += " ; à décider : " + ", ".join(h.acknowledge_command() for h in holds)
    return dg.AssetCheckResult(
        check_name="source_disponible",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "statut": str(status),
            "perime": stale,
            "erreur": error,
            "retenues": dg.MetadataValue.json([h.evidence() for h in holds]),
        },
    )


def build_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    declaration = declaration_of(spec.name)

    @dg.asset(
        name=asset_name(spec),
        group_name="ingestion",
        kinds={"duckdb", spec.transport},
        pool=spec.pool,
        owners=OWNERS,
        code_version=source_code_version(spec),
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(days=max_age_days(spec)), warn_window=timedelta(days=max_age_days(spec) / 2)
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "source_disponible",
                asset=asset_name(spec),
                description=(
                    "La source a été collectée à ce run et son contenu appliqué : ni en échec, ni indisponible "
                    "(servie depuis son dernier instantané), ni retenue (changement à acquitter)."
                ),
            )
        ],
        description=(
            f"Enregistrements de la source « {spec.name} » ({spec.publisher}, niveau {spec.level}), "
            f"tels que la source les publie. Transport : {spec.transport}. Licence : {spec.licence}. "
            f"Fraîcheur attendue : une collecte réussie il y a moins de {max_age_days(spec)} jours. {spec.homepage}"
        ),
        metadata={
            "source": spec.name,
            "editeur": spec.publisher,
            "licence": spec.licence,
            "page": dg.MetadataValue.url(spec.homepage),
            "calendrier": spec.schedule,
            "declaration": project_path(declaration),
            "adaptateur": project_path(Path(adapter_module(spec).__file__ or "")),
        },
        tags={"source": spec.name, "niveau": spec.level},
    )
    def _source_records(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        paths = warehouse_paths()
        with connect_writer(paths) as conn:
            previous = previous_digest(conn, spec.name)
        # Network and parsing happen outside the writer lock; only storing holds it.
        outcome = ingest(spec, pipeline_context(paths.snapshots_dir, paths.cache_dir), previous)
        with connect_writer(paths) as conn:
            line = store_outcome(
                conn, outcome, context.run.run_id, max_drop=float(spec.config.get("baisse_max", DEFAULT_MAX_DROP))
            )
            holds = pending_holds(conn, spec.name)
            sample = preview(
                conn,
                "SELECT native_id, titre, niveau, url_source, date_cloture FROM source_records "
                f"WHERE source = '{spec.name}' ORDER BY native_id",
            )
        context.log.info("source_run " + json.dumps(asdict(line), ensure_ascii=False))
        if line.status in ("failed", "held", "unavailable"):
            context.log.error(f"{spec.name} : {line.status} : {line.error}")
        elif line.error:
            context.log.warning(
                f"{spec.name} : {line.status}{' (instantané précédent)' if line.stale else ''} : {line.error}"
            )
        return dg.MaterializeResult(
            metadata={
                "statut": line.status,
                "perime": line.stale,
                "modifie": line.changed,
                "nb_enregistrements": line.records,
                "nb_rejets": line.rejected,
                "empreinte": line.digest or "",
                "version": line.version or "",
                "duree_s": line.duration_s,
                "erreur": line.error or "",
                "retenue": line.hold_id or "",
                "nb_retenues_en_attente": len(holds),
                "retenues_en_attente": dg.MetadataValue.json([h.evidence() for h in holds]),
                "dagster/row_count": line.records,
                "apercu": sample,
            },
            check_results=[_availability(line, holds)],
            # the version of the records in use: a held, failed or stale run keeps the previous one,
            # so that nothing downstream is rebuilt for a change that was not applied
            data_version=dg.DataVersion(applied) if (applied := line.digest if line.changed else previous) else None,
        )

    return _source_records


SOURCE_ASSETS = [build_source_asset(spec) for spec in load_specs()]

defs = dg.Definitions(assets=SOURCE_ASSETS)
