"""The Dagster code location loads cleanly and holds what the pipeline needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_hold_the_referential_and_the_full_job():
    definitions = defs()
    assert dg.AssetKey("territoires") in definitions.resolve_all_asset_keys()
    job = definitions.resolve_job_def("catalogue_complet")
    assert "territoires" in {node.name for node in job.graph.nodes}
    checks = definitions.resolve_asset_graph().asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey("territoires"), "territoires_complets") in checks


def test_every_asset_has_a_docstring_description():
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).description, f"{key.to_user_string()} n'a pas de description"


def test_dagster_cli_validates_the_code_location(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful for code location catalogue_aides" in done.stderr + done.stdout


def test_catalogue_assets_and_their_blocking_schema_check():
    definitions = defs()
    keys = definitions.resolve_all_asset_keys()
    assert {dg.AssetKey("aides"), dg.AssetKey("rapport_qualite")} <= set(keys)
    graph = definitions.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey("aides")).parent_keys
    assert dg.AssetKey("territoires") in upstream and dg.AssetKey("records_aides_velo") in upstream
    check = next(
        c
        for c in definitions.asset_checks
        if dg.AssetCheckKey(dg.AssetKey("aides"), "aides_conformes_au_schema") in c.check_keys
    )
    assert check.check_specs_by_output_name and all(spec.blocking for spec in check.check_specs)


def test_publication_asset_follows_the_catalogue_with_a_blocking_frictionless_check():
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    assert dg.AssetKey("aides") in graph.get(dg.AssetKey("publication")).parent_keys
    key = dg.AssetCheckKey(dg.AssetKey("publication"), "publication_valide")
    check = next(c for c in definitions.asset_checks if key in c.check_keys)
    assert all(spec.blocking for spec in check.check_specs)


def test_submissions_sensor_starts_a_run_for_each_new_file_once(warehouse):
    from pipelines.defs.ingestion.sensors import nouvelles_soumissions

    definitions = defs()
    assert definitions.resolve_sensor_def("nouvelles_soumissions")
    job = definitions.resolve_job_def("soumissions_collectivites")
    assert {"records_soumissions_collectivites", "aides", "publication"} <= {node.name for node in job.graph.nodes}

    empty = nouvelles_soumissions(dg.build_sensor_context())
    assert isinstance(empty, dg.SkipReason)
    folder = warehouse.root / "submissions"
    folder.mkdir(parents=True)
    (folder / "20261129T101500Z-214900074-0123456789ab.csv").write_text("id\n", encoding="utf-8")
    first = nouvelles_soumissions(dg.build_sensor_context())
    assert [r.run_key for r in first.run_requests] == ["20261129T101500Z-214900074-0123456789ab.csv"]
    again = nouvelles_soumissions(dg.build_sensor_context(cursor=first.cursor))
    assert isinstance(again, dg.SkipReason)


def test_every_source_has_a_schedule_at_its_declared_cadence():
    from sources.registry import load_specs

    definitions = defs()
    for spec in load_specs():
        schedule = definitions.resolve_schedule_def(f"calendrier_{spec.name.replace('-', '_')}")
        assert schedule.cron_schedule == spec.schedule and schedule.execution_timezone == "Europe/Paris"
        job = definitions.resolve_job_def(schedule.job_name)
        assert {f"records_{spec.name.replace('-', '_')}", "aides", "publication"} <= {n.name for n in job.graph.nodes}


def test_quality_gates_are_declared():
    checks = defs().resolve_asset_graph().asset_check_keys
    names = {(key.asset_key.to_user_string(), key.name) for key in checks}
    assert {
        ("aides", "aides_conformes_au_schema"),
        ("aides", "part_geographie_resolue"),
        ("aides", "taux_de_doublons"),
        ("publication", "publication_valide"),
        ("records_aides_velo", "source_disponible"),
        ("records_aides_velo", "source_fraiche"),
    } <= names


def test_every_quality_gate_of_the_operations_is_defined_with_its_severity():
    from pipelines.defs.ingestion.assets import asset_name
    from sources.registry import load_specs

    definitions = defs()
    specs = {spec.key: spec for checks in definitions.asset_checks for spec in checks.check_specs}
    blocking = {(key.asset_key.to_user_string(), key.name) for key, spec in specs.items() if spec.blocking}
    assert {("aides", "aides_conformes_au_schema"), ("publication", "publication_valide")} <= blocking
    expected = {
        ("aides", "part_geographie_resolue"),
        ("aides", "taux_de_doublons"),
        ("liens", "liens_casses"),
        ("territoires", "territoires_complets"),
    }
    for source in load_specs():
        expected |= {(asset_name(source), "source_disponible"), (asset_name(source), "source_fraiche")}
    assert expected <= {(key.asset_key.to_user_string(), key.name) for key in specs}
    assert definitions.resolve_sensor_def("nouvelles_soumissions")
    schedules = {schedule.name for schedule in definitions.schedules}
    assert {f"calendrier_{spec.name.replace('-', '_')}" for spec in load_specs()} <= schedules
