"""The coverage of the catalogue (couverture.csv): every région, département, EPCI and commune of more
than 10,000 inhabitants, its own aids read from their actors, its agents' reviews, in the release.

On the real COG (the pinned referential package, hence the ``registry`` mark) with a handful of
aids whose actors name collectivités by SIREN, by name only, in a role that does not count, or
through a SIREN that is not a collectivité's. The builder is shared with ``test_coverage_page.py``
and ``test_coverage_browser.py``.
"""

from __future__ import annotations

import ast
import csv
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from test_webapp import _aid
from warehouse_test_helpers import warehouse_with_referential

from schemas import load_coverage_schema
from sources.npm import NpmPackage
from warehouse.db import connect_reader, connect_writer
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.coverage import COMMUNE_THRESHOLD, coverage_columns, coverage_frame, coverage_schema
from warehouse.publication.release import publish_release, validate_package
from warehouse.settings import WarehousePaths
from warehouse.submissions import reviews
from warehouse.submissions.reviews import ReviewRefused, record_review
from warehouse.submissions.tokens import Identity, create_token

pytestmark = pytest.mark.registry

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SIREN_ANGERS, SIREN_ALM, SIREN_CHOLET, SIREN_NANTES = "214900078", "244900015", "214900995", "214401093"
SIREN_REGION_PDL = "234400034"  # warehouse/organisations/collectivites.csv


def aid_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://exemple.test/couverture/{name}"))


def _actors(*actors: tuple[str, str | None, list[str]]) -> str:
    return json.dumps(
        [{"nom": nom, "siren": siren, "roles": roles} for nom, siren, roles in actors], ensure_ascii=False
    )


def _own(name: str, titre: str, geo: list[str], acteurs: str | None, **extra) -> dict:
    row = _aid(aid_id(name), titre, geo, **extra)
    row["acteurs"] = acteurs
    return row


AIDES = [
    _own(
        "angers-velo",
        "Aide vélo d'Angers",
        ["COM-49007"],
        _actors(("Ville d'Angers", SIREN_ANGERS, ["porteur"])),
        sources=["ville-angers", "aides-velo"],
    ),
    _own(
        "angers-ancienne",
        "Ancienne aide d'Angers",
        ["COM-49007"],
        _actors(("Ville d'Angers", SIREN_ANGERS, ["porteur", "financeur"])),
        statut="clôturée",
        date_cloture="2025-06-30",
        sources=["ville-angers"],
        date_collecte="2026-11-28 05:00:00+00",
    ),
    _own(
        "alm-compost",
        "Compostage",
        [f"EPCI-{SIREN_ALM}"],
        _actors(("Angers Loire Métropole", SIREN_ALM, ["financeur"])),
        echelle="epci",
        sources=["aides-velo"],
    ),
    _own(  # no SIREN: read by its name through the organisations referential
        "dep49",
        "Chèque énergie",
        ["DEP-49"],
        _actors(("Département de Maine-et-Loire", None, ["porteur"])),
        echelle="departement",
        sources=["departement-49"],
    ),
    _own(
        "region",
        "Rénovation régionale",
        ["REG-52"],
        _actors(("Conseil régional", SIREN_REGION_PDL, [])),
        echelle="region",
        sources=["region-pays-de-la-loire"],
    ),
    _own(  # actors computed before migration 0017: the porteurs' names
        "caen",
        "Aide de Caen",
        ["COM-14118"],
        None,
        porteurs=["Ville de Caen"],
        sources=["aides-velo"],
    ),
    _own(
        "ademe",
        "Fonds chaleur",
        ["PAYS-99100"],
        _actors(("ADEME", "385290309", ["porteur"]), ("Ville d'Angers", SIREN_ANGERS, ["diffuseur"])),
        echelle="national",
        sources=["ademe-agir"],
    ),
    _own(  # Cholet only instructs it
        "cholet",
        "Aide instruite par Cholet",
        ["COM-49099"],
        _actors(("Ville de Cholet", SIREN_CHOLET, ["instructeur"])),
        sources=["aides-velo"],
    ),
    _own(  # a stated SIREN that is no collectivité's decides over the name
        "lyon",
        "Aide d'une SPL",
        ["COM-69123"],
        _actors(("Ville de Lyon", "999999999", ["porteur"])),
        sources=["aides-velo"],
    ),
    _own(  # not published
        "nantes",
        "Aide non publiée",
        ["COM-44109"],
        _actors(("Ville de Nantes", SIREN_NANTES, ["porteur"])),
        sources=["aides-velo"],
        publiable=False,
        motifs_non_publiable=["description manquante"],
    ),
    _own(  # a commune under the threshold has no row
        "abergement",
        "Aide de L'Abergement-Clémenciat",
        ["COM-01001"],
        _actors(("L'Abergement-Clémenciat", "210100012", ["porteur"])),
        sources=["aides-velo"],
    ),
]


def insert_aids(conn) -> None:
    columns = list(AIDES[0])
    conn.executemany(
        f"INSERT INTO aides ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [[row[c] for c in columns] for row in AIDES],
    )
    conn.executemany(
        "INSERT INTO aides_provenance VALUES (?, ?, ?, ?, true, ?, NULL)",
        [(row["id"], f"{row['sources'][0]}:{row['id']}", row["sources"][0], row["id"], row["titre"]) for row in AIDES],
    )


def build_coverage_warehouse(root: Path, package: NpmPackage, publish: bool = True) -> dict:
    """The real COG, the aids above, a submission of the Département, a release, agents' tokens."""
    paths = warehouse_with_referential(root, package)
    with connect_writer(paths) as conn:
        insert_aids(conn)
        conn.execute(
            "INSERT INTO soumissions VALUES ('s1', 'DEP-49', 'agent@maine-et-loire.test', "
            "'2026-12-01 08:00:00+00', 'x', 'aides.csv', 1, 'submissions/s1.csv')"
        )
        if publish:
            publish_release(conn, paths, GeoResolver.from_warehouse(conn), now=NOW)
        tokens = {
            "angers": create_token(conn, SIREN_ANGERS, "agent@angers.test"),
            "nantes": create_token(conn, SIREN_NANTES, "agent@nantes.test"),
        }
    return {"paths": paths, "tokens": tokens}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, referential_package) -> dict:
    return build_coverage_warehouse(tmp_path_factory.mktemp("couverture") / "warehouse", referential_package)


@pytest.fixture(scope="module")
def rows(built) -> dict[str, dict]:
    with connect_reader(built["paths"]) as conn:
        frame = coverage_frame(conn, GeoResolver.from_warehouse(conn).organisations)
    return {row["code"]: row for row in frame.iter_rows(named=True)}


def test_every_region_departement_and_epci_and_every_commune_above_10000_has_one_row(built, rows):
    with connect_reader(built["paths"]) as conn:
        expected = {
            "region": {f"REG-{c}" for (c,) in conn.execute("SELECT code FROM ref_regions").fetchall()},
            "departement": {f"DEP-{c}" for (c,) in conn.execute("SELECT code FROM ref_departements").fetchall()},
            "epci": {f"EPCI-{c}" for (c,) in conn.execute("SELECT siren FROM ref_epci").fetchall()},
            "commune": {
                f"COM-{c}" for (c,) in conn.execute("SELECT code FROM ref_communes WHERE population > 10000").fetchall()
            },
        }
    for niveau, codes in expected.items():
        assert {code for code, row in rows.items() if row["niveau"] == niveau} == codes, niveau
    assert len(rows) == sum(len(codes) for codes in expected.values())
    assert len(expected["departement"]) >= 101 and len(expected["region"]) >= 18 and len(expected["epci"]) > 1000
    communes = [row for row in rows.values() if row["niveau"] == "commune"]
    assert min(row["population"] for row in communes) > COMMUNE_THRESHOLD
    assert "COM-01001" not in rows  # 860 inhabitants, though it has an aid of its own
    angers = rows["COM-49007"]
    assert (angers["nom"], angers["departement"], angers["region"], angers["population"]) == (
        "Angers",
        "49",
        "52",
        159022,
    )
    assert (rows["DEP-49"]["departement"], rows["DEP-49"]["region"]) == ("49", "52")
    assert rows["REG-52"]["departement"] is None and rows["REG-52"]["population"] > 3_000_000
    assert rows[f"EPCI-{SIREN_ALM}"]["departement"] == "49"


def test_own_aids_are_read_from_the_actors(rows):
    angers = rows["COM-49007"]
    assert angers["a_des_aides_propres"] and angers["nb_aides_propres"] == 2
    assert angers["nb_aides_propres_ouvertes"] == 1  # the other one is closed
    assert angers["sources"] == "aides-velo|ville-angers"
    assert angers["derniere_collecte"] == "2026-11-29T05:00:00Z"
    assert rows[f"EPCI-{SIREN_ALM}"]["nb_aides_propres"] == 1  # by its SIREN, as financer
    assert rows["DEP-49"]["nb_aides_propres"] == 1  # by its name, no SIREN stated
    assert rows["REG-52"]["nb_aides_propres"] == 1  # the région's SIREN, no role stated
    assert rows["COM-14118"]["nb_aides_propres"] == 1  # porteurs' names, before actors existed
    for code in ("COM-49099", "COM-69123", "COM-44109", "COM-75056", "DEP-01"):
        row = rows[code]
        assert not row["a_des_aides_propres"] and row["nb_aides_propres"] == 0, code
        assert row["sources"] is None and row["derniere_collecte"] is None, code


def test_reviews_are_the_latest_submission_or_statement(built, rows):
    assert rows["DEP-49"]["relue"] and rows["DEP-49"]["nature_relecture"] == "soumission"
    assert rows["DEP-49"]["date_relecture"] == "2026-12-01T08:00:00Z"
    assert not rows["COM-49007"]["relue"] and rows["COM-49007"]["date_relecture"] is None
    root = built["paths"].root.parent / "relecture"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    paths = WarehousePaths(root)
    with connect_writer(paths) as conn:
        record_review(conn, "COM-49007", Identity(SIREN_ANGERS, "agent@angers.test"), "abc123", "rien à signaler")
        record_review(conn, "DEP-49", Identity("DEP-49", "agent@maine-et-loire.test"))
        frame = coverage_frame(conn)
    again = {row["code"]: row for row in frame.iter_rows(named=True)}
    assert again["COM-49007"]["relue"] and again["COM-49007"]["nature_relecture"] == "rien_a_signaler"
    assert again["DEP-49"]["nature_relecture"] == "rien_a_signaler"  # later than the submission
    assert again["DEP-49"]["date_relecture"] > "2026-12-01T08:00:00Z"


def test_the_columns_are_the_ones_its_schema_declares(rows):
    schema = load_coverage_schema()
    assert coverage_columns() == [field["name"] for field in schema["fields"]]
    assert list(next(iter(rows.values()))) == coverage_columns()
    assert coverage_schema()["fields"] == schema["fields"] and coverage_schema()["primaryKey"] == "code"


def test_the_release_has_couverture_csv_valid_against_its_schema(built, rows):
    release = built["paths"].exports_dir / "latest"
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    resource = next(r for r in package["resources"] if r["path"] == "couverture.csv")
    assert resource["schema"] == coverage_schema()
    assert resource["rows"] == len(rows)
    report = validate_package(release)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "message"])[:5]
    with (release / "couverture.csv").open(encoding="utf-8", newline="") as handle:
        published = {row["code"]: row for row in csv.DictReader(handle)}
    assert published["COM-49007"]["a_des_aides_propres"] == "true"
    assert published["COM-49007"]["nb_aides_propres"] == "2"
    assert published["DEP-01"]["a_des_aides_propres"] == "false" and published["DEP-01"]["sources"] == ""
    assert "couverture.csv" in (release / "README.md").read_text(encoding="utf-8")
    assert "| couverture |" in (release / "CHANGELOG.md").read_text(encoding="utf-8")


def test_a_review_alone_publishes_a_new_release_that_says_reviewed(built, tmp_path):
    root = tmp_path / "warehouse"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    paths = WarehousePaths(root)
    with connect_writer(paths) as conn:
        resolver = GeoResolver.from_warehouse(conn)
        assert not publish_release(conn, paths, resolver, now=NOW).published  # nothing changed
        record_review(conn, "COM-49007", Identity(SIREN_ANGERS, "agent@angers.test"))
        result = publish_release(conn, paths, resolver, now=NOW)
    assert result.published and result.changes == {"ajoutée": 0, "modifiée": 0, "supprimée": 0}
    published = pl.read_csv(result.path / "couverture.csv", infer_schema=False)
    angers = published.filter(pl.col("code") == "COM-49007").row(0, named=True)
    assert angers["relue"] == "true" and angers["nature_relecture"] == "rien_a_signaler"


def test_a_review_is_appended_never_replaced(built, tmp_path):
    root = tmp_path / "warehouse"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    paths = WarehousePaths(root)
    agent = Identity(SIREN_ANGERS, "agent@angers.test")
    with connect_writer(paths) as conn:
        first = record_review(conn, "COM-49007", agent, "jeton1", "première")
        second = record_review(conn, "COM-49007", agent, "jeton1", "seconde")
        stored = conn.execute("SELECT id, note, relu_le FROM relectures ORDER BY relu_le").fetchall()
        assert [r[:2] for r in stored] == [(first.id, "première"), (second.id, "seconde")]
        assert stored[0][2] == first.relu_le
        assert [r.note for r in reviews.reviews_of(conn, SIREN_ANGERS)] == ["seconde", "première"]
        with pytest.raises(ReviewRefused):
            record_review(conn, "COM-4900", agent)
        with pytest.raises(ReviewRefused):
            record_review(conn, "COM-49007", Identity("angers", "x@y.test"))
    # the writer only inserts: no UPDATE nor DELETE anywhere in its code
    tree = ast.parse(Path(reviews.__file__).read_text(encoding="utf-8"))
    statements = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "DELETE"))]
