"""Issue 17, points 2 and 3, end to end in a Dagster test instance: a genuine drop is held; once
that hold is accepted, the daemon's sensors re-collect the source, then rebuild the catalogue
once and publish once — and nothing more.

The daemon is played tick by tick: the sensor ``retenues_acquittees`` evaluated as the daemon
does, then declarative automation evaluated with ``dg.evaluate_automation_conditions`` (what the
``propagation`` sensor runs), each requested run executed in process, until nothing is requested.
Needs the npm registry (the full job's referential and npm sources).
"""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest
from paths import FIXTURES

from pipelines.definitions import defs
from pipelines.defs.exploitation.automatisation import retenues_acquittees
from pipelines.run import run_pipeline
from warehouse.db import connect_reader, connect_writer
from warehouse.holds import acknowledge_hold, pending_holds
from warehouse.publication.release import list_releases
from warehouse.settings import WarehousePaths

pytestmark = pytest.mark.registry

SOURCE, ASSET = "region-pays-de-la-loire", "records_region_pays_de_la_loire"


def _ticks(definitions: dg.Definitions, instance: dg.DagsterInstance, cursor=None, limit: int = 6):
    """Automation ticks until one requests nothing: the asset keys requested at each tick."""
    job = definitions.resolve_job_def("catalogue_complet")
    requested: list[set[str]] = []
    for _ in range(limit):
        result = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=cursor)
        cursor = result.cursor
        keys = {key for key in definitions.resolve_all_asset_keys() if result.get_num_requested(key)}
        if not keys:
            return requested, cursor
        requested.append({key.to_user_string() for key in keys})
        assert job.execute_in_process(instance=instance, asset_selection=sorted(keys), raise_on_error=False).success
    raise AssertionError(f"l'automatisation ne s'arrête pas : {requested}")


def test_an_accepted_hold_is_applied_then_rebuilt_once_and_published_once(tmp_path, monkeypatch):
    replay = tmp_path / "replay"
    shutil.copytree(FIXTURES, replay)
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("AIDES_REPLAY_DIR", str(replay))
    paths = WarehousePaths(tmp_path / "warehouse")
    definitions = defs()
    with dg.instance_for_test() as instance:
        assert run_pipeline(instance).success
        [first] = list_releases(paths.exports_dir)
        requested, cursor = _ticks(definitions, instance)
        assert requested == []  # everything was just built: the daemon has nothing to do

        # The publisher now lists 1 aid of its 5: a genuine drop, held.
        records = replay / SOURCE / "records-all.json"
        document = json.loads(records.read_text(encoding="utf-8"))
        document["results"], document["total_count"] = document["results"][:1], 1
        records.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        source = definitions.resolve_assets_def(dg.AssetKey(ASSET))
        held = dg.materialize([source], instance=instance)
        [check] = held.get_asset_check_evaluations()
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        requested, cursor = _ticks(definitions, instance, cursor)
        assert requested == []  # a held change is not applied: nothing to rebuild
        assert isinstance(retenues_acquittees(dg.build_sensor_context(instance=instance)), dg.SkipReason)

        with connect_writer(paths) as conn:
            [hold] = pending_holds(conn, SOURCE)
            acknowledge_hold(conn, SOURCE, hold.hold_id, "test")
        answer = retenues_acquittees(dg.build_sensor_context(instance=instance))
        [request] = answer.run_requests
        assert request.asset_selection == [dg.AssetKey(ASSET)] and request.tags["retenue"] == hold.hold_id
        applied = dg.materialize([source], instance=instance)  # the run the sensor asked for
        [check] = applied.get_asset_check_evaluations()
        assert check.passed
        assert isinstance(retenues_acquittees(dg.build_sensor_context(instance=instance)), dg.SkipReason)

        requested, _ = _ticks(definitions, instance, cursor)
        assert requested[0] == {"aides"}  # one rebuild…
        assert "publication" in requested[1] and len(requested) == 2  # …then one release, and quiet
        assert sum("aides" in ticks for ticks in requested) == 1
    releases = list_releases(paths.exports_dir)
    assert len(releases) == 2 and releases[0] == first
    with connect_reader(paths) as conn:
        kept = conn.execute("SELECT count(*) FROM source_records WHERE source = ?", [SOURCE]).fetchone()[0]
    assert kept == 1
