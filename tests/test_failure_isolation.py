"""Failure isolation, end to end through Dagster (issue 7, point 4).

Every case starts from the same last good state — a full run of the whole job on the
recorded sources, with its release — and breaks one thing during the next full run while
another source has changed since. In every case the last release stays valid and
complete, no record is lost, and what the Dagster UI reads (the instance's event log:
materialisation metadata, asset check evaluations, step and run failures) says which
source or step failed and why.

Needs the npm registry (the COG referential and the npm sources of the full job).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import frictionless
import polars as pl
import pytest
from paths import FIXTURES

from pipelines.defs.ingestion.assets import asset_name
from pipelines.run import RunSummary, run_pipeline
from sources.registry import get_spec
from warehouse.db import connect_reader
from warehouse.publication.release import list_releases
from warehouse.settings import PROJECT_ROOT, WarehousePaths

pytestmark = pytest.mark.registry

# The source that breaks, and the one answer of its recording that the pipeline asks for.
FAILING = "region-pays-de-la-loire"
FAILING_URL = (
    "https://data.paysdelaloire.fr/api/explore/v2.1/catalog/datasets/"
    "234400034_referentiel-aides-paysdelaloirefr/records?limit=100&offset=0"
)
# Meanwhile another source changed a title: that change must still reach the release.
CHANGED_PAGE = "aides-territoires/page-1.json"
OLD_TITLE = "Rénover énergétiquement les bâtiments publics"
NEW_TITLE = "Rénover énergétiquement les bâtiments publics communaux"


def _titles_by_source(release: Path) -> dict[str, set[str]]:
    frame = pl.read_csv(release / "aides.csv", infer_schema=False)
    exploded = frame.select("titre", pl.col("sources").str.split("|")).explode("sources")
    return {source: set(group["titre"]) for (source,), group in exploded.group_by("sources")}


def _ids(release: Path) -> set[str]:
    return set(pl.read_csv(release / "aides.csv", infer_schema=False)["id"])


@dataclass
class Baseline:
    warehouse: Path
    version: str
    ids: set[str]
    failing_titles: set[str]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """The last good state: one full run on the recordings, published."""
    root = tmp_path_factory.mktemp("baseline")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIDES_WAREHOUSE_DIR", str(root / "warehouse"))
        patch.setenv("AIDES_REPLAY_DIR", str(FIXTURES))
        with dg.instance_for_test() as instance:
            summary = run_pipeline(instance)
    assert summary.success, summary.failures
    paths = WarehousePaths(root / "warehouse")
    [version] = list_releases(paths.exports_dir)
    latest = paths.exports_dir / "latest"
    titles = _titles_by_source(latest)
    assert len(titles[FAILING]) == 4 and OLD_TITLE in titles["aides-territoires"]
    return Baseline(root / "warehouse", version, _ids(latest), titles[FAILING])


@dataclass
class Scene:
    paths: WarehousePaths
    replay: Path
    home: Path  # DAGSTER_HOME of the subprocess cases

    @property
    def latest(self) -> Path:
        return self.paths.exports_dir / "latest"

    def replay_index(self, source: str) -> tuple[Path, dict]:
        path = self.replay / source / "index.json"
        return path, json.loads(path.read_text(encoding="utf-8"))

    def answer(self, source: str, url: str, **entry: object) -> None:
        """Make the recording of ``source`` answer ``url`` differently (status, error, file)."""
        path, index = self.replay_index(source)
        [recorded] = [e for e in index["responses"] if e["url"] == url]
        recorded.update(entry)
        if "error" in entry:
            recorded.pop("file", None)
        path.write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AIDES_WAREHOUSE_DIR": str(self.paths.root),
            "AIDES_REPLAY_DIR": str(self.replay),
            "DAGSTER_HOME": str(self.home),
        }


@pytest.fixture
def scene(baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    """A copy of the last good state and of the recordings, in which one thing will break."""
    shutil.copytree(baseline.warehouse, tmp_path / "warehouse", symlinks=True)
    shutil.copytree(FIXTURES, tmp_path / "replay")
    page = tmp_path / "replay" / CHANGED_PAGE
    page.write_text(page.read_text(encoding="utf-8").replace(OLD_TITLE, NEW_TITLE), encoding="utf-8")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("AIDES_REPLAY_DIR", str(tmp_path / "replay"))
    return Scene(WarehousePaths(tmp_path / "warehouse"), tmp_path / "replay", home)


def assert_release_whole(scene: Scene, baseline: Baseline, *, published_change: bool) -> Path:
    """The release ``latest`` names is valid, complete, and has every aid of the last one."""
    release = scene.latest.resolve()
    assert release.parent == scene.paths.exports_dir / "releases"
    report = frictionless.validate(str(release / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    titles = _titles_by_source(release)
    assert titles[FAILING] == baseline.failing_titles  # the failing source's aids are all there
    assert baseline.ids <= _ids(release)  # no aid lost
    expected = NEW_TITLE if published_change else OLD_TITLE
    assert expected in titles["aides-territoires"]
    return release


def check_evaluation(instance: dg.DagsterInstance, run_id: str, asset: str, check: str):
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [r.dagster_event.event_specific_data for r in records]
    return next(e for e in evaluations if e.asset_key == dg.AssetKey(asset) and e.check_name == check)


def assert_shown_failed(instance: dg.DagsterInstance, summary: RunSummary, status: str, *words: str) -> None:
    """What the UI shows on the source's asset: its status and error, and the failed check."""
    key = dg.AssetKey(asset_name(get_spec(FAILING)))
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.run_id == summary.run_id
    metadata = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    assert metadata["statut"] == status, metadata
    assert metadata["nb_enregistrements"] == 4  # the records of the last good run stay in use
    evaluation = check_evaluation(instance, summary.run_id, key.to_user_string(), "source_disponible")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR  # red, not green
    for word in words:
        assert word in metadata["erreur"], metadata["erreur"]
        assert word in evaluation.metadata["erreur"].value
    others = [name for name, passed in summary.checks if name.endswith(":source_disponible") and not passed]
    assert [name.split(":")[0] for name in others] == [key.to_user_string()]  # only the broken source


def _break_by_http_500(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    scene.answer(FAILING, FAILING_URL, status=500)


def _break_by_timeout(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    scene.answer(FAILING, FAILING_URL, error="timeout")


def _break_by_malformed_payload(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    (scene.replay / FAILING / "maintenance.html").write_text(
        "<html><body><h1>Maintenance</h1>Le portail revient bientôt.</body></html>", encoding="utf-8"
    )
    scene.answer(FAILING, FAILING_URL, file="maintenance.html", headers={"Content-Type": "text/html"})


def _break_by_adapter_crash(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """A payload of a shape nobody foresaw makes the adapter raise (here: a programming error)."""
    import sources.adapters.opendatasoft as adapter

    records = scene.replay / FAILING / "records-all.json"
    records.write_text(
        records.read_text(encoding="utf-8").replace("Éco-chèque logement", "Éco-chèque logement 2027"), encoding="utf-8"
    )
    original = adapter.parse

    def crashing(spec, payload):
        if spec.name == FAILING:
            raise KeyError("aide_nom")
        return original(spec, payload)

    monkeypatch.setattr(adapter, "parse", crashing)


@pytest.mark.parametrize(
    ("breaks", "status", "words"),
    [
        (_break_by_http_500, "unchanged", ["HTTP 500 après 4 tentatives", FAILING_URL]),
        (_break_by_timeout, "unchanged", ["injoignable après 4 tentatives", "ReadTimeout"]),
        (_break_by_malformed_payload, "held", ["changement retenu : 0 enregistrements au lieu de 4", "JSON invalide"]),
        (
            _break_by_adapter_crash,
            "failed",
            ["échec de l'analyse : KeyError : 'aide_nom' (tests/test_failure_isolation.py:"],
        ),
    ],
    ids=["http-500", "timeout", "malformed-payload", "adapter-crash"],
)
def test_a_broken_source_fails_alone_and_the_release_keeps_its_aids(
    scene, baseline, monkeypatch, breaks, status, words
):
    breaks(scene, monkeypatch)
    with dg.instance_for_test() as instance:
        summary = run_pipeline(instance)
        assert summary.success, summary.failures  # one source down never stops the others
        assert_shown_failed(instance, summary, status, *words)
    release = assert_release_whole(scene, baseline, published_change=True)
    assert release.name != baseline.version  # the other source's change was published
    with connect_reader(scene.paths) as conn:
        kept = conn.execute("SELECT count(*) FROM source_records WHERE source = ?", [FAILING]).fetchone()[0]
    assert kept == 4


def test_an_error_in_the_middle_of_publication_leaves_the_last_release_and_says_where(scene, baseline, monkeypatch):
    import warehouse.publication.release_files as rf

    original = rf.write_communes_parquet

    def disk_full(conn, text, path):
        path.write_bytes(b"PAR1")  # half a file on disk, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rf, "write_communes_parquet", disk_full)
    with dg.instance_for_test() as instance:
        summary = run_pipeline(instance)
        assert not summary.success
        [failure] = [f for f in summary.failures if f.startswith("publication")]
        assert "écriture de aides-communes.parquet" in failure and "No space left on device" in failure
        records = instance.all_logs(summary.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        assert [r.step_key for r in records] == ["publication"]
    assert list_releases(scene.paths.exports_dir) == [baseline.version]
    assert scene.latest.resolve().name == baseline.version
    assert not [p for p in scene.paths.exports_dir.iterdir() if p.name.startswith(".building-")]
    assert_release_whole(scene, baseline, published_change=False)
    with connect_reader(scene.paths) as conn:  # the catalogue itself was rebuilt and kept
        assert conn.execute("SELECT count(*) FROM aides WHERE titre = ?", [NEW_TITLE]).fetchone()[0] == 1

    monkeypatch.setattr(rf, "write_communes_parquet", original)  # the disk has room again
    with dg.instance_for_test() as instance:
        assert run_pipeline(instance).success
    release = assert_release_whole(scene, baseline, published_change=True)
    assert list_releases(scene.paths.exports_dir) == [baseline.version, release.name]


_KILLED_IN_PUBLICATION = textwrap.dedent("""
    import os, signal
    import warehouse.publication.release_files as rf

    original = rf.write_communes_parquet

    def killed(*args, **kwargs):
        original(*args, **kwargs)  # part of the release is on disk
        os.kill(os.getpid(), signal.SIGKILL)  # the machine stops: no handler runs

    rf.write_communes_parquet = killed
    from pipelines.run import run_pipeline
    run_pipeline()
""")


def test_a_run_killed_during_publication_leaves_the_last_release_and_the_next_run_recovers(
    scene, baseline, monkeypatch
):
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_IN_PUBLICATION],
        cwd=PROJECT_ROOT,
        env=scene.env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == -9, done.stderr[-3000:]
    leftovers = [p for p in scene.paths.exports_dir.iterdir() if p.name.startswith(".building-")]
    assert len(leftovers) == 1 and (leftovers[0] / "aides.csv").exists()  # half a release, never under releases/
    assert list_releases(scene.paths.exports_dir) == [baseline.version]
    assert_release_whole(scene, baseline, published_change=False)

    monkeypatch.setenv("DAGSTER_HOME", str(scene.home))
    summary = run_pipeline()  # the repo-local kind of instance, as `make run` uses
    assert summary.success, summary.failures
    release = assert_release_whole(scene, baseline, published_change=True)
    assert list_releases(scene.paths.exports_dir) == [baseline.version, release.name]
    assert not [p for p in scene.paths.exports_dir.iterdir() if p.name.startswith(".building-")]
    instance = dg.DagsterInstance.get()
    [killed] = [r for r in instance.get_runs() if r.run_id != summary.run_id]
    assert killed.status == dg.DagsterRunStatus.FAILURE  # not « en cours » for ever in the UI
    [failure] = instance.all_logs(killed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "arrêté sans finir" in failure.dagster_event.message


def test_two_runs_started_at_once_both_finish_and_publish_one_release(scene, baseline):
    aides = Path(sys.executable).parent / "aides"
    runs = [
        subprocess.Popen(
            [str(aides), "run"],
            cwd=PROJECT_ROOT,
            env=scene.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=False):
        assert run.returncode == 0, output[-4000:]
        assert "réussi" in output
    release = assert_release_whole(scene, baseline, published_change=True)
    assert list_releases(scene.paths.exports_dir) == [baseline.version, release.name]  # one new release, not two
    assert sum("publiée " in output for output in outputs) == 1
    with connect_reader(scene.paths) as conn:
        per_source = conn.execute("SELECT source, count(*) FROM source_runs GROUP BY 1").fetchall()
    assert {count for _, count in per_source} == {3}  # the baseline's run, then each of the two runs
