"""Ingestion of one source: change detection, stale snapshots, unavailable sources, storage."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import asdict
from datetime import date

import polars as pl
import pytest

from sources.base import CollectContext, Payload, SourceSpec
from sources.fetch import FetchError, FetchPolicy, SnapshotStore
from sources.ingest import IngestStatus, ingest
from sources.record import LIST_FIELDS, OTHER_FIELDS, Acteur, AidRecord, GeoMention, ParseResult
from warehouse import ingestion
from warehouse.db import connect_writer
from warehouse.ingestion import previous_digest, records_frame, store_outcome


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
            result.records.append(
                AidRecord(
                    spec.name,
                    item["id"],
                    item["titre"],
                    geo_inclusions=[GeoMention("commune", code="49007")],
                    montants=["50 €"],
                    raw=item,
                )
            )
        return result


@pytest.fixture
def adapter(monkeypatch):
    fake = FakeAdapter()
    monkeypatch.setitem(sys.modules, "sources.adapters.fake_for_tests", fake)
    return fake


SPEC = SourceSpec(
    "ville-test", "fake_for_tests", "commune", "Ville de Test", "etalab-2.0", "https://exemple.fr", "http", "0 4 * * *"
)


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


def test_a_large_drop_is_held_back_until_its_hold_is_acknowledged(adapter, ctx, warehouse):
    from typer.testing import CliRunner

    from aides_cli.main import app

    adapter.body = json.dumps([{"id": f"a{i}", "titre": f"Aide {i}"} for i in range(10)]).encode()
    run_once(ctx, warehouse, "r1")
    adapter.body = json.dumps([{"id": "a1", "titre": "Aide 1"}]).encode()  # 9 of 10 aids vanish
    _, line, records, _ = run_once(ctx, warehouse, "r2")
    assert line.status == "held" and not line.changed and line.hold_id and line.hold_id.startswith("R-")
    assert f"aides acknowledge ville-test {line.hold_id}" in line.error
    assert len(records) == 10  # the previous records stay in use
    _, again, records, _ = run_once(ctx, warehouse, "r3")
    assert again.status == "held" and again.hold_id == line.hold_id and len(records) == 10  # one hold
    result = CliRunner().invoke(app, ["acknowledge", "ville-test", line.hold_id])
    assert result.exit_code == 0, result.output
    _, applied, records, _ = run_once(ctx, warehouse, "r4")
    assert applied.status == "parsed" and applied.changed and [r[0] for r in records] == ["a1"]
    with connect_writer(warehouse) as conn:
        holds = conn.execute(
            "SELECT hold_id, records_before, records_after, status, times_held, applied_run_id FROM source_hold_states"
        ).fetchall()
    assert holds == [(line.hold_id, 10, 1, "applied", 2, "r4")]


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


# -- records_frame: the Arrow construction gives the frame the plain constructor gives ----------


def _reference_frame(source: str, digest: str, records: list[AidRecord]) -> pl.DataFrame:
    """records_frame as first written: one Python list per column, then pl.DataFrame."""
    text = (
        "titre",
        "description",
        "promesse",
        "eligibilite",
        "url_source",
        "url_demarche",
        "niveau",
        "date_ouverture",
        "date_cloture",
        "date_mise_a_jour",
        "recurrence",
        # then the other published fields a record may state (sources/record.py OTHER_FIELDS)
        *(name for name in OTHER_FIELDS if name not in LIST_FIELDS),
    )
    lists = (
        *("porteurs", "financeurs", "montants", "taux", "plafonds_depense", "montants_variations"),
        *("cibles", "types_aides", "thematiques", "programmes_parents", "conditions"),
        *(name for name in OTHER_FIELDS if name in LIST_FIELDS),
    )
    columns: dict[str, list] = {
        "source": [source] * len(records),
        "native_id": [str(r.native_id) for r in records],
        "digest": [digest] * len(records),
    }
    for name in text:
        columns[name] = [r.value(name) for r in records]
    for name in lists:
        columns[name] = [list(r.value(name)) for r in records]
    for name in ("geo_inclusions", "geo_exclusions"):
        columns[name] = [json.dumps([asdict(g) for g in getattr(r, name)], ensure_ascii=False) for r in records]
    columns["geo_expression"] = [
        None if r.geo_expression is None else json.dumps(r.geo_expression, ensure_ascii=False) for r in records
    ]
    columns["acteurs"] = [
        json.dumps([{"nom": a.nom, "siren": a.siren, "roles": list(a.roles)} for a in r.acteurs], ensure_ascii=False)
        if r.acteurs
        else None
        for r in records
    ]
    columns["raw"] = [json.dumps(r.raw, ensure_ascii=False, default=str) for r in records]
    schema = {
        name: pl.Utf8
        for name in (
            "source",
            "native_id",
            "digest",
            *text,
            "geo_inclusions",
            "geo_exclusions",
            "geo_expression",
            "acteurs",
            "raw",
        )
    }
    schema.update({name: pl.List(pl.Utf8) for name in lists})
    return pl.DataFrame(columns, schema=schema)


def _varied_records() -> list[AidRecord]:
    landes = GeoMention(None, nom="Landes, Nouvelle-Aquitaine, Occitanie")
    return [
        AidRecord("s", "a1", "Aide minimale"),  # every optional field None, every list empty, raw None
        AidRecord(
            "s",
            "é-2",
            "Rénovation « énergétique » – 100 % 😀",
            description='<p>d&rsquo;un\n"guillemet" \\ \t</p>',
            promesse="",
            eligibilite="Ελληνικά 中文",
            url_source="https: //exemple.fr/é",
            url_demarche=None,
            porteurs=["ADEME", "Région Bretagne"],
            financeurs=["État"],
            acteurs=[Acteur("ADEME", "385290309", ("instructeur", "diffuseur")), Acteur("Région Bretagne")],
            niveau="région",
            geo_inclusions=[
                GeoMention("commune", code="75056"),
                landes,
                GeoMention("epci", code="200054781", nom="Métropole du Grand Paris"),
            ],
            geo_exclusions=[GeoMention("commune", code="75056")],
            geo_expression={
                "toutes": [{"lieu": {"niveau": "region", "code": "24", "nom": None}}, {"autre": "âge ≥ 16"}]
            },
            date_ouverture="2024-01-01",
            date_cloture="31/12/2025",
            date_mise_a_jour="2024-05-01T00:00:00Z",
            montants=["jusqu'à 8 500 €", ""],
            taux=["50 %"],
            cibles=["Communes", "Associations"],
            types_aides=["Subvention"],
            thematiques=["Eau", "Énergie", "Eau"],
            programmes_parents=["France 2030"],
            recurrence="permanente",
            raw={
                "id": 2,
                "titre": "Rénovation 😀",
                "nested": {"liste": [1, 2.5, None, True, {"k": "ü"}], "vide": {}},
                "quand": date(2024, 1, 2),
                "ensemble": ("a", "b"),
                "controle": "\x00\x1f\u2028",
            },
        ),
        AidRecord(
            "s",
            3,
            "Identifiant entier",
            porteurs=("tuple",),
            geo_inclusions=[landes, landes],  # type: ignore[arg-type]
            raw=["une", "liste", ["imbriquée"]],
        ),
        AidRecord("s", "a4", "Brut texte", thematiques=[""], raw="juste du texte « brut »"),
        AidRecord("s", "a5", "Brut nombre", description="   ", raw=3.25),
    ]


@pytest.mark.parametrize("count", [0, 1, 5, 2000])
def test_records_frame_is_the_plain_construction(count, monkeypatch):
    records = (_varied_records() * 400)[:count]
    monkeypatch.setattr(ingestion, "_records_frame_plain", None)  # the Arrow path itself, no fallback
    frame = records_frame("ville-test", "sha256:abc", ParseResult(records=records))
    reference = _reference_frame("ville-test", "sha256:abc", records)
    assert frame.schema == reference.schema
    assert frame.equals(reference, null_equal=True)
    assert frame.to_dicts() == reference.to_dicts()


def test_records_frame_with_a_list_field_set_to_none_fails_as_before():
    record = AidRecord("s", "a1", "Aide")
    record.porteurs = None  # type: ignore[assignment]
    with pytest.raises(TypeError):
        _reference_frame("s", "d", [record])
    with pytest.raises(TypeError):
        records_frame("s", "d", ParseResult(records=[record]))
