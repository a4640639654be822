"""The pipeline's stages, one phase per process, as Dagster's executor runs its assets.

    ingest     collect (archive the payload) → parse (the adapters) → store (source_records)
    catalogue  build_if_changed (as the asset): build_catalogue — load → normalise → geography →
               dedupe → ids → aggregate → store — unless its inputs are unchanged, then the
               blocking check aides_conformes_au_schema (once per build)
    publish    publish_release: rows → CSV / Parquet → dispositif-aide (project's validator)
               → aides-communes → validation (the gate: the project's package validator, then
               the project's own checks of the Parquet files)
    validate   the latest release's datapackage validated by the project's validator (the gate)
               and by frictionless (the published release's check), same files, same process:
               seconds, rows/s and verdicts side by side
    lookup     CatalogueIndex over the latest release, then lookups of random communes
    api        the web application under uvicorn in its own process, on the latest release:
               snapshot load, then 50 concurrent clients of mixed API requests
               (``benchmarks.api_load``)

Each phase is ``python -m benchmarks.phases PHASE CONFIG RESULT [--profile FILE]``: it reads
its configuration (JSON), writes its stages (JSON) and, as it goes, ``RESULT.progress``
(one JSON line per stage start and end) so that the runner can tell where a killed phase
was. Only the project's public functions are called; sub-stages are timed by wrapping the
module attributes they are looked up through, never by copying their code.
"""

from __future__ import annotations

import cProfile
import dataclasses
import io
import json
import pstats
import sys
import time
import types
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.generator import GeneratedPayloads, load_generated
from benchmarks.measure import Meter
from sources.base import CollectContext, Payload, SourceSpec, adapter_module
from sources.fetch.snapshots import SnapshotStore
from sources.registry import fetch_policy
from warehouse.settings import WarehousePaths

PARIS = ZoneInfo("Europe/Paris")
LOOKUPS = 2_000
WARM_UP = 50


# ---------------------------------------------------------------------------- generate
def phase_generate(config: dict, meter: Meter) -> dict:
    """The payloads, from the COG of the template warehouse (not a pipeline stage)."""
    import duckdb

    from benchmarks.generator import generate

    conn = duckdb.connect(config["template"], read_only=True)
    try:
        with meter.stage("generate payloads") as entry:
            generated = generate(conn, int(config["size"]), int(config["seed"]), Path(config["payloads"]))
            entry["rows"] = generated.stats["records"]
    finally:
        conn.close()
    return generated.stats


# ---------------------------------------------------------------------------- ingest
class _SyntheticAdapter:
    """What ``sources.ingest`` sees as the adapter: collect reads the generated payload, parse is the real one."""

    def __init__(self, spec: SourceSpec, generated: GeneratedPayloads, meter: Meter) -> None:
        self._real = adapter_module(spec)
        self._source = next(s for s in generated.sources if s.spec.name == spec.name)
        self._meter = meter

    def collect(self, spec: SourceSpec, ctx: CollectContext) -> Payload:
        with self._meter.stage("collect") as entry:
            content = self._source.path.read_bytes()
            if self._source.kind == "pages":
                pages = [line for line in content.split(b"\n") if line]
                base = spec.config.get("url", spec.homepage)
                parts = [(f"{base}?page={n}", page, "application/json") for n, page in enumerate(pages, start=1)]
            else:
                parts = [(spec.config["url"], content, "text/csv")]
            entry["rows"] = self._source.items
            return Payload.build(parts)

    def parse(self, spec: SourceSpec, payload: Payload) -> Any:
        with self._meter.stage("parse") as entry:
            result = self._real.parse(spec, payload)
            entry["rows"] = result.items_seen
            entry.setdefault("par_source", {})[spec.name] = result.items_seen
            return result


def phase_ingest(config: dict, meter: Meter) -> dict:
    """Every synthetic source through ``sources.ingest.ingest`` and ``store_outcome``."""
    import sources.ingest as ingest_module
    from warehouse.db import connect_writer
    from warehouse.ingestion import previous_digest, store_outcome

    paths = WarehousePaths(Path(config["warehouse"]))
    generated = load_generated(Path(config["payloads"]))
    assert generated is not None, "payloads absent"
    policy = dataclasses.replace(fetch_policy(), min_interval_s=0.0, respect_robots=False)
    ctx = CollectContext(store=SnapshotStore(paths.snapshots_dir), npm_cache_dir=paths.cache_dir, policy=policy)
    adapters = {s.spec.name: _SyntheticAdapter(s.spec, generated, meter) for s in generated.sources}
    original = ingest_module.adapter_module
    ingest_module.adapter_module = lambda spec: adapters[spec.name]  # type: ignore[assignment]
    statuses: dict[str, str] = {}
    records = rejections = 0
    try:
        with meter.stage("ingest (total)") as total:
            for source in generated.sources:
                with connect_writer(paths) as conn:
                    previous = previous_digest(conn, source.spec.name)
                outcome = ingest_module.ingest(source.spec, ctx, previous)
                with meter.stage("store") as entry, connect_writer(paths) as conn:
                    line = store_outcome(conn, outcome, run_id="benchmark")
                    entry["rows"] = len(outcome.result.records) if outcome.result else 0
                statuses[source.spec.name] = line.status
                records += line.records
                rejections += line.rejected
                outcome = None  # the parsed records are freed before the next source
            total["rows"] = records + rejections
    finally:
        ingest_module.adapter_module = original
    return {"statuses": statuses, "records": records, "rejections": rejections}


# ---------------------------------------------------------------------------- catalogue
def phase_catalogue(config: dict, meter: Meter) -> dict:
    """``build_catalogue`` as the ``aides`` asset runs it, then its blocking schema check."""
    import warehouse.catalogue_state as catalogue_state
    import warehouse.normalise.catalogue as catalogue
    from warehouse.db import connect_writer
    from warehouse.normalise.geography import GeoResolver

    generated = load_generated(Path(config["payloads"]))
    assert generated is not None
    specs = [s.spec for s in generated.sources]
    paths = WarehousePaths(Path(config["warehouse"]))
    today = date.fromisoformat(config["today"])
    height = lambda result, args, kwargs: result.height if hasattr(result, "height") else None  # noqa: E731
    first_height = lambda result, args, kwargs: result[0].height  # noqa: E731
    records = lambda result, args, kwargs: args[0].height  # noqa: E731
    factory = types.SimpleNamespace(from_warehouse=GeoResolver.from_warehouse)
    with connect_writer(paths) as conn:
        saved = catalogue.GeoResolver
        catalogue.GeoResolver = factory  # type: ignore[assignment]
        try:
            with (
                meter.wrapped(catalogue, "load_records", "load records", height),
                meter.wrapped(factory, "from_warehouse", "geography: resolver index"),
                meter.wrapped(catalogue, "normalise_fields", "normalise", first_height),
                meter.wrapped(catalogue, "resolve_geography", "geography: resolve", first_height),
                meter.wrapped(catalogue, "find_duplicates", "dedupe", records),
                meter.wrapped(catalogue, "assign_ids", "ids (identity)", lambda r, a, k: a[1].height),
                meter.wrapped(catalogue, "_aggregate", "aggregate", height),
                meter.wrapped(catalogue, "_publishable", "publishable", height),
                meter.wrapped(catalogue, "_store", "store catalogue", lambda r, a, k: a[2].height),
            ):
                with meter.stage("catalogue (build_catalogue)") as total:
                    # as the asset does: rebuilt only when an input changed
                    summary, rebuilt = catalogue_state.build_if_changed(conn, specs, today)
                    total["rows"] = summary.records
        finally:
            catalogue.GeoResolver = saved  # type: ignore[assignment]
        with meter.stage("check aides_conformes_au_schema") as check:
            result = catalogue_state.check_schema(conn)
            check["rows"] = result.rows
    return {
        "summary": dataclasses.asdict(summary),
        "reconstruit": rebuilt,
        "schema_violations": len(result.violations),
        "controle_reutilise": result.reused,
    }


# ---------------------------------------------------------------------------- publish
def phase_publish(config: dict, meter: Meter) -> dict:
    """``publish_if_changed`` (``publish_release`` unless the build is already published), as the
    ``publication`` asset runs it."""
    import warehouse.catalogue_state as catalogue_state
    import warehouse.publication.release as release
    from warehouse.db import connect_writer
    from warehouse.normalise.geography import GeoResolver
    from warehouse.publication import release_files as rf

    generated = load_generated(Path(config["payloads"]))
    assert generated is not None
    sources = [
        {"name": s.spec.name, "title": s.spec.publisher, "path": s.spec.homepage, "licence": s.spec.licence}
        for s in generated.sources
    ]
    paths = WarehousePaths(Path(config["warehouse"]))
    height = lambda result, args, kwargs: result.height  # noqa: E731
    factory = types.SimpleNamespace(from_warehouse=GeoResolver.from_warehouse)
    with connect_writer(paths) as conn:
        saved = catalogue_state.GeoResolver
        catalogue_state.GeoResolver = factory  # type: ignore[assignment]
        with (
            meter.wrapped(factory, "from_warehouse", "publish: resolver index"),
            meter.wrapped(rf, "catalogue_frame", "publish: rows (published_frame)", height),
            meter.wrapped(rf, "typed_frame", "publish: typed rows", height),
            meter.wrapped(rf, "write_csv", "publish: write CSV", lambda r, a, k: a[0].height),
            meter.wrapped(rf, "dispositif_exclusions", "publish: dispositif-aide checks", lambda r, a, k: a[1].height),
            meter.wrapped(rf, "write_communes_parquet", "publish: aides-communes file", lambda r, a, k: r),
            meter.wrapped(rf, "compute_changes", "publish: changes", height),
            meter.wrapped(release, "_check_package", "validate: project's validator (gate, in publish)"),
            meter.wrapped(release, "_check_aides_parquet", "publish: own checks"),
            meter.wrapped(release, "_check_dispositif", "publish: own checks"),
            meter.wrapped(release, "_check_communes", "publish: own checks"),
        ):
            with meter.stage("publish (publish_release)") as total:
                # as the asset does: nothing to do when the latest release carries this build
                try:
                    result = catalogue_state.publish_if_changed(conn, paths, sources=sources, now=datetime.now(PARIS))
                finally:
                    catalogue_state.GeoResolver = saved  # type: ignore[assignment]
                total["rows"] = result.counts.get("aides", 0)
    return {
        "published": result.published,
        "version": result.version,
        "counts": result.counts,
        "changes": result.changes,
        "excluded_from_dispositif_aide": len(result.excluded_from_dispositif_aide),
    }


# ---------------------------------------------------------------------------- validate
def phase_validate(config: dict, meter: Meter) -> dict:
    """The latest release validated by the project's validator (``check_package``, the gate) and by
    frictionless (``validate_package``, the ``publication_valide`` check), one after the other."""
    from warehouse.publication import release

    paths = WarehousePaths(Path(config["warehouse"]))
    latest = (paths.exports_dir / "latest").resolve()
    with meter.stage("validate: project's validator") as own:
        ours = release.check_package(latest)
        own["rows"] = sum(ours.rows.values())
    with meter.stage("validate: frictionless") as theirs:
        report = release.validate_package(latest)
        theirs["rows"] = sum(task.stats.get("rows") or 0 for task in report.tasks)
    return {
        "rows": ours.rows,
        "violations": ours.total,
        "project_valid": ours.valid,
        "frictionless_valid": report.valid,
        "frictionless_errors": len(report.errors) + sum(len(task.errors) for task in report.tasks),
    }


# ---------------------------------------------------------------------------- lookup
def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def phase_lookup(config: dict, meter: Meter) -> dict:
    """Lookups of random communes (and a few arrondissements / communes déléguées), as ``aides lookup`` does."""
    from warehouse.db import connect_reader
    from warehouse.publication.lookup import CatalogueIndex, lookup

    paths = WarehousePaths(Path(config["warehouse"]))
    seed = int(config["seed"])
    import polars as pl

    release = paths.exports_dir / "latest"
    pairs = pl.scan_parquet(release / "aides-communes.parquet").select(pl.len()).collect().item()
    with meter.stage("lookup: load index (CatalogueIndex)", rows=pairs):
        index = CatalogueIndex(release)
    latencies: list[float] = []
    ids_only: list[float] = []
    found = 0
    with connect_reader(paths) as conn:
        codes = [
            row[0]
            for row in conn.execute(
                f"""
            (SELECT code FROM ref_communes ORDER BY hash(code || '{seed}') LIMIT {int(LOOKUPS * 0.9)})
            UNION ALL
            (SELECT code FROM ref_communes_rattachees WHERE type IN ('arrondissement-municipal', 'commune-deleguee')
             ORDER BY hash(code || '{seed}') LIMIT {LOOKUPS - int(LOOKUPS * 0.9)})
            """
            ).fetchall()
        ]
        for code in codes[:WARM_UP]:
            lookup(index, code, conn)
        with meter.stage("lookup: communes") as entry:
            for code in codes:
                started = time.perf_counter()
                answer = lookup(index, code, conn)
                latencies.append((time.perf_counter() - started) * 1000)
                found += len(answer.aides)
            entry["rows"] = len(codes)
        for code in codes:
            started = time.perf_counter()
            index.aid_ids(code)
            ids_only.append((time.perf_counter() - started) * 1000)
    return {
        "lookups": len(latencies),
        "aides_trouvees": found,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "index_only_p99_ms": _percentile(ids_only, 0.99),
    }


def phase_api(config: dict, meter: Meter) -> dict:
    """The public API under load (``benchmarks.api_load``): a server process, 50 clients."""
    from benchmarks.api_load import phase_api as run

    return run(config, meter)


PHASES = {
    "generate": phase_generate,
    "ingest": phase_ingest,
    "catalogue": phase_catalogue,
    "publish": phase_publish,
    "validate": phase_validate,
    "lookup": phase_lookup,
    "api": phase_api,
}
# Phases whose work is done in another process: that process is profiled, not this one.
PROFILED_ELSEWHERE = {"api"}


def _profile_report(profile: cProfile.Profile, path: Path) -> None:
    """The profile (``.prof``) and its top functions by cumulative and own time (``.txt``)."""
    profile.dump_stats(str(path))
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    path.with_suffix(".txt").write_text(text.getvalue(), encoding="utf-8")


def main(argv: list[str]) -> int:
    phase, config_path, result_path = argv[:3]
    profile_path = Path(argv[argv.index("--profile") + 1]) if "--profile" in argv else None
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    result = Path(result_path)
    meter = Meter(progress=result.with_suffix(".progress"))
    if profile_path and phase in PROFILED_ELSEWHERE:
        config["profile"], profile_path = str(profile_path), None
    profile = cProfile.Profile() if profile_path else None
    started = time.perf_counter()
    if profile:
        profile.enable()
    info = PHASES[phase](config, meter)
    if profile:
        profile.disable()
        _profile_report(profile, profile_path)
    meter.close()
    result.write_text(
        json.dumps(
            {
                "phase": phase,
                "seconds": time.perf_counter() - started,
                "stages": meter.merged(),
                "process_peak_rss_mb": round(meter.process_peak_mb, 1),
                "info": info,
            },
            ensure_ascii=False,
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
