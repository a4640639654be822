"""The Dagster code location loads cleanly and holds what the pipeline needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def check_specs(definitions: dg.Definitions) -> dict[dg.AssetCheckKey, dg.AssetCheckSpec]:
    """Every check of the code location, whether computed in its asset's step or on its own."""
    return {spec.key: spec for assets in definitions.resolve_asset_graph().assets_defs for spec in assets.check_specs}


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
    assert check_specs(definitions)[dg.AssetCheckKey(dg.AssetKey("aides"), "aides_conformes_au_schema")].blocking


def test_publication_asset_follows_the_catalogue_with_a_blocking_frictionless_check():
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    assert dg.AssetKey("aides") in graph.get(dg.AssetKey("publication")).parent_keys
    assert check_specs(definitions)[dg.AssetCheckKey(dg.AssetKey("publication"), "publication_valide")].blocking


def test_submissions_sensor_starts_a_run_for_each_new_file_once(warehouse):
    from pipelines.defs.ingestion.sensors import nouvelles_soumissions

    definitions = defs()
    assert definitions.resolve_sensor_def("nouvelles_soumissions")
    job = definitions.resolve_job_def("soumissions_collectivites")
    assert {node.name for node in job.graph.nodes} == {"records_soumissions_collectivites"}  # the rest by automation

    empty = nouvelles_soumissions(dg.build_sensor_context())
    assert isinstance(empty, dg.SkipReason)
    folder = warehouse.root / "submissions"
    folder.mkdir(parents=True)
    (folder / "20261129T101500Z-214900074-0123456789ab.csv").write_text("id\n", encoding="utf-8")
    first = nouvelles_soumissions(dg.build_sensor_context())
    assert [r.run_key for r in first.run_requests] == ["20261129T101500Z-214900074-0123456789ab.csv"]
    again = nouvelles_soumissions(dg.build_sensor_context(cursor=first.cursor))
    assert isinstance(again, dg.SkipReason)


def test_every_scheduled_source_runs_at_its_declared_cadence_in_one_run_per_cadence():
    from sources.registry import load_specs

    definitions = defs()
    specs = load_specs()
    for spec in specs:
        if spec.transport == "local":  # the submissions: started by their sensor, never on a timer
            assert not [s for s in definitions.schedules if asset_of(definitions, s) & {spec.name}]
            continue
        schedules = [s for s in definitions.schedules if spec.name in asset_of(definitions, s)]
        assert len(schedules) == 1, spec.name
        assert schedules[0].cron_schedule == spec.schedule and schedules[0].execution_timezone == "Europe/Paris"
        assert definitions.resolve_job_def(f"collecte_{spec.name.replace('-', '_')}")  # alone, from the UI
    nightly = definitions.resolve_schedule_def("calendrier_quotidien_04h00")
    nodes = {n.name for n in definitions.resolve_job_def(nightly.job_name).graph.nodes}
    assert len(nodes) >= 10 and "aides" not in nodes and "publication" not in nodes  # one run, then automation


def asset_of(definitions: dg.Definitions, schedule: dg.ScheduleDefinition) -> set[str]:
    """The sources a schedule collects."""
    job = definitions.resolve_job_def(schedule.job_name)
    return {n.name.removeprefix("records_").replace("_", "-") for n in job.graph.nodes}


def test_what_follows_a_source_is_rebuilt_by_automation_and_runs_in_process():
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    for name in ("aides", "rapport_qualite", "publication", "liens"):
        assert graph.get(dg.AssetKey(name)).automation_condition is not None, name
    assert definitions.resolve_sensor_def("propagation")
    assert definitions.resolve_job_def("catalogue_complet").executor_def.name == "in_process"


def test_every_asset_has_owners_and_a_code_version():
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:donnees-catalogue"] and node.code_version, key.to_user_string()


def test_quality_gates_are_declared():
    checks = defs().resolve_asset_graph().asset_check_keys
    names = {(key.asset_key.to_user_string(), key.name) for key in checks}
    assert {
        ("aides", "aides_conformes_au_schema"),
        ("aides", "part_geographie_resolue"),
        ("aides", "taux_de_doublons"),
        ("publication", "publication_valide"),
        ("records_aides_velo", "source_disponible"),
    } <= names


def test_every_quality_gate_of_the_operations_is_defined_with_its_severity():
    from pipelines.defs.ingestion.assets import asset_name
    from sources.registry import load_specs

    definitions = defs()
    specs = check_specs(definitions)
    blocking = {(key.asset_key.to_user_string(), key.name) for key, spec in specs.items() if spec.blocking}
    assert {("aides", "aides_conformes_au_schema"), ("publication", "publication_valide")} <= blocking
    expected = {
        ("aides", "part_geographie_resolue"),
        ("aides", "taux_de_doublons"),
        ("liens", "liens_casses"),
        ("territoires", "territoires_complets"),
    }
    for source in load_specs():
        expected.add((asset_name(source), "source_disponible"))
    assert expected <= {(key.asset_key.to_user_string(), key.name) for key in specs}
    assert definitions.resolve_sensor_def("nouvelles_soumissions")
    graph = definitions.resolve_asset_graph()
    for source in load_specs():  # freshness: a policy the daemon evaluates, shown in the UI
        assert graph.get(dg.AssetKey(asset_name(source))).freshness_policy is not None


def test_asset_descriptions_render_as_written_in_the_ui():
    """The UI renders descriptions as Markdown: a bare ``<version>`` would be swallowed as HTML."""
    import re

    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        text = re.sub(r"`[^`]*`", "", graph.get(key).description or "")  # code spans show as written
        assert not re.search(r"<[A-Za-z/][^>]*>", text), (key.to_user_string(), text)
