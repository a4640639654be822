"""The organisations referential (`aides orgs resolve`), financers as geography, and porteurs
published with their SIREN and roles: on the real COG and the real Mission Transition Écologique
export."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from collect_test_helpers import context
from paths import FIXTURES
from typer.testing import CliRunner
from warehouse_test_helpers import warehouse_with_referential

from aides_cli.main import app
from sources.base import SourceSpec
from sources.fetch.transport import ReplayTransport
from sources.ingest import IngestStatus, ingest
from warehouse.db import connect_reader, connect_writer
from warehouse.ingestion import store_outcome
from warehouse.normalise.catalogue import build_catalogue
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.release import publish_release
from warehouse.quality.report import build_quality_report
from warehouse.settings import WarehousePaths

pytestmark = pytest.mark.registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "real-sources"
MTE_EXPORT = SHARED / "mission-transition-ecologique" / "data_gouv_export.csv"
TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 6, tzinfo=ZoneInfo("UTC"))


@pytest.fixture(scope="module")
def referential(referential_package, tmp_path_factory) -> WarehousePaths:
    return warehouse_with_referential(tmp_path_factory.mktemp("orgs"), referential_package)


def _resolve(referential: WarehousePaths, monkeypatch: pytest.MonkeyPatch, *names: str) -> list[dict]:
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(referential.root))
    outcome = CliRunner().invoke(app, ["orgs", "resolve", "--json", *names])
    assert outcome.exit_code == 0, outcome.output
    return json.loads(outcome.stdout)


# Point 3's examples: (name as publishers write it, expected SIREN or None, expected territory).
EXAMPLES = [
    ("ADEME", "385290309", ["PAYS-99100"]),
    ("AGENCE DE L ENVIRONNEMENT ET DE LA MAITRISE DE L ENERGIE (ADEME)", "385290309", ["PAYS-99100"]),
    ("Anah", "180067027", ["PAYS-99100"]),
    ("Banque des Territoires", "180020026", ["PAYS-99100"]),
    ("ANCT", "130026032", ["PAYS-99100"]),
    ("Cerema", "130018310", ["PAYS-99100"]),
    ("Bpifrance", "320252489", ["PAYS-99100"]),
    ("Commission européenne", None, ["PAYS-99100"]),
    ("DDT du Tarn", None, ["DEP-81"]),
    ("DDT du Tarn-et-Garonne", None, ["DEP-82"]),
    ("DDTM du Finistère", None, ["DEP-29"]),
    ("Direction départementale des territoires de la Drôme", None, ["DEP-26"]),
    ("CAUE du Gers", None, ["DEP-32"]),
    ("ATD de l'Aveyron", None, ["DEP-12"]),
    ("ADAC du Tarn", None, ["DEP-81"]),
    ("ID77", None, ["DEP-77"]),
    ("SDEC Énergie", None, ["DEP-14"]),
    ("SDESM", None, ["DEP-77"]),
    ("Établissement public foncier de Normandie", None, ["REG-28"]),
    ("Région Sud", "231300021", ["REG-93"]),
    ("Département de la Gironde", "223300013", ["DEP-33"]),
    ("Angers Loire Métropole", "244900015", ["EPCI-244900015"]),  # the COG's « CU Angers Loire Métropole »
    ("Ville d'Angers", "214900078", ["COM-49007"]),
]


def test_the_examples_resolve_with_siren_and_territory(referential, monkeypatch) -> None:
    answers = _resolve(referential, monkeypatch, *(name for name, _, _ in EXAMPLES))
    for (name, siren, codes), answer in zip(EXAMPLES, answers, strict=True):
        assert answer["query"] == name
        assert answer["status"] == "resolved", answer
        (organisation,) = answer["organisations"]
        assert organisation["siren"] == siren, answer
        assert answer["codes"] == codes, answer


def test_a_list_resolves_part_by_part_and_an_unknown_name_says_so(referential, monkeypatch) -> None:
    gers, partial, unknown, water = _resolve(
        referential,
        monkeypatch,
        "Conseil départemental du Gers;CAUE du Gers",
        "ADEME / Syndicat mixte inconnu",
        "Syndicat mixte inconnu",
        "Agence de l'eau Rhin-Meuse",
    )
    assert gers["status"] == "resolved" and gers["codes"] == ["DEP-32"]
    assert [part["texte"] for part in gers["parts"]] == ["Conseil départemental du Gers", "CAUE du Gers"]
    assert partial["status"] == "partial" and partial["codes"] == ["PAYS-99100"]
    assert "Syndicat mixte inconnu" in partial["reason"]
    assert unknown["status"] == "unresolved" and unknown["organisations"] == []
    assert water["organisations"][0]["siren"] == "185703014"
    assert {"DEP-54", "DEP-57", "DEP-67", "DEP-68", "DEP-88"} <= set(water["codes"])  # its basin


def _run(paths: WarehousePaths, spec: SourceSpec, transport: ReplayTransport, tmp_path: Path) -> Path:
    """Ingest one source, build the catalogue and a release; the release's folder."""
    outcome = ingest(spec, context(tmp_path, transport), None)
    assert outcome.status == IngestStatus.PARSED, outcome.error
    with connect_writer(paths) as conn:
        store_outcome(conn, outcome, "test")
        build_catalogue(conn, [spec], TODAY)
        build_quality_report(conn)
        release = publish_release(conn, paths, GeoResolver.from_warehouse(conn), now=NOW)
    assert release.path is not None
    return release.path


MTE_URL = "https://producteur.example/data_gouv_export.csv"


def _copy(referential: WarehousePaths, tmp_path: Path) -> WarehousePaths:
    """A warehouse of its own, holding the referential."""
    shutil.copytree(referential.root, tmp_path / "warehouse")
    return WarehousePaths(tmp_path / "warehouse")


def _spec(name: str, adapter: str, level: str, config: dict) -> SourceSpec:
    return SourceSpec(name, adapter, level, "Éditeur", "etalab-2.0", "https://x.example/", "http", "0 4 * * *", config)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_porteurs_keep_their_siren_and_roles_from_the_real_mte_export(referential, tmp_path) -> None:
    paths = _copy(referential, tmp_path)
    spec = _spec("mte-export", "dispositif_aide_csv", "national", {"url": MTE_URL})
    release = _run(paths, spec, ReplayTransport.from_files({MTE_URL: MTE_EXPORT}), tmp_path)
    stated = {row["id"]: json.loads(row["porteurs"]) for row in _csv(MTE_EXPORT)}
    with connect_reader(paths) as conn:
        native = dict(conn.execute("SELECT aid_id::VARCHAR, native_id FROM aides_provenance").fetchall())
    for name in ("aides.csv", "dispositif-aide.csv"):
        published = {native[row["id"]]: json.loads(row["porteurs"]) for row in _csv(release / name)}
        assert len(published) > 150
        for titre, actors in published.items():
            source = {a["nom"]: a for a in stated[titre]}
            assert [a["nom"] for a in actors] == list(source), titre  # every actor, in the source's order
            for actor in actors:
                assert actor["roles"] == source[actor["nom"]]["roles"], titre  # roles as stated
                if source[actor["nom"]]["siren"]:
                    assert actor["siren"] == source[actor["nom"]]["siren"], titre  # SIREN as stated
        # a SIREN the export leaves empty comes from the referential when it knows the name
        everyone = [a for actors in published.values() for a in actors]
        assert {a["siren"] for a in everyone if a["nom"] == "BPIFRANCE"} == {"483790069"}
        assert any(a["roles"] == ["instructeur", "diffuseur"] for a in everyone)
    with connect_reader(paths) as conn:
        in_warehouse = conn.execute(
            'SELECT count(*) FROM aides WHERE acteurs LIKE \'%"siren":"385290309"%\''
        ).fetchone()
    assert in_warehouse[0] >= 77  # ADEME's aids, each with the ADEME's SIREN


def test_an_aggregator_without_geography_gets_the_territory_of_its_financers(referential, tmp_path) -> None:
    paths = _copy(referential, tmp_path)
    url = "https://aides.agregateur.example/export/aides.csv"
    config = {
        "url": url,
        "split": ";",
        "geo_from_financeurs": True,
        "fields": {
            "native_id": "Lien",
            "titre": "Nom",
            "url_source": "Lien",
            "financeurs": "Financeurs",
            "cibles": "Bénéficiaire",
            "types_aides": "Types d'aides",
            "description": "Descriptif",
            "date_cloture": "Date Clôture",
        },
        "dates": {"date_cloture": "%d/%m/%Y"},
    }
    spec = _spec("agregateur-test", "csv", "multi", config)
    _run(paths, spec, ReplayTransport.from_folder(FIXTURES / "agregateur-csv"), tmp_path)
    with connect_reader(paths) as conn:
        geo = dict(
            conn.execute(
                "SELECT titre, list_sort(eligibilite_geographique)::VARCHAR FROM aides WHERE geo_statut = 'resolved'"
            ).fetchall()
        )
        acteurs = dict(conn.execute("SELECT titre, acteurs FROM aides").fetchall())
        derived = conn.execute(
            "SELECT count(*) FROM aides WHERE list_contains(signalements, "
            "'géographie déduite du financeur : la source n''indique pas de territoire')"
        ).fetchone()
        unknown = conn.execute("SELECT nom, statut, nb_aides FROM organisations_non_reconnues").fetchall()
        report = conn.execute(
            "SELECT organisations_non_reconnues_source, organisations_non_reconnues_valeurs_source "
            "FROM rapport_qualite WHERE source = 'agregateur-test' LIMIT 1"
        ).fetchone()
    assert geo["Fonds vert - Renaturation des villes"] == "[DEP-81]"  # « DDT du Tarn »
    assert geo["Études de sols - DDT du Tarn-et-Garonne"] == "[DEP-82]"
    assert geo["Diagnostic énergétique des bâtiments communaux"] == "[DEP-32]"
    assert "Aide aux bornes de recharge" not in geo  # its financer is unknown: no geography is made up
    assert derived == (5,)  # flagged as derived, for the collectivités to check
    assert json.loads(acteurs["Plan vélo - aménagements cyclables"]) == [
        {"nom": "ADEME", "siren": "385290309", "roles": ["financeur"]}
    ]
    assert unknown == [("Syndicat inconnu de nulle part", "unresolved", 1)]
    assert report == (1, ["Syndicat inconnu de nulle part (1)"])


def test_a_source_declared_as_listing_withdrawn_aids_publishes_them_closed(referential, tmp_path) -> None:
    paths = _copy(referential, tmp_path)
    spec = _spec(
        "mte-historique",
        "dispositif_aide_csv",
        "national",
        {"url": MTE_URL, "retrait": "dispositif arrêté (historique)"},
    )
    _run(paths, spec, ReplayTransport.from_files({MTE_URL: MTE_EXPORT}), tmp_path)
    with connect_reader(paths) as conn:
        statuts = dict(conn.execute("SELECT statut, count(*) FROM aides GROUP BY 1").fetchall())
        flags = conn.execute(
            "SELECT count(*) FROM aides WHERE list_contains(signalements, 'retirée : dispositif arrêté (historique)')"
        ).fetchone()
    assert set(statuts) == {"clôturée"}
    assert flags[0] == sum(statuts.values())
