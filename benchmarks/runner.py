"""``python -m benchmarks SIZE``: run every stage on SIZE synthetic records, print one table, write JSON.

Why phases in child processes: Dagster's executor runs each asset in its own process, so
the memory a phase keeps (a parse result, a polars frame) never inflates the next one's
peak; and a phase that outgrows ``--max-rss-gb`` is killed by this process (by its pid)
before it can exhaust a machine shared with other work — the run then goes on and says so.

Order: generate (cached) → cold run (ingest, catalogue, publish, validate, lookup, api) → a
run with no source change (ingest, catalogue, publish again). Targets of issue 8 (and the
API's, issue 15) are judged at the size they are defined for (100k, 1M records); elsewhere
they are shown as "n/a" (except "no API error", judged at every size).
"""

from __future__ import annotations

import json
import os
import platform
import pstats
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from benchmarks.generator import load_generated
from benchmarks.job import job_phase
from benchmarks.measure import rss_mb
from benchmarks.workspace import DEFAULT_WORKDIR, Workspace, ensure_template, fresh_warehouse
from warehouse.settings import DATA_ROOT, PROJECT_ROOT

RESULTS_DIR = DATA_ROOT / "benchmarks" / "results"
PARIS = ZoneInfo("Europe/Paris")
console = Console(width=150)
app = typer.Typer(add_completion=False, help=__doc__)

# Stages shown without indentation (the others are sub-stages of the one above them).
_TOP = (
    "ingest (total)",
    "catalogue (build_catalogue)",
    "check aides_conformes_au_schema",
    "publish: resolver index",
    "publish (publish_release)",
    "validate: project's validator",
    "validate: frictionless",
    "lookup: load index (CatalogueIndex)",
    "lookup: communes",
)
_API_TARGETS = 6  # the API's targets follow issue 8's six in ``judge``
_E2E = ("catalogue (build_catalogue)", "publish: resolver index", "publish (publish_release)")
_RUN = (
    "ingest (total)",
    "catalogue (build_catalogue)",
    "check aides_conformes_au_schema",
    "publish: resolver index",
    "publish (publish_release)",
)


@dataclass
class PhaseRun:
    """One phase's process: its stages, or why it did not finish."""

    label: str
    phase: str
    ok: bool
    wall_s: float
    peak_rss_mb: float  # sampled by this process every 0.1 s, and the phase's own high-water mark
    stages: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    error: str | None = None
    profile: Path | None = None

    def stage(self, name: str) -> dict | None:
        return next((s for s in self.stages if s["stage"] == name), None)


def _last_stage(progress: Path) -> str | None:
    """The stage a killed phase was in (started, not ended)."""
    if not progress.exists():
        return None
    open_stages: list[str] = []
    for line in progress.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "start":
            open_stages.append(event["stage"])
        elif event["stage"] in open_stages:
            open_stages.remove(event["stage"])
    return " > ".join(open_stages) or None


def run_phase(label: str, phase: str, config: dict, folder: Path, max_rss_mb: float, profile: bool) -> PhaseRun:
    """Run one phase in a child process, watching its RSS; kill it (by pid) past ``max_rss_mb``."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path, result_path = folder / f"{label}.config.json", folder / f"{label}.json"
    log_path, progress = folder / f"{label}.log", result_path.with_suffix(".progress")
    for stale in (result_path, progress):
        stale.unlink(missing_ok=True)
    config_path.write_text(json.dumps(config), encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks.phases", phase, str(config_path), str(result_path)]
    profile_path = folder / f"{label}.prof" if profile else None
    if profile_path:
        command += ["--profile", str(profile_path)]
    env = {**os.environ, "AIDES_WAREHOUSE_DIR": config.get("warehouse", str(folder)), "PYTHONUNBUFFERED": "1"}
    console.print(f"[dim]{time.strftime('%H:%M:%S')} {label}…[/dim]")
    started = time.perf_counter()
    peak = 0.0
    killed = False
    with open(log_path, "w", encoding="utf-8") as log:
        child = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        while child.poll() is None:
            current = rss_mb(child.pid)
            peak = max(peak, current)
            if current > max_rss_mb and not killed:
                child.kill()
                killed = True
            time.sleep(0.1)
    wall = time.perf_counter() - started
    if child.returncode == 0 and result_path.exists():
        data = json.loads(result_path.read_text(encoding="utf-8"))
        return PhaseRun(
            label,
            phase,
            True,
            wall,
            max(peak, data["process_peak_rss_mb"]),
            data["stages"],
            data["info"],
            profile=profile_path,
        )
    where = _last_stage(progress)
    if killed:
        error = f"killed at {peak / 1024:.1f} GB RSS (limit {max_rss_mb / 1024:.1f} GB) during « {where} »"
    else:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        error = f"exit {child.returncode} during « {where} »: " + " | ".join(tail)
    console.print(f"[red]{label}: {error}[/red]")
    return PhaseRun(label, phase, False, wall, peak, error=error)


# ---------------------------------------------------------------------------- targets
@dataclass
class Target:
    name: str
    limit: str
    measured: str
    verdict: str  # met, missed, n/a
    phases: tuple[str, ...] = ()  # where to look for the bottleneck


def _sum(runs: list[PhaseRun], names: tuple[str, ...], skipped_is_zero: bool = False) -> float | None:
    """Total seconds of the named stages; None when one is missing (unless the phases all
    finished and a missing stage means it was skipped, as in a run with no change)."""
    if skipped_is_zero and not all(r.ok for r in runs):
        return None
    total = 0.0
    for name in names:
        entry = next((s for r in runs for s in r.stages if s["stage"] == name), None)
        if entry is None:
            if skipped_is_zero:
                continue
            return None
        total += entry["seconds"]
    return total


def judge(size: int, cold: list[PhaseRun], warm: list[PhaseRun], aids: int) -> list[Target]:
    """Issue 8's targets, then issue 15's (the API under load), judged at the size each one is defined for."""
    by = {r.phase: r for r in cold}
    million, hundred_k = size >= 500_000, 50_000 <= size < 500_000
    e2e = _sum(cold, _E2E)
    peak = max((by[p].peak_rss_mb for p in ("catalogue", "publish") if p in by and by[p].stages), default=None)
    failed = [r.label for r in cold if not r.ok]

    def verdict(value: float | None, limit: float, applies: bool) -> str:
        if not applies:
            return "n/a"
        return "missed" if value is None or value > limit else "met"

    def text(value: float | None, unit: str) -> str:
        return "not measured (" + ", ".join(failed) + " failed)" if value is None else f"{value:.2f} {unit}"

    targets = [
        Target(
            "1M records end-to-end (catalogue + publish)",
            "≤ 120 s",
            text(e2e, "s"),
            verdict(e2e, 120, million),
            ("catalogue", "publish"),
        ),
        Target(
            "1M records peak RSS (catalogue, publish)",
            "≤ 4 GB",
            text(peak and peak / 1024, "GB"),
            verdict(peak and peak / 1024, 4.0, million),
            ("catalogue", "publish"),
        ),
        Target(
            "100k records end-to-end (catalogue + publish)",
            "≤ 15 s",
            text(e2e, "s"),
            verdict(e2e, 15, hundred_k),
            ("catalogue", "publish"),
        ),
    ]
    lookup = by.get("lookup")
    p99 = lookup.info.get("p99_ms") if lookup and lookup.ok else None
    targets.append(
        Target(
            f"lookup p99 at 100k and 1M records (this run: {aids:,} aids)",
            "≤ 5 ms",
            text(p99, "ms"),
            verdict(p99, 5.0, hundred_k or million),  # issue 18: « at 1M records too »
            ("lookup",),
        )
    )
    communes = next(
        (s["seconds"] for r in cold for s in r.stages if s["stage"] == "publish: aides-communes file"), None
    )
    targets.append(
        Target(
            f"aides-communes file at 100k aids (this run: {aids:,} aids)",
            "≤ 10 s",
            text(communes, "s"),
            verdict(communes, 10.0, hundred_k),
            ("publish",),
        )
    )
    cold_s, warm_s = _sum(cold, _RUN), _sum(warm, _RUN, skipped_is_zero=True)
    ratio = warm_s / cold_s if cold_s and warm_s is not None else None
    targets.append(
        Target(
            "run with no source change / cold run",
            "≤ 20 %",
            "not measured" if ratio is None else f"{ratio:.0%} ({warm_s:.1f} s / {cold_s:.1f} s)",
            verdict(ratio, 0.20, True),
            ("catalogue-nochange", "publish-nochange", "ingest-nochange"),
        )
    )
    return targets + _api_targets(by.get("api"), hundred_k, aids, failed) + [_validator_target(cold, size)]


VALIDATOR_SPEEDUP = 10.0
"""The project's validator (the gate of every release) against frictionless on the same release (issue 18)."""


def _validator_target(runs: list[PhaseRun], size: int) -> Target:
    """≥ 10× frictionless with the same verdict; judged from 10,000 records (below, fixed costs dominate)."""
    figures = _validation(runs)
    name = "project's validator / frictionless, same release and verdict"
    if figures is None:
        return Target(name, f"≥ {VALIDATOR_SPEEDUP:.0f}×", "not measured (validate phase)", "missed", ("validate",))
    same = figures["project_valid"] == figures["frictionless_valid"]
    measured = f"{figures['ratio']:.1f}× ({figures['own_rows_s']:,.0f} vs {figures['frictionless_rows_s']:,.0f} rows/s)"
    if not same:
        measured += (
            f"; verdicts differ (project {figures['project_valid']}, frictionless {figures['frictionless_valid']})"
        )
    verdict = "n/a" if size < 10_000 else "met" if same and figures["ratio"] >= VALIDATOR_SPEEDUP else "missed"
    return Target(name, f"≥ {VALIDATOR_SPEEDUP:.0f}×", measured, "missed" if not same else verdict, ("validate",))


def _api_targets(api: PhaseRun | None, applies: bool, aids: int, failed: list[str]) -> list[Target]:
    """Under the load of ``CLIENTS`` concurrent clients: commune lookups p99 (the worse of the two
    addresses), text search p99, no error at all (judged at every size)."""
    kinds = api.info.get("kinds", {}) if api and api.ok else {}
    clients = api.info.get("clients", 50) if api and api.ok else 50
    think = api.info.get("think_s", 0.0) if api and api.ok else 0.0
    why = "not measured (" + (", ".join(failed) or "api phase skipped") + ")"

    def p99(*names: str) -> float | None:
        values = [kinds[n]["p99_ms"] for n in names if n in kinds and kinds[n]["p99_ms"] is not None]
        return max(values) if values and len(values) == len(names) else None

    def latency(name: str, value: float | None, limit: float) -> Target:
        verdict = "n/a" if not applies else "missed" if value is None or value > limit else "met"
        measured = why if value is None else f"{value:.1f} ms"
        return Target(
            f"{name} at 100k aids, {clients} clients pausing ~{think:g} s (this run: {aids:,} aids)",
            f"≤ {limit:.0f} ms",
            measured,
            verdict,
            ("api",),
        )

    communes = p99("commune", "commune (list)")
    search = p99("text search")
    errors = api.info.get("errors") if api and api.ok else None
    requests = api.info.get("total", {}).get("requests", 0) if api and api.ok else 0
    return [
        latency("API commune lookup p99", communes, 20.0),
        latency("API text search p99", search, 50.0),
        Target(
            "API errors under load (and warm-up)",
            "0",
            why if errors is None else f"{errors} of {requests:,} requests",
            "missed" if errors is None or errors > 0 else "met",
            ("api",),
        ),
    ]


def _bottleneck(runs: list[PhaseRun], labels: tuple[str, ...], limit: int = 6) -> list[str]:
    """Top functions of the profiled phases: project code by cumulative time, then by own time."""
    lines: list[str] = []
    for run in runs:
        if run.label not in labels or run.profile is None or not run.profile.exists():
            continue
        stats = pstats.Stats(str(run.profile))
        rows = []
        for (filename, line, function), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append((filename, line, function, calls, tottime, cumtime))
        project = [
            r
            for r in rows
            if any(f"/{p}/" in r[0] for p in ("warehouse", "sources", "schemas", "webapp"))
            and r[2] != "__call__"  # the web application's middlewares wrap every request
        ]
        lines.append(f"{run.label}: project functions by cumulative time")
        for filename, line, function, calls, _tot, cum in sorted(project, key=lambda r: -r[5])[:limit]:
            short = "/".join(Path(filename).parts[-2:])
            lines.append(f"    {cum:8.2f} s  {short}:{line} {function} ({calls} calls)")
        lines.append(f"{run.label}: all functions by own time")
        for filename, line, function, calls, tot, _cum in sorted(rows, key=lambda r: -r[4])[:limit]:
            short = "/".join(Path(filename).parts[-2:]) if filename != "~" else "builtin"
            lines.append(f"    {tot:8.2f} s  {short}:{line} {function} ({calls} calls)")
    return lines


# ---------------------------------------------------------------------------- output
def _rate(entry: dict) -> str:
    rows, seconds = entry.get("rows"), entry["seconds"]
    if not rows or seconds <= 0:
        return ""
    return f"{rows / seconds:,.0f}"


def print_table(size: int, runs: list[PhaseRun], targets: list[Target], meta: dict) -> None:
    table = Table(
        title=f"Benchmark — {size:,} source records, {meta['aids']:,} distinct aids (seed {meta['seed']})",
        show_lines=False,
    )
    for column, justify in (
        ("run", "left"),
        ("stage", "left"),
        ("seconds", "right"),
        ("rows", "right"),
        ("rows/s", "right"),
        ("peak RSS", "right"),
        ("target", "left"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    marks = {"publish: aides-communes file": targets[4], "lookup: communes": targets[3]}
    for run in runs:
        if not run.ok:
            table.add_row(
                run.label,
                f"[red]failed: {run.error}[/red]",
                f"{run.wall_s:.1f}",
                "",
                "",
                f"{run.peak_rss_mb / 1024:.2f} GB",
                "",
                "",
            )
            continue
        for entry in run.stages:
            name = entry["stage"]
            indent = "" if name in _TOP or name == "generate payloads" or name.startswith("api: ") else "  "
            target = marks.get(name) if run.label in ("catalogue", "publish", "lookup") else None
            table.add_row(
                run.label,
                indent + name,
                f"{entry['seconds']:.2f}",
                f"{entry['rows']:,}" if entry.get("rows") else "",
                _rate(entry),
                f"{entry['peak_rss_mb'] / 1024:.2f} GB",
                target.limit if target else "",
                _verdict(target.verdict) if target else "",
            )
    console.print(table)
    lookup = next((r for r in runs if r.label == "lookup" and r.ok), None)
    if lookup:
        info = lookup.info
        console.print(
            f"lookup: {info['lookups']} communes, p50 {info['p50_ms']:.2f} ms, p99 {info['p99_ms']:.2f} ms, "
            f"max {info['max_ms']:.2f} ms (index slice alone: p99 {info['index_only_p99_ms']:.3f} ms)"
        )
    api = next((r for r in runs if r.label == "api" and r.ok), None)
    if api:
        print_api(api.info, targets[_API_TARGETS:])
    validation = meta.get("validation")
    if validation:
        console.print(
            f"validation of the release ({validation['rows']:,} CSV rows): « validateur du projet » "
            f"{validation['own_s']:.2f} s ({validation['own_rows_s']:,.0f} rows/s, valid: {validation['project_valid']}) "
            f"vs « frictionless » {validation['frictionless_s']:.2f} s ({validation['frictionless_rows_s']:,.0f} rows/s, "
            f"valid: {validation['frictionless_valid']}): ratio {validation['ratio']:.1f}×"
        )
    console.print("process peaks: " + ", ".join(f"{r.label} {r.peak_rss_mb / 1024:.2f} GB" for r in runs))
    summary = Table(title="Targets (issue 8, 2 cores, 24 GB)")
    for column in ("target", "limit", "measured", "verdict"):
        summary.add_column(column)
    for target in targets:
        summary.add_row(target.name, target.limit, target.measured, _verdict(target.verdict))
    console.print(summary)


def _saturation(figures: dict | None) -> str:
    if not figures or figures.get("p50_ms") is None:
        return "—"
    return f"{figures['req_s']:,.0f}, {figures['p50_ms']:,.0f} / {figures['p99_ms']:,.0f}"


def print_api(info: dict, targets: list[Target]) -> None:
    """The API under load: one row per kind of request, then the server's loads and memory."""
    table = Table(
        title=f"API under load — {info['clients']} concurrent clients pausing ~{info.get('think_s', 0):g} s between "
        f"requests, {info['total']['requests']:,} requests in {info['load_s']:.1f} s ({info['total']['req_s']:,.0f} "
        "req/s), server in its own process"
    )
    for column, justify in (
        ("kind", "left"),
        ("requests", "right"),
        ("errors", "right"),
        ("req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("max ms", "right"),
        ("1 client p50 / p99 ms", "right"),
        ("no pause: req/s, p50 / p99 ms", "right"),
        ("target", "left"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    marks = {"commune": targets[0], "commune (list)": targets[0], "text search": targets[1]}

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:,.1f}"

    for kind, figures in info["kinds"].items():
        target, alone = marks.get(kind), figures["one_client"]
        errors = figures["errors"] + figures.get("errors_before_load", 0)
        table.add_row(
            kind,
            f"{figures['requests']:,}",
            f"[red]{errors}[/red]" if errors else "0",
            f"{figures['req_s']:,.1f}",
            ms(figures["p50_ms"]),
            ms(figures["p99_ms"]),
            ms(figures["max_ms"]),
            f"{ms(alone['p50_ms'])} / {ms(alone['p99_ms'])}",
            _saturation(figures.get("saturation")),
            target.limit if target else "",
            _verdict(target.verdict) if target else "",
        )
    console.print(table)
    server = info["server_rss_mb"]
    snapshot, referential = info.get("server_snapshot_load_s"), info.get("server_referential_load_s")
    console.print(
        f"api: snapshot load {snapshot or 0:.2f} s in the server ({info['aids']:,} aids; first request "
        f"{info['first_request_s']:.2f} s seen by the client), referential {referential or 0:.2f} s (first commune "
        f"{info['first_commune_s']:.2f} s), first change feed {info['first_change_feed_s']:.2f} s; server RSS "
        f"{server['rss_started_mb'] / 1024:.2f} GB started, {server['rss_snapshot_mb'] / 1024:.2f} GB with the "
        f"snapshot, peak {info['server_peak_rss_mb'] / 1024:.2f} GB"
    )
    for sample in info.get("error_samples", []):
        console.print(f"[red]api error: {sample}[/red]", highlight=False)


def _verdict(verdict: str) -> str:
    return {"met": "[green]met[/green]", "missed": "[red]MISSED[/red]"}.get(verdict, "[dim]n/a[/dim]")


def _validation(runs: list[PhaseRun]) -> dict | None:
    """The validate phase: the project's validator and frictionless on the same release, side by side."""
    phase = next((r for r in runs if r.label == "validate" and r.ok), None)
    if phase is None:
        return None
    own, theirs = phase.stage("validate: project's validator"), phase.stage("validate: frictionless")
    if not own or not theirs or not own.get("rows") or own["seconds"] <= 0 or theirs["seconds"] <= 0:
        return None
    rows = own["rows"]
    return {
        "frictionless_s": theirs["seconds"],
        "own_s": own["seconds"],
        "rows": rows,
        "frictionless_rows_s": rows / theirs["seconds"],
        "own_rows_s": rows / own["seconds"],
        "ratio": theirs["seconds"] / own["seconds"],
        "project_valid": phase.info.get("project_valid"),
        "frictionless_valid": phase.info.get("frictionless_valid"),
    }


def _versions() -> dict[str, str]:
    import duckdb
    import frictionless
    import polars

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    return {
        "python": platform.python_version(),
        "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "frictionless": frictionless.__version__,
        "commit": commit.stdout.strip(),
    }


# ---------------------------------------------------------------------------- entry point
@app.command()
def bench(
    size: int = typer.Argument(..., min=10, help="Number of synthetic source records (e.g. 10000, 100000, 1000000)."),
    json_path: Path | None = typer.Option(
        None, "--json", help="Where to write the results (default data/benchmarks/results/<size>-<time>.json)."
    ),
    workdir: Path = typer.Option(
        DEFAULT_WORKDIR, "--workdir", help="Work folder: COG cache, payloads, throw-away warehouses."
    ),
    seed: int = typer.Option(42, "--seed", help="Seed of the synthetic payloads."),
    profile: bool = typer.Option(
        False, "--profile", help="Profile every phase with cProfile (slower); name the bottlenecks."
    ),
    max_rss_gb: float = typer.Option(
        12.0, "--max-rss-gb", help="Kill a phase whose RSS exceeds this (shared machine)."
    ),
    api_requests: int = typer.Option(
        400, "--api-requests", min=1, help="API phase: requests of each kind in the load (5 kinds)."
    ),
    api_think: float = typer.Option(
        1.0,
        "--api-think",
        min=0,
        help="API phase: mean pause (s) of each client between requests in the load the targets judge "
        "(0: back to back). A saturation load without pauses is measured too.",
    ),
    api_seconds: float = typer.Option(
        20.0, "--api-seconds", min=1, help="API phase: the load stops after this many seconds at most."
    ),
    job: bool = typer.Option(
        True, "--job/--no-job", help="Run the real job (aides run) on the synthetic sources, cold then with no change."
    ),
) -> None:
    """Run the pipeline's stages on SIZE synthetic records and print seconds, rows/s, peak RSS and the targets."""
    workspace = Workspace(workdir.resolve())
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        console.print(
            f"[yellow]machine busy before the run (load average {load_before:.2f} on {os.cpu_count()} cores): "
            "timings include contention[/yellow]"
        )
    template = ensure_template(workspace)
    payloads = workspace.payloads(size, seed)
    logs = workspace.run_dir(size, seed).with_name(f"{size}-{seed}-logs")
    limit = max_rss_gb * 1024
    runs: list[PhaseRun] = []
    if load_generated(payloads) is None:
        runs.append(
            run_phase(
                "generate",
                "generate",
                {"template": str(template.database), "size": size, "seed": seed, "payloads": str(payloads)},
                logs,
                limit,
                False,
            )
        )
        if not runs[-1].ok:
            raise typer.Exit(1)
    generated = load_generated(payloads)
    assert generated is not None
    paths = fresh_warehouse(workspace, size, seed)
    config = {
        "warehouse": str(paths.root),
        "payloads": str(payloads),
        "seed": seed,
        "today": datetime.now(PARIS).date().isoformat(),
    }
    cold = []
    api_config = {
        **config,
        "logs": str(logs),
        "max_rss_mb": limit,  # the API server is watched by the api phase, with the same limit
        "api_requests": api_requests,
        "api_seconds": api_seconds,
        "api_think": api_think,
    }
    for phase in ("ingest", "catalogue", "publish", "validate", "lookup", "api"):
        needs_release = phase in ("validate", "lookup", "api")
        if needs_release and not (paths.exports_dir / "latest").exists():
            continue
        cold.append(run_phase(phase, phase, api_config if phase == "api" else config, logs, limit, profile))
    warm = [
        run_phase(f"{phase}-nochange", phase, config, logs, limit, profile)
        for phase in ("ingest", "catalogue", "publish")
    ]
    runs += cold + warm
    targets = judge(size, cold, warm, generated.aids)
    job_figures = None
    if job:
        console.print("job: aides run on the synthetic sources, cold then with no change…")
        job_figures = job_phase(generated, template.root, logs.with_name(f"{size}-{seed}-job"))
        targets.append(job_target(job_figures))
    validation = _validation(runs)
    meta = {"size": size, "seed": seed, "aids": generated.aids, "generated": generated.stats, "validation": validation}
    print_table(size, runs, targets, meta)
    missed = [t for t in targets if t.verdict == "missed"]
    if missed:
        console.print("[bold]Closing note — targets missed:[/bold]")
        for target in missed:
            if target.phases in (("api",), ()):
                console.print(f"- {target.name}: {target.measured} (limit {target.limit})")
                continue
            memory = "RSS" in target.name
            stages = [s for r in runs if r.label in target.phases for s in r.stages if s["stage"] not in _TOP]
            worst = sorted(stages, key=lambda s: -(s["peak_rss_mb"] if memory else s["seconds"]))[:3]
            console.print(
                f"- {target.name}: {target.measured} (limit {target.limit}); "
                f"{'largest peaks' if memory else 'slowest sub-stages'}: "
                + ", ".join(f"{s['stage']} {s['seconds']:.1f} s / {s['peak_rss_mb'] / 1024:.1f} GB" for s in worst)
            )
            lines = _bottleneck(runs, target.phases) if profile else []
            for line in lines or ["  (rerun with --profile to name the functions)"]:
                console.print("  " + line, highlight=False)
        if any(t.phases == ("api",) for t in missed):
            _api_note(runs, profile)
    results = {
        "size": size,
        "seed": seed,
        "aids": generated.aids,
        "generated": generated.stats,
        "finished_at": datetime.now(PARIS).isoformat(timespec="seconds"),
        "wall_s": time.perf_counter() - started,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
        },
        "versions": _versions(),
        "phases": [
            {
                "label": r.label,
                "phase": r.phase,
                "ok": r.ok,
                "wall_s": r.wall_s,
                "peak_rss_mb": r.peak_rss_mb,
                "stages": r.stages,
                "info": r.info,
                "error": r.error,
            }
            for r in runs
        ],
        "validation": validation,
        "api": next((r.info for r in runs if r.label == "api" and r.ok), None),
        "job": job_figures,
        "targets": [t.__dict__ for t in targets],
    }
    target_path = json_path or RESULTS_DIR / f"{size}-{datetime.now(PARIS).strftime('%Y%m%dT%H%M%S')}.json"
    target_path.parent.mkdir(parents=True, exist_ok=True)
    if target_path.parent == RESULTS_DIR and not (RESULTS_DIR / ".gitignore").exists():
        (RESULTS_DIR / ".gitignore").write_text("# Benchmark results depend on the machine: not versioned.\n*\n")
    target_path.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    console.print(f"load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f}; results: {target_path}")


def job_target(figures: dict) -> Target:
    """Issue 18, point 3: the real job with no change costs at most 20 % of its cold run."""
    cold, again, ratio = figures["cold"], figures["nochange"], figures["ratio"]
    failed = [label for label, run in (("cold", cold), ("no change", again)) if run["exit"] != 0]
    measured = (
        f"{ratio:.0%} ({again['wall_s']:.1f} s / {cold['wall_s']:.1f} s; peak RSS {cold['peak_rss_mb']:.0f} MB cold)"
        + (f"; run(s) in failure: {', '.join(failed)} (see the job logs)" if failed else "")
    )
    return Target(
        "real job (aides run) with no change / cold", "≤ 20 %", measured, "missed" if ratio > 0.20 else "met", ()
    )


def _api_note(runs: list[PhaseRun], profile: bool) -> None:
    """Missed API targets: latency under load against one client alone (service time), the
    share of waiting (Little's law), then the server's top functions when profiled."""
    api = next((r for r in runs if r.label == "api"), None)
    if api is None or not api.ok:
        return
    info = api.info
    console.print("  API: p50 / p99 under load vs one client alone (the service time, no queue):")
    for kind, figures in info["kinds"].items():
        alone = figures["one_client"]
        if figures["p50_ms"] is None or alone["p50_ms"] is None:
            continue
        console.print(
            f"    {kind}: {figures['p50_ms']:.1f} / {figures['p99_ms']:.1f} ms vs {alone['p50_ms']:.1f} / "
            f"{alone['p99_ms']:.1f} ms",
            highlight=False,
        )
    total, clients = info["total"], info["clients"]
    if total["req_s"] and total.get("mean_ms"):
        one = [f["one_client"]["mean_ms"] for f in info["kinds"].values() if f["one_client"].get("mean_ms")]
        console.print(
            f"    {clients} clients at {total['req_s']:,.0f} req/s: mean latency {total['mean_ms']:.0f} ms "
            f"(Little's law: {clients} / {total['req_s']:,.0f} req/s = {clients / total['req_s'] * 1000:.0f} ms) "
            f"against a mean service time of {sum(one) / max(len(one), 1):.1f} ms alone: the rest is queueing "
            "for the server's CPU (throughput is the lever, not one request's path)",
            highlight=False,
        )
    lines = _bottleneck(runs, ("api",)) if profile else []
    for line in lines or ["(rerun with --profile to name the server's functions)"]:
        console.print("  " + line, highlight=False)


def main() -> None:
    app()
