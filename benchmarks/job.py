"""The real job on the synthetic sources: ``aides run`` as the data team runs it, cold then with no change.

Why: the phases time the project's functions one by one; what a run really costs also holds
Dagster (the in-process executor, the event log, the checks), the imports and the warehouse's
connections. This phase serves the generated payloads to the pipeline itself: the synthetic
platforms are declared in a throw-away ``AIDES_SOURCES_DIR`` (as a deployment declares its own
sources), and every payload is a recorded answer in a throw-away ``AIDES_REPLAY_DIR`` (the
replay transport the tests use). The repository's other sources are declared too and, not
recorded there, answer « non enregistrée » at once, as an unreachable site would; the npm
sources and the COG go through the npm client as in a real run. Each run is a child process
(``aides run``); its wall time and peak RSS are measured, then the ratio no change / cold.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.generator import GeneratedPayloads
from sources.adapters.aides_territoires import first_page_url
from sources.base import SourceSpec
from warehouse.settings import PROJECT_ROOT


def _toml(spec: SourceSpec) -> str:
    """A declaration entry for a synthetic source (only strings and a flat config)."""
    lines = ["[[source]]"]
    for key in ("name", "adapter", "level", "publisher", "licence", "homepage", "transport", "schedule"):
        lines.append(f"{key} = {json.dumps(getattr(spec, key), ensure_ascii=False)}")
    lines.append(f"precedence = {spec.precedence}")
    lines.append("[source.config]")
    lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in spec.config.items()]
    return "\n".join(lines) + "\n"


def _record(folder: Path, responses: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.json").write_text(
        json.dumps({"description": "charges synthétiques du banc d'essai", "responses": responses}), encoding="utf-8"
    )


def prepare(generated: GeneratedPayloads, folder: Path) -> tuple[Path, Path]:
    """The declarations of the synthetic platforms and the recorded answers of every payload."""
    declared, replay = folder / "sources", folder / "replay"
    shutil.rmtree(folder, ignore_errors=True)
    declared.mkdir(parents=True)
    entries = []
    for source in generated.sources:
        spec = source.spec
        target = replay / spec.name
        if source.kind == "pages":  # aides-territoires: a token, then pages chained by « next »
            target.mkdir(parents=True)
            (target / "token.json").write_text('{"token": "jeton-synthetique"}', encoding="utf-8")
            responses = [
                {"url": spec.config["token_url"], "method": "POST", "status": 200, "file": "token.json"},
            ]
            url = first_page_url(spec.config)
            with source.path.open(encoding="utf-8") as pages:
                for number, page in enumerate((line for line in pages if line.strip()), start=1):
                    (target / f"page-{number}.json").write_text(page, encoding="utf-8")
                    responses.append({"url": url, "status": 200, "file": f"page-{number}.json"})
                    url = json.loads(page).get("next") or ""
            _record(target, responses)
        else:
            target.mkdir(parents=True)
            shutil.copyfile(source.path, target / source.path.name)
            _record(target, [{"url": spec.config["url"], "status": 200, "file": source.path.name}])
        if not _declared(spec.name):  # the synthetic regional platforms
            entries.append(_toml(spec))
    (declared / "synthetiques.toml").write_text("\n".join(entries), encoding="utf-8")
    return declared, replay


def _declared(name: str) -> bool:
    from sources.registry import load_specs

    return any(spec.name == name for spec in load_specs(PROJECT_ROOT / "sources" / "catalogue"))


def run_job(warehouse: Path, declared: Path, replay: Path, home: Path, log: Path) -> dict:
    """One ``aides run`` in a child process: wall time, peak RSS, exit code."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "AIDES_WAREHOUSE_DIR": str(warehouse),
        "AIDES_SOURCES_DIR": str(declared),
        "AIDES_REPLAY_DIR": str(replay),
        "DAGSTER_HOME": str(home),
    }
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as output:
        child = subprocess.Popen(
            [str(Path(sys.executable).parent / "aides"), "run"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        _pid, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "exit": os.waitstatus_to_exitcode(status),
    }


def job_phase(generated: GeneratedPayloads, template: Path, folder: Path) -> dict:
    """The job cold (a copy of the COG-only template warehouse, a new Dagster instance), then again."""
    declared, replay = prepare(generated, folder / "job-inputs")
    warehouse, home = folder / "job-warehouse", folder / "job-dagster"
    shutil.rmtree(warehouse, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, warehouse, symlinks=True)
    cold = run_job(warehouse, declared, replay, home, folder / "job-cold.log")
    again = run_job(warehouse, declared, replay, home, folder / "job-nochange.log")
    ratio = again["wall_s"] / cold["wall_s"] if cold["wall_s"] else None
    return {"cold": cold, "nochange": again, "ratio": round(ratio, 3) if ratio is not None else None}
