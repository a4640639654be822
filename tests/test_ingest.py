"""Ingestion of one source: change detection, stale snapshots, unavailable sources, storage."""

from __future__ import annotations

import json
import sys
import types

import pytest

from sources.base import CollectContext, Payload, SourceSpec
from sources.fetch import FetchError, FetchPolicy, SnapshotStore
from sources.ingest import IngestStatus, ingest
from sources.record import AidRecord, GeoMention, ParseResult
from warehouse.db import connect_writer
from warehouse.ingestion import previous_digest, store_outcome


class FakeAdapter(types.ModuleType):
    """An adapter whose payload and failures the test controls; counts its parses."""

    def __init__(self) -> None:
        super().__init__("sources.adapters.fake_for_tests")
        self.body = b'[{"id": "a1", "titre": "Aide au compostage"}, {"id": "", "titre": "sans id"}]'
        self.fail = False
        self.parses = 0

    def collect(self, spec, ctx):
        if self.fail:
            raise FetchError(spec.name, "https://exemple.fr/aides", "injoignable après 4 tentatives")
        return Payload.build([("https://exemple.fr/aides", self.body, "application/json")])

    def parse(self, spec, payload):
        self.parses += 1
        result = ParseResult()
        for position, item in enumerate(json.loads(payload.content("https://exemple.fr/aides")), start=1):
            if not item["id"]:
                result.reject(spec.name, f"résultat {position}", "identifiant absent", item)
                continue
            result.records.append(AidRecord(spec.name, item["id"], item["titre"], geo_inclusions=[GeoMention("commune", code="49007")],
                                            montants=["50 €"], raw=item))
        return result


@pytest.fixture
def adapter(monkeypatch):
    fake = FakeAdapter()
    monkeypatch.setitem(sys.modules, "sources.adapters.fake_for_tests", fake)
    return fake


SPEC = SourceSpec("ville-test", "fake_for_tests", "commune", "Ville de Test", "etalab-2.0", "https://exemple.fr", "http", "0 4 * * *")


@pytest.fixture
def ctx(tmp_path):
    return CollectContext(SnapshotStore(tmp_path / "snap"), tmp_path / "npm", FetchPolicy(user_agent="t"))


def run_once(ctx, warehouse, run_id):
    with connect_writer(warehouse) as conn:
        outcome = ingest(SPEC, ctx, previous_digest(conn, SPEC.name))
        line = store_outcome(conn, outcome, run_id)
        records = conn.execute("SELECT native_id, titre, montants, geo_inclusions FROM source_records").fetchall()
        rejections = conn.execute("SELECT location, reason FROM source_rejections").fetchall()
    return outcome, line, records, rejections


def test_new_payload_is_parsed_and_stored_with_its_rejections(adapter, ctx, warehouse):
    outcome, line, records, rejections = run_once(ctx, warehouse, "r1")
    assert outcome.status is IngestStatus.PARSED and line.changed
    assert outcome.result.items_seen == 2 == line.records + line.rejected
    assert records == [("a1", "Aide au compostage", ["50 €"], '[{"niveau": "commune", "code": "49007", "nom": null}]')]
    assert rejections == [("résultat 2", "identifiant absent")]


def test_unchanged_payload_is_not_parsed_again(adapter, ctx, warehouse):
    run_once(ctx, warehouse, "r1")
    outcome, line, records, _ = run_once(ctx, warehouse, "r2")
    assert outcome.status is IngestStatus.UNCHANGED and not line.changed
    assert adapter.parses == 1
    assert line.records == 1 and len(records) == 1  # previous records reused


def test_changed_payload_replaces_the_source_rows(adapter, ctx, warehouse):
    run_once(ctx, warehouse, "r1")
    adapter.body = '[{"id": "a2", "titre": "Aide au vélo"}]'.encode()
    outcome, line, records, rejections = run_once(ctx, warehouse, "r2")
    assert outcome.status is IngestStatus.PARSED
    assert [r[0] for r in records] == ["a2"] and rejections == []


def test_unreachable_source_keeps_its_last_snapshot_flagged_stale(adapter, ctx, warehouse):
    run_once(ctx, warehouse, "r1")
    adapter.fail = True
    outcome, line, records, _ = run_once(ctx, warehouse, "r2")
    assert outcome.stale and line.stale and "injoignable" in line.error
    assert outcome.status is IngestStatus.UNCHANGED  # same payload as stored: nothing to parse
    assert [r[0] for r in records] == ["a1"]


def test_stale_snapshot_is_parsed_when_the_warehouse_lost_its_records(adapter, ctx, warehouse, tmp_path):
    run_once(ctx, warehouse, "r1")
    adapter.fail = True
    outcome = ingest(SPEC, ctx, previous_digest=None)
    assert outcome.stale and outcome.status is IngestStatus.PARSED and len(outcome.result.records) == 1


def test_source_that_never_had_a_snapshot_is_unavailable_not_empty(adapter, ctx, warehouse):
    adapter.fail = True
    outcome, line, records, _ = run_once(ctx, warehouse, "r1")
    assert outcome.status is IngestStatus.UNAVAILABLE and line.status == "unavailable"
    assert records == [] and "injoignable" in line.error
    with connect_writer(warehouse) as conn:
        runs = conn.execute("SELECT source, status, error IS NOT NULL FROM source_runs").fetchall()
    assert runs == [("ville-test", "unavailable", True)]


def test_a_large_drop_is_held_back_until_acknowledged(adapter, ctx, warehouse):
    from typer.testing import CliRunner

    from aides_cli.main import app

    adapter.body = json.dumps([{"id": f"a{i}", "titre": f"Aide {i}"} for i in range(10)]).encode()
    run_once(ctx, warehouse, "r1")
    adapter.body = json.dumps([{"id": "a1", "titre": "Aide 1"}]).encode()  # 9 of 10 aids vanish
    _, line, records, _ = run_once(ctx, warehouse, "r2")
    assert line.status == "held" and not line.changed and "aides acknowledge ville-test" in line.error
    assert len(records) == 10  # the previous records stay in use
    _, line, records, _ = run_once(ctx, warehouse, "r3")
    assert line.status == "held" and len(records) == 10  # still held, recorded once
    result = CliRunner().invoke(app, ["acknowledge", "ville-test"])
    assert result.exit_code == 0, result.output
    _, line, records, _ = run_once(ctx, warehouse, "r4")
    assert line.status == "parsed" and [r[0] for r in records] == ["a1"]
    with connect_writer(warehouse) as conn:
        holds = conn.execute("SELECT previous_records, new_records, acknowledged_at IS NOT NULL FROM source_holds").fetchall()
    assert holds == [(10, 1, True)]


def test_a_small_drop_is_applied(adapter, ctx, warehouse):
    adapter.body = json.dumps([{"id": f"a{i}", "titre": f"Aide {i}"} for i in range(10)]).encode()
    run_once(ctx, warehouse, "r1")
    adapter.body = json.dumps([{"id": f"a{i}", "titre": f"Aide {i}"} for i in range(8)]).encode()
    _, line, records, _ = run_once(ctx, warehouse, "r2")
    assert line.status == "parsed" and len(records) == 8


def test_a_payload_that_crashes_the_adapter_fails_alone_and_keeps_the_previous_records(adapter, ctx, warehouse):
    run_once(ctx, warehouse, "r1")
    adapter.body = b'{"resultats": "la page a change de forme"}'  # not a list: parse raises
    outcome, line, records, rejections = run_once(ctx, warehouse, "r2")
    assert outcome.status is IngestStatus.FAILED and line.status == "failed" and outcome.stale
    assert "échec de l'analyse : TypeError" in line.error
    assert [r[0] for r in records] == ["a1"] and rejections == [("résultat 2", "identifiant absent")]
    adapter.body = b'[{"id": "a3", "titre": "Aide au broyage"}]'  # mended: parsed again at once
    outcome, line, records, _ = run_once(ctx, warehouse, "r3")
    assert line.status == "parsed" and [r[0] for r in records] == ["a3"]


def test_a_held_change_says_what_the_rejections_were(adapter, ctx, warehouse):
    adapter.body = json.dumps([{"id": f"a{i}", "titre": f"Aide {i}"} for i in range(10)]).encode()
    run_once(ctx, warehouse, "r1")
    adapter.body = json.dumps([{"id": "", "titre": "x"}]).encode()
    _, line, records, _ = run_once(ctx, warehouse, "r2")
    assert line.status == "held" and "rejets : identifiant absent" in line.error and len(records) == 10
