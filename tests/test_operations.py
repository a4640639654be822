"""Issue 17: honest state and alerts. A stale source is not green in what the UI reads; a failed
run and a failed ERROR check are posted to the team's webhook (a local receiver here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest
from paths import FIXTURES

from pipelines.definitions import defs
from pipelines.defs.exploitation.alertes import alerte_controle_en_echec, alerte_run_en_echec


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """A local HTTP server standing for the team's webhook; yields the JSON documents it received."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — the standard library's name
            length = int(self.headers.get("content-length", "0"))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AIDES_ALERTE_URL", f"http://127.0.0.1:{server.server_port}/alerte")
    yield received
    server.shutdown()


def _latest_check(instance: dg.DagsterInstance, asset: str, check: str):
    """The latest evaluation of a check, as the UI's asset graph reads it."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    return records[0].event.dagster_event.event_specific_data


def test_a_stale_source_is_not_green_and_the_team_is_told(warehouse, monkeypatch, tmp_path, receiver):
    monkeypatch.setenv("AIDES_REPLAY_DIR", str(FIXTURES))
    asset = defs().resolve_assets_def(dg.AssetKey("records_region_occitanie"))
    with dg.instance_for_test() as instance:
        assert dg.materialize([asset], instance=instance).success
        assert _latest_check(instance, "records_region_occitanie", "source_disponible").passed
        down = tmp_path / "empty" / "region-occitanie"
        down.mkdir(parents=True)
        (down / "index.json").write_text('{"description": "vide", "responses": []}')
        monkeypatch.setenv("AIDES_REPLAY_DIR", str(tmp_path / "empty"))  # the site is down: last snapshot served
        assert dg.materialize([asset], instance=instance).success  # the run goes on: other sources, release
        evaluation = _latest_check(instance, "records_region_occitanie", "source_disponible")
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR  # red on the graph
        assert evaluation.metadata["perime"].value is True

        result = alerte_controle_en_echec(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason)
    assert [alert["titre"] for alert in receiver] == ["Contrôle en échec : records_region_occitanie:source_disponible"]
    assert "instantané précédent" in receiver[0]["text"] and receiver[0]["details"]["metadata"]["perime"] == "True"


def test_the_alert_hook_posts_a_failed_run_to_the_webhook(receiver):
    @dg.op
    def publier() -> None:
        raise RuntimeError("disque plein pendant l'écriture de aides.parquet")

    @dg.job
    def publication_de_test() -> None:
        publier()

    with dg.instance_for_test() as instance:
        result = publication_de_test.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="alerte_run_en_echec", dagster_instance=instance, dagster_run=run, dagster_event=failure
        ).for_run_failure()
        alerte_run_en_echec(context)
    [alert] = receiver
    assert alert["titre"] == "Run en échec : publication_de_test"
    assert "publier" in alert["text"] and alert["details"]["run_id"] == result.run_id


def test_an_alert_channel_that_fails_never_raises(monkeypatch):
    from warehouse.alerts import Alert, send

    assert send(Alert("t", "x"), url="http://127.0.0.1:9/nulle-part", command="") == []
    assert send(Alert("t", "x"), url="", command="/bin/cat") == ["commande"]


def test_aides_qualite_lists_what_normalisation_could_not_do_most_frequent_first(warehouse):
    from typer.testing import CliRunner

    from aides_cli.main import app
    from warehouse.db import connect_writer

    with connect_writer(warehouse) as conn:
        conn.execute(
            "INSERT INTO normalisation_problemes VALUES "
            "('a:1', 'a', 'thematiques', 'Culture urbaine', 'valeur inconnue'),"
            "('a:2', 'a', 'thematiques', 'Culture urbaine', 'valeur inconnue'),"
            "('b:1', 'b', 'cibles', 'Étudiants chercheurs', 'valeur inconnue'),"
            "('b:2', 'b', 'eligibilite_geographique', 'Pays de Brocéliande', 'unresolved')"
        )
    answer = CliRunner().invoke(app, ["qualite", "vocabulaire_non_reconnu", "--json"])
    assert answer.exit_code == 0, answer.output
    rows = json.loads(answer.stdout)["vocabulaire_non_reconnu"]["lignes"]
    assert [(r["valeur"], r["nb"]) for r in rows] == [("Culture urbaine", 2), ("Étudiants chercheurs", 1)]
    every = CliRunner().invoke(app, ["qualite", "--limite", "5"])
    assert "Pays de Brocéliande" in every.stdout and "Changements de source retenus" in every.stdout
    assert CliRunner().invoke(app, ["qualite", "inconnue"]).exit_code == 2
