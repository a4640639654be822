"""The normalised catalogue on the real sources: geography, dates, texts, schema, stable ids.

Built once per module from the real npm packages (registry) and the real payloads of
../shared replayed through the adapters, exactly as the pipeline does.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from schemas.validate import validate_relation
from sources.base import CollectContext, adapter_module
from sources.fetch import FetchPolicy, ReplayTransport, SnapshotStore
from sources.ingest import ingest
from sources.registry import get_spec, load_specs
from warehouse.catalogue import build_catalogue
from warehouse.db import connect_writer
from warehouse.ingestion import previous_digest, store_outcome
from warehouse.published import DESCRIPTION_MAX, published_frame
from warehouse.referential import load_referential
from warehouse.settings import WarehousePaths

SHARED = Path(__file__).resolve().parents[2] / "shared" / "real-sources"
API = SHARED / "aides-territoires" / "api-responses"
MTE = SHARED / "mission-transition-ecologique"
TODAY = date(2026, 11, 29)
pytestmark = pytest.mark.registry


def _replay_files(tmp: Path) -> dict[str, Path]:
    files = {
        get_spec("mission-transition-ecologique-csv").config["url"]: MTE / "data_gouv_export.csv",
        get_spec("departement-manche").config["url"]: API / "departement_manche_data.json",
        get_spec("departement-drome").config["url"]: API / "departement_drome_data.json",
        get_spec("region-ile-de-france").config["url"]: API / "ile_de_france_data.json",
    }
    programmes = get_spec("mission-transition-ecologique-programmes").config["url"]
    raw_base = "https://raw.githubusercontent.com/betagouv/mission-transition-ecologique/main/libs/data/programs/"
    listing = [{"name": p.name, "type": "file", "download_url": raw_base + p.name} for p in sorted((MTE / "programs").glob("*.yaml"))]
    (tmp / "listing.json").write_text(json.dumps(listing), encoding="utf-8")
    files[programmes] = tmp / "listing.json"
    files.update({raw_base + p.name: p for p in (MTE / "programs").glob("*.yaml")})
    return files


SOURCES = ("aides-velo", "mesaidesreno", "mission-transition-ecologique-csv", "mission-transition-ecologique-programmes",
           "departement-manche", "departement-drome", "region-ile-de-france")


@pytest.fixture(scope="module")
def built(tmp_path_factory, referential_package):
    tmp = tmp_path_factory.mktemp("catalogue")
    paths = WarehousePaths(tmp / "warehouse")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("MANCHE_API_USERNAME", "MANCHE_API_PASSWORD"):
            mp.setenv(name, "test")
        ctx = CollectContext(SnapshotStore(tmp / "snap"), tmp / "npm", FetchPolicy(user_agent="t", min_interval_s=0),
                             transport=ReplayTransport.from_files(_replay_files(tmp)))
        ctx_npm = CollectContext(SnapshotStore(tmp / "snap"), tmp / "npm", FetchPolicy(user_agent="t"))
        with connect_writer(paths) as conn:
            load_referential(conn, referential_package)
        for name in SOURCES:
            with connect_writer(paths) as conn:
                spec = get_spec(name)
                context = ctx_npm if spec.transport == "npm" else ctx
                store_outcome(conn, ingest(spec, context, previous_digest(conn, name)), "test")
        with connect_writer(paths) as conn:
            first = build_catalogue(conn, load_specs(), TODAY)
            ids_first = dict(conn.execute("SELECT record_key, aid_id::VARCHAR FROM aides_provenance").fetchall())
            second = build_catalogue(conn, load_specs(), TODAY)
            ids_second = dict(conn.execute("SELECT record_key, aid_id::VARCHAR FROM aides_provenance").fetchall())
    return paths, first, second, ids_first, ids_second


def test_every_npm_aid_has_resolved_geography(built):
    paths, *_ = built
    with connect_writer(paths) as conn:
        rows = conn.execute(
            """SELECT p.record_key, a.geo_statut, a.eligibilite_geographique FROM aides_provenance p
               JOIN aides a ON a.id = p.aid_id WHERE p.source IN ('aides-velo', 'mesaidesreno')"""
        ).fetchall()
        epci_named = conn.execute(
            """SELECT count(*) FROM source_records r, unnest(from_json(r.geo_inclusions, '[{"niveau":"VARCHAR","code":"VARCHAR","nom":"VARCHAR"}]')) AS t(m)
               WHERE r.source = 'aides-velo' AND m.niveau = 'epci' AND m.code IS NULL"""
        ).fetchone()[0]
        epci_resolved = conn.execute(
            """SELECT count(DISTINCT p.record_key) FROM aides_provenance p JOIN aides a ON a.id = p.aid_id
               WHERE p.source = 'aides-velo' AND len(list_filter(a.eligibilite_geographique, lambda c: c LIKE 'EPCI-%')) > 0"""
        ).fetchone()[0]
    assert len(rows) > 350
    unresolved = [key for key, status, _ in rows if status != "resolved"]
    assert unresolved == []
    assert epci_named > 200 and epci_resolved >= 180


def test_paris_and_ile_de_france_bike_aids_have_their_codes(built):
    paths, *_ = built
    with connect_writer(paths) as conn:
        geo = dict(conn.execute(
            """SELECT p.native_id, a.eligibilite_geographique FROM aides_provenance p JOIN aides a ON a.id = p.aid_id
               WHERE p.source = 'aides-velo' AND p.native_id IN ('aides . paris', 'aides . ile de france', 'aides . monaco')"""
        ).fetchall())
    assert geo["aides . paris"] == ["COM-75056"]
    assert geo["aides . ile de france"] == ["REG-11"]


def test_two_runs_in_a_row_give_the_same_ids(built):
    _, first, second, ids_first, ids_second = built
    assert ids_first == ids_second and len(ids_first) == first.records
    assert first.aides == second.aides


def test_published_catalogue_satisfies_the_schema(built):
    paths, first, *_ = built
    with connect_writer(paths) as conn:
        frame = published_frame(conn).with_row_index("ligne", offset=2)
        conn.register("published", frame)
        violations = validate_relation(conn, "published", "ligne")
    assert frame.height == first.publiables > 300
    assert violations == []


def test_mte_export_utc_dates_are_paris_dates(built):
    """Where only the CSV export dates an aid, `…T22:00:00.000Z` is the next day in Paris."""
    paths, *_ = built
    with connect_writer(paths) as conn:
        rows = conn.execute(
            """SELECT r.date_cloture, a.date_cloture FROM source_records r
               JOIN aides_provenance p ON p.record_key = r.source || ':' || r.native_id JOIN aides a ON a.id = p.aid_id
               WHERE r.source = 'mission-transition-ecologique-csv' AND r.date_cloture LIKE '%T22:00:00.000Z'
                 AND NOT EXISTS (SELECT 1 FROM aides_provenance q JOIN source_records y
                                 ON q.record_key = y.source || ':' || y.native_id
                                 WHERE q.aid_id = a.id AND y.source <> r.source AND y.date_cloture IS NOT NULL)"""
        ).fetchall()
    assert rows, "the export has Paris-midnight-as-UTC dates"
    for stated, normalised in rows:
        assert normalised == date.fromisoformat(stated[:10]) + timedelta(days=1), stated


def test_mte_long_description_is_kept_whole_and_cut_only_in_exports(built):
    paths, *_ = built
    with connect_writer(paths) as conn:
        stored = conn.execute(
            "SELECT length(description) FROM source_records WHERE source = 'mission-transition-ecologique-csv' "
            "AND titre = 'Prêt transition écologique Île-de-France'"
        ).fetchone()[0]
        conn.execute("BEGIN TRANSACTION")  # the change below is undone at the end of the test
        conn.execute("CREATE TEMP TABLE longue AS SELECT * FROM aides LIMIT 1")
        conn.execute("UPDATE longue SET description = repeat('mot ', 2000)")  # 8000 characters
        long_id = conn.execute("SELECT id::VARCHAR FROM longue").fetchone()[0]
        conn.execute("UPDATE aides SET description = (SELECT description FROM longue) WHERE id = (SELECT id FROM longue)")
        published = dict(published_frame(conn).select("id", "description").iter_rows())
        kept = conn.execute("SELECT length(description) FROM aides WHERE id = ?", [long_id]).fetchone()[0]
        conn.execute("ROLLBACK")
    assert stored == 5182  # row 149 of the export, whole in the warehouse
    assert kept == 8000
    assert all(len(text) <= DESCRIPTION_MAX for text in published.values() if text)
    assert published[long_id].endswith("…") and len(published[long_id]) <= DESCRIPTION_MAX


def test_mte_csv_and_its_yaml_programme_are_one_aid_with_both_sources(built):
    paths, *_ = built
    with connect_writer(paths) as conn:
        both = conn.execute(
            """SELECT count(*) FROM aides WHERE list_contains(sources, 'mission-transition-ecologique-csv')
               AND list_contains(sources, 'mission-transition-ecologique-programmes')"""
        ).fetchone()[0]
    assert both > 150, both  # 158 of 190 on the real data; the rest state different territories


def test_day_month_swaps_between_mte_sources_are_flagged(built):
    paths, *_ = built
    with connect_writer(paths) as conn:
        flagged = conn.execute(
            "SELECT count(*) FROM aides WHERE list_contains(signalements, 'dates d''ouverture contradictoires (jour et mois inversés)')"
        ).fetchone()[0]
    assert flagged >= 10


def test_aides_territoires_like_payloads_defects_are_cleaned(built):
    paths, *_ = built
    with connect_writer(paths) as conn:
        texts = conn.execute(
            """SELECT a.titre, a.description, a.url_source FROM aides a
               WHERE list_contains(a.sources, 'departement-manche') OR list_contains(a.sources, 'region-ile-de-france')
                  OR list_contains(a.sources, 'departement-drome')"""
        ).fetchall()
        problems = conn.execute("SELECT champ, valeur, probleme FROM normalisation_problemes").fetchall()
    assert texts
    for titre, description, url in texts:
        assert "&#" not in titre and "&amp;" not in titre and "<" not in titre
        assert description is None or "<p>" not in description
        assert url is None or url.startswith(("https://", "http://")) and " " not in url
    # nothing dropped silently: every problem has a field and a reason
    assert all(champ and probleme for champ, _, probleme in problems)
