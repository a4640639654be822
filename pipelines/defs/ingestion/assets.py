"""One asset per declared source (group ``ingestion``), built from ``sources/catalogue/*.toml``."""

import json
from dataclasses import asdict

import dagster as dg

from pipelines.metadata import preview
from sources.base import SourceSpec
from sources.context import pipeline_context
from sources.ingest import ingest
from sources.registry import load_specs
from warehouse.db import connect_writer
from warehouse.ingestion import DEFAULT_MAX_DROP, previous_digest, store_outcome
from warehouse.settings import warehouse_paths


def asset_name(spec: SourceSpec) -> str:
    return "records_" + spec.name.replace("-", "_")


def build_source_asset(
    spec: SourceSpec,
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition, dg.AssetChecksDefinition]:
    @dg.asset(
        name=asset_name(spec),
        group_name="ingestion",
        kinds={"duckdb", spec.transport},
        pool=spec.pool,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        description=(
            f"Enregistrements de la source « {spec.name} » ({spec.publisher}, niveau {spec.level}), "
            f"tels que la source les publie. Transport : {spec.transport}. Licence : {spec.licence}. {spec.homepage}"
        ),
        metadata={
            "source": spec.name,
            "editeur": spec.publisher,
            "licence": spec.licence,
            "page": dg.MetadataValue.url(spec.homepage),
            "calendrier": spec.schedule,
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
                "dagster/row_count": line.records,
                "apercu": sample,
            },
            data_version=dg.DataVersion(line.digest) if line.digest else None,
        )

    @dg.asset_check(
        asset=_source_records,
        name="source_disponible",
        description=("La source a été collectée à ce run (ni indisponible, ni servie depuis son dernier instantané)."),
    )
    def _available(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from warehouse.db import connect_reader

        with connect_reader() as conn:
            row = conn.execute(
                "SELECT status, stale, error FROM source_runs WHERE source = ? ORDER BY run_at DESC LIMIT 1",
                [spec.name],
            ).fetchone()
        status, stale, error = row if row else ("jamais collectée", False, None)
        return dg.AssetCheckResult(
            passed=status not in ("unavailable", "held", "failed") and not stale,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"statut": str(status), "perime": bool(stale), "erreur": error or ""},
        )

    max_age_days = 8 if spec.schedule.split()[4:5] not in (["*"], []) else 2  # weekly vs daily sources

    @dg.asset_check(
        asset=_source_records,
        name="source_fraiche",
        description=(f"La source a été collectée avec succès il y a moins de {max_age_days} jours."),
    )
    def _fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from warehouse.db import connect_reader

        with connect_reader() as conn:
            age = conn.execute(
                "SELECT date_diff('hour', max(run_at), now()) FROM source_runs "
                "WHERE source = ? AND status IN ('parsed', 'unchanged') AND NOT stale",
                [spec.name],
            ).fetchone()[0]
        return dg.AssetCheckResult(
            passed=age is not None and age <= max_age_days * 24,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "heures_depuis_la_derniere_collecte": -1 if age is None else int(age),
                "limite_heures": max_age_days * 24,
            },
        )

    return _source_records, _available, _fresh


_built = [build_source_asset(spec) for spec in load_specs()]

defs = dg.Definitions(assets=[built[0] for built in _built], asset_checks=[c for built in _built for c in built[1:]])
