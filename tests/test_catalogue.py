"""The normalised catalogue on the real sources: geography, dates, texts, schema, stable ids.

Built once per module from the real npm packages (registry) and the real payloads of
../shared replayed through the adapters, exactly as the pipeline does.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from paths import AT_API, MTE, OFFICIAL_SCHEMA

from schemas.validate import validate_relation
from sources.base import CollectContext
from sources.fetch import FetchPolicy, ReplayTransport, SnapshotStore
from sources.ingest import ingest
from sources.registry import get_spec, load_specs
from warehouse.db import connect_writer
from warehouse.ingestion import previous_digest, store_outcome
from warehouse.normalise.catalogue import build_catalogue
from warehouse.publication.projection import DESCRIPTION_MAX, published_frame
from warehouse.referential import load_referential
from warehouse.settings import WarehousePaths

TODAY = date(2026, 11, 29)
pytestmark = pytest.mark.registry


def _replay_files(tmp: Path) -> dict[str, Path]:
    files = {
        get_spec("mission-transition-ecologique-csv").config["url"]: MTE / "data_gouv_export.csv",
        get_spec("departement-manche").config["url"]: AT_API / "departement_manche_data.json",
        get_spec("departement-drome").config["url"]: AT_API / "departement_drome_data.json",
        get_spec("region-ile-de-france").config["url"]: AT_API / "ile_de_france_data.json",
    }
    programmes = get_spec("mission-transition-ecologique-programmes").config["url"]
    raw_base = "https://raw.githubusercontent.com/betagouv/mission-transition-ecologique/main/libs/data/programs/"
    listing = [
        {"name": p.name, "type": "file", "download_url": raw_base + p.name}
        for p in sorted((MTE / "programs").glob("*.yaml"))
    ]
    (tmp / "listing.json").write_text(json.dumps(listing), encoding="utf-8")
    files[programmes] = tmp / "listing.json"
    files.update({raw_base + p.name: p for p in (MTE / "programs").glob("*.yaml")})
    return files


SOURCES = (
    "aides-velo",
    "mesaidesreno",
    "mission-transition-ecologique-csv",
    "mission-transition-ecologique-programmes",
    "departement-manche",
    "departement-drome",
    "region-ile-de-france",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory, referential_package):
    tmp = tmp_path_factory.mktemp("catalogue")
    paths = WarehousePaths(tmp / "warehouse")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("MANCHE_API_USERNAME", "MANCHE_API_PASSWORD"):
            mp.setenv(name, "test")
        ctx = CollectContext(
            SnapshotStore(tmp / "snap"),
            tmp / "npm",
            FetchPolicy(user_agent="t", min_interval_s=0),
            transport=ReplayTransport.from_files(_replay_files(tmp)),
        )
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
            """SELECT count(*) FROM source_records r,
                      unnest(from_json(r.geo_inclusions, '[{"niveau":"VARCHAR","code":"VARCHAR","nom":"VARCHAR"}]')) AS t(m)
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
        geo = dict(
            conn.execute(
                """SELECT p.native_id, a.eligibilite_geographique FROM aides_provenance p JOIN aides a ON a.id = p.aid_id
               WHERE p.source = 'aides-velo' AND p.native_id IN ('aides . paris', 'aides . ile de france', 'aides . monaco')"""
            ).fetchall()
        )
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


def test_published_titles_carry_no_markdown(built):
    paths, *_ = built
    with connect_writer(paths) as conn:
        titles = published_frame(conn).get_column("titre")
    marked = titles.filter(titles.str.contains(r"\*\*|__|`|\[[^\]]+\]\("))
    assert marked.to_list() == []
    assert "MaPrimeRénov' accompagnée" in titles.to_list()  # was « MaPrimeRénov' **accompagnée** » in the model


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
        conn.execute("CREATE TEMP TABLE longue AS SELECT * FROM aides WHERE publiable LIMIT 1")
        conn.execute("UPDATE longue SET description = repeat('mot ', 2000)")  # 8000 characters
        long_id = conn.execute("SELECT id::VARCHAR FROM longue").fetchone()[0]
        conn.execute(
            "UPDATE aides SET description = (SELECT description FROM longue) WHERE id = (SELECT id FROM longue)"
        )
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


# -- releases and lookup (issue 5) on the same real catalogue ---------------------------------


@pytest.fixture(scope="module")
def released(built, tmp_path_factory):
    """A copy of the built warehouse, published once, then republished after one source change."""
    import shutil

    from warehouse.normalise.geography import GeoResolver
    from warehouse.publication.release import publish_release

    source_paths, *_ = built
    paths = WarehousePaths(tmp_path_factory.mktemp("released") / "warehouse")
    shutil.copytree(source_paths.root, paths.root)
    with connect_writer(paths) as conn:
        first = publish_release(conn, paths, GeoResolver.from_warehouse(conn))
        unchanged = publish_release(conn, paths, GeoResolver.from_warehouse(conn))
        # One source changes one aid's title between two runs.
        native_id, old_title = conn.execute(
            "SELECT native_id, titre FROM source_records WHERE source = 'aides-velo' AND native_id = 'aides . paris'"
        ).fetchone()
        conn.execute(
            "UPDATE source_records SET titre = 'Ville de Paris — aide vélo' WHERE source = 'aides-velo' "
            "AND native_id = 'aides . paris'"
        )
        build_catalogue(conn, load_specs(), TODAY)
        changed_id = conn.execute(
            "SELECT aid_id::VARCHAR FROM aides_provenance WHERE record_key = 'aides-velo:aides . paris'"
        ).fetchone()[0]
        second = publish_release(conn, paths, GeoResolver.from_warehouse(conn))
    return paths, first, unchanged, second, changed_id


def test_release_is_a_valid_frictionless_package(released):
    import subprocess
    import sys

    paths, first, *_ = released
    assert first.published and first.counts["aides"] > 300
    package = paths.exports_dir / "latest" / "datapackage.json"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "frictionless"), "validate", str(package)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    names = {r["name"] for r in json.loads(package.read_text())["resources"]}
    assert {"aides", "dispositif-aide", "aides-communes"} <= names


def test_dispositif_aide_resource_is_valid_against_the_official_schema(released):
    from frictionless import Resource, Schema

    paths, *_ = released
    official = Schema.from_descriptor(json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8")))
    latest = paths.exports_dir / "latest"
    report = Resource(path="dispositif-aide.csv", basepath=str(latest.resolve()), schema=official).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


def test_no_change_publishes_no_release_and_one_change_is_listed_exactly(released):
    import csv

    paths, first, unchanged, second, changed_id = released
    assert not unchanged.published
    assert second.published and second.version != first.version
    with open(second.path / "changements.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], r["changement"], r["champs"]) for r in rows] == [(changed_id, "modifiée", "titre")]
    assert changed_id in (second.path / "CHANGELOG.md").read_text(encoding="utf-8")
    assert (paths.exports_dir / "latest").resolve() == second.path.resolve()


def test_lookup_paris_gives_paris_and_ile_de_france_aids_and_no_other_region(released):
    from warehouse.publication.lookup import CatalogueIndex, lookup

    paths, *_ = released
    index = CatalogueIndex(paths.exports_dir / "latest")
    with connect_writer(paths) as conn:
        answer = lookup(index, "75056", conn)
        arrondissement = lookup(index, "75108", conn)
    titles = {a["titre"] for a in answer.aides}
    # a title the source changed stays as stated; one that is its publisher's name is built from
    # the aid's conditions (warehouse/normalise/conditions.py)
    assert "Ville de Paris — aide vélo" in titles
    # its amounts vary by bike (1200 € adapted, 600 € cargo, 200 € kit): that is what it funds
    assert (
        "Aide à l'achat d'un vélo adapté ou d'un vélo cargo à assistance électrique ou d'un kit d'électrification"
        " — Île-de-France Mobilités"
    ) in titles
    for aide in answer.aides:
        codes = aide["eligibilite_geographique"].split("|")
        # every aid answered covers Paris through one of its codes: none is restricted to elsewhere
        assert any(c in {"COM-75056", "EPCI-200054781", "DEP-75", "REG-11", "PAYS-99100"} for c in codes), aide
    assert {a["id"] for a in arrondissement.aides} == {a["id"] for a in answer.aides}


def test_a_collectivite_correction_and_withdrawal_win_and_keep_the_ids(built, tmp_path):
    import shutil

    source_paths, *_ = built
    paths = WarehousePaths(tmp_path / "warehouse")
    shutil.copytree(source_paths.root, paths.root)
    with connect_writer(paths) as conn:
        paris, lyon = (
            conn.execute("SELECT aid_id::VARCHAR FROM aides_provenance WHERE record_key = ?", [key]).fetchone()[0]
            for key in ("aides-velo:aides . paris", "aides-velo:aides . lyon")
        )
        conn.execute(
            """INSERT INTO source_records (source, native_id, digest, titre, geo_inclusions, geo_exclusions, cibles,
                                            types_aides, thematiques, porteurs, financeurs, montants, taux, programmes_parents, raw)
               VALUES ('soumissions-collectivites', ?, 'x', 'Aide à l''achat d''un vélo — Ville de Paris',
                       '[{"niveau": "commune", "code": "75056", "nom": null}]', '[]', ['particuliers'], ['financement'],
                       ['transport'], ['Ville de Paris'], [], ['400 €'], [], [], '{"action": "correction"}'),
                      ('soumissions-collectivites', ?, 'x', 'Aide retirée',
                       '[{"niveau": "commune", "code": "69123", "nom": null}]', '[]', [], [], [], [], [], [], [], [],
                       '{"action": "retrait"}')""",
            [paris, lyon],
        )
        build_catalogue(conn, load_specs(), TODAY)
        corrected = conn.execute("SELECT titre, sources[1], statut FROM aides WHERE id = ?", [paris]).fetchone()
        withdrawn = conn.execute("SELECT statut, signalements FROM aides WHERE id = ?", [lyon]).fetchone()
    assert corrected == ("Aide à l'achat d'un vélo — Ville de Paris", "soumissions-collectivites", "ouverte")
    assert withdrawn[0] == "clôturée" and any("retirée par la collectivité" in s for s in withdrawn[1])
