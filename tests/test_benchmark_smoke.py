"""The benchmark harness runs end to end at a tiny size (smoke test; speed is never asserted).

The real COG comes through the npm client, hence the ``registry`` mark. The run goes
through the same entry point as ``make bench`` (``python -m benchmarks``), in a temporary
work folder, and its JSON results must name every stage with rows, a valid release, a
second run that saw no change, an API phase (the real application under uvicorn, a short
load of every kind of request) without a single error, and the real job (``aides run`` on the
synthetic sources) cold and with no change.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from warehouse.settings import PROJECT_ROOT

SIZE = 500
STAGES = {
    "ingest": {"ingest (total)", "collect", "parse", "store"},
    "catalogue": {
        "catalogue (build_catalogue)",
        "load records",
        "normalise",
        "geography: resolver index",
        "geography: resolve",
        "dedupe",
        "ids (identity)",
        "store catalogue",
        "check aides_conformes_au_schema",
    },
    "publish": {
        "publish (publish_release)",
        "publish: aides-communes file",
        "validate: project's validator (gate, in publish)",
        "publish: own checks",
    },
    "validate": {"validate: project's validator", "validate: frictionless"},
    "lookup": {"lookup: load index (CatalogueIndex)", "lookup: communes"},
    "api": {
        "api: first request (snapshot load)",
        "api server: load snapshot (ReleaseSnapshot)",
        "api: load (50 clients, pause ~1 s)",
        "api: saturation (50 clients, no pause)",
    },
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            str(SIZE),
            "--json",
            str(out),
            "--workdir",
            str(folder / "work"),
            "--seed",
            "7",
            "--api-requests",
            "10",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Targets" in done.stdout  # the table was printed
    return {**json.loads(out.read_text(encoding="utf-8")), "stdout": done.stdout}


def _phase(results: dict, label: str) -> dict:
    return next(p for p in results["phases"] if p["label"] == label)


@pytest.mark.registry
def test_every_phase_ran_and_reports_every_stage_with_rows(results: dict) -> None:
    assert results["size"] == SIZE and results["generated"]["records"] == SIZE
    for label, expected in STAGES.items():
        phase = _phase(results, label)
        assert phase["ok"], phase["error"]
        stages = {s["stage"]: s for s in phase["stages"]}
        assert expected <= set(stages), expected - set(stages)
        for name in expected - {
            "geography: resolver index",
            "publish: own checks",
            "validate: project's validator (gate, in publish)",
        }:
            assert stages[name]["rows"] and stages[name]["rows"] > 0, name
        assert all(s["seconds"] >= 0 and s["peak_rss_mb"] > 0 for s in phase["stages"])


@pytest.mark.registry
def test_the_release_is_valid_and_the_catalogue_is_realistic(results: dict) -> None:
    publish = _phase(results, "publish")["info"]
    assert publish["published"] and publish["counts"]["aides"] > 0 and publish["counts"]["aides-communes"] > 0
    assert _phase(results, "validate")["info"]["violations"] == 0
    summary = _phase(results, "catalogue")["info"]["summary"]
    assert 0 < summary["aides"] < summary["records"]  # cross-source copies were merged
    assert summary["geo_resolues"] > 0.8 * summary["aides"]
    validation = results["validation"]
    assert validation["rows"] > 0 and validation["frictionless_s"] > 0 and validation["own_s"] > 0
    assert validation["project_valid"] is True and validation["frictionless_valid"] is True
    lookup = _phase(results, "lookup")["info"]
    assert lookup["lookups"] > 0 and lookup["aides_trouvees"] > 0


@pytest.mark.registry
def test_the_second_run_sees_no_change_and_every_target_is_judged(results: dict) -> None:
    statuses = _phase(results, "ingest-nochange")["info"]["statuses"]
    assert set(statuses.values()) == {"unchanged"}
    assert _phase(results, "publish-nochange")["info"]["published"] is False
    assert len(results["targets"]) == 11
    assert {t["verdict"] for t in results["targets"]} <= {"met", "missed", "n/a"}


@pytest.mark.registry
def test_the_real_job_ran_on_the_synthetic_sources_cold_then_with_no_change(results: dict) -> None:
    job = results["job"]
    assert job["cold"]["exit"] == 0 and job["nochange"]["exit"] == 0
    assert job["cold"]["wall_s"] > 0 and job["nochange"]["peak_rss_mb"] > 0 and job["ratio"] > 0
    target = next(t for t in results["targets"] if t["name"].startswith("real job"))
    assert target["verdict"] in ("met", "missed") and "%" in target["measured"]


@pytest.mark.registry
def test_the_api_phase_answers_every_kind_of_request_without_error(results: dict) -> None:
    info = _phase(results, "api")["info"]
    assert info["errors"] == 0, info["error_samples"]
    assert set(info["kinds"]) == {"commune", "commune (list)", "filtered list", "text search", "change feed"}
    for kind, figures in info["kinds"].items():
        assert figures["requests"] > 0 and figures["errors"] == 0, kind
        assert figures["p99_ms"] is not None and figures["one_client"]["requests"] > 0, kind
    assert info["server_snapshot_load_s"] is not None and info["server_peak_rss_mb"] > 0
    assert "API under load" in results["stdout"]
    assert next(t for t in results["targets"] if t["name"].startswith("API errors"))["verdict"] == "met"
