"""The ingestion assets in Dagster, and `aides record`, on recorded responses."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from paths import FIXTURES
from typer.testing import CliRunner

from aides_cli.main import app
from pipelines.definitions import defs
from pipelines.defs.ingestion.assets import asset_name
from sources import base as base_module
from sources.registry import load_specs


def test_every_declared_source_has_an_ingestion_asset_with_pool_and_retries():
    graph = defs().resolve_asset_graph()
    for spec in load_specs():
        node = graph.get(dg.AssetKey(asset_name(spec)))
        assert node.group_name == "ingestion"
        assert node.pools == {spec.pool}
        assert node.assets_def.op.retry_policy is not None
    pools = {spec.pool for spec in load_specs()}
    assert "npm" in pools and "host_data_laregion_fr" in pools


def _materialize(name: str, instance: dg.DagsterInstance) -> dict:
    definitions = defs()
    asset = definitions.resolve_assets_def(dg.AssetKey(name))
    result = dg.materialize([asset], instance=instance)
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.step_materialization_data.materialization.metadata.items()}


def test_a_web_source_materialises_from_its_recording_then_is_not_parsed_again(warehouse, monkeypatch):
    monkeypatch.setenv("AIDES_REPLAY_DIR", str(FIXTURES))
    with dg.instance_for_test() as instance:
        first = _materialize("records_region_occitanie", instance)
        second = _materialize("records_region_occitanie", instance)
    assert first["statut"] == "parsed" and first["modifie"] is True
    assert first["nb_enregistrements"] == 3 and first["nb_rejets"] == 0 and first["perime"] is False
    assert len(first["empreinte"]) == 64
    assert second["statut"] == "unchanged" and second["modifie"] is False and second["nb_enregistrements"] == 3


def test_a_source_down_after_a_good_run_serves_its_last_snapshot_flagged_stale(warehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("AIDES_REPLAY_DIR", str(FIXTURES))
    with dg.instance_for_test() as instance:
        _materialize("records_region_occitanie", instance)
        monkeypatch.setenv("AIDES_REPLAY_DIR", str(tmp_path / "empty"))  # nothing recorded: the site "is down"
        (tmp_path / "empty" / "region-occitanie").mkdir(parents=True)
        (tmp_path / "empty" / "region-occitanie" / "index.json").write_text('{"description": "vide", "responses": []}')
        down = _materialize("records_region_occitanie", instance)
    assert down["perime"] is True and down["nb_enregistrements"] == 3 and "non enregistrée" in down["erreur"]


class FakeLive:
    """Stands for the network in `aides record`: answers from the Occitanie recording."""

    def send(self, url, headers, timeout, method="GET"):
        replay = base_module.ReplayTransport.from_folder(FIXTURES / "region-occitanie")
        return replay.send(url, headers, timeout, method)


def test_record_writes_a_fixture_folder_that_replays(warehouse, monkeypatch, tmp_path):
    monkeypatch.setattr(base_module, "LiveTransport", FakeLive)
    result = CliRunner().invoke(app, ["record", "region-occitanie", "--into", str(tmp_path)])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "region-occitanie" / "index.json").read_text())
    assert "data.laregion.fr" in index["description"] or "laregion" in index["description"]
    urls = [entry["url"] for entry in index["responses"]]
    assert any("records?limit=100&offset=0" in url for url in urls)
    replay = base_module.ReplayTransport.from_folder(tmp_path / "region-occitanie")
    original = base_module.ReplayTransport.from_folder(FIXTURES / "region-occitanie")
    url = next(u for u in urls if "records" in u)
    assert replay.send(url, {}, 1).content == original.send(url, {}, 1).content


@pytest.mark.parametrize(
    ("args", "message"),
    [(["record", "nulle-part"], "source inconnue"), (["record", "aides-velo"], "pas une source web")],
)
def test_record_refuses_unknown_and_non_web_sources(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output


def test_a_file_not_in_its_declared_shape_fails_with_one_rejection_per_row(warehouse, monkeypatch, tmp_path):
    """Issue 14, point 2: a CSV whose header lacks the schema's columns loses no aid quietly: each
    of its N rows is a rejection, the source fails and its availability check is red."""
    from warehouse.db import connect_reader

    spec = next(s for s in load_specs() if s.name == "mission-transition-ecologique-csv")
    folder = tmp_path / "replay" / spec.name
    folder.mkdir(parents=True)
    rows = [f"a-{n},Aide {n},https://exemple.fr/{n}" for n in range(1, 6)]
    (folder / "export.csv").write_text("Nom,Titre,Lien\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (folder / "index.json").write_text(
        json.dumps({"responses": [{"url": spec.config["url"], "status": 200, "file": "export.csv"}]}),
        encoding="utf-8",
    )
    monkeypatch.setenv("AIDES_REPLAY_DIR", str(tmp_path / "replay"))
    definitions = defs()
    asset = definitions.resolve_assets_def(dg.AssetKey(asset_name(spec)))
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], instance=instance, raise_on_error=False)
    [event] = result.get_asset_materialization_events()
    metadata = {k: getattr(v, "value", v) for k, v in event.step_materialization_data.materialization.metadata.items()}
    assert metadata["statut"] == "failed" and metadata["nb_rejets"] == 5
    assert "colonnes obligatoires du schéma dispositif-aide absentes" in metadata["erreur"]
    available = next(e for e in result.get_asset_check_evaluations() if e.check_name == "source_disponible")
    assert not available.passed and available.severity == dg.AssetCheckSeverity.ERROR
    with connect_reader() as conn:
        locations = [r[0] for r in conn.execute("SELECT location FROM source_rejections ORDER BY location").fetchall()]
    assert locations == [f"{spec.config['url']}, ligne {n}" for n in range(2, 7)]
