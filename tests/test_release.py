"""Releases: files, official-schema export, commune index, change detection, atomic swap.

Hermetic: a tiny referential and a few aids are inserted by hand into a temporary
warehouse; only the official dispositif-aide schema is read from ../shared.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import frictionless
import polars as pl
import pytest
from paths import OFFICIAL_SCHEMA

from schemas import OFFICIAL_FIELDS, field_names
from warehouse.db import connect_writer
from warehouse.normalise.geography import GeoResolver
from warehouse.publication import release as release_module
from warehouse.publication import release_files as rf
from warehouse.publication.release import ReleaseError, list_releases, publish_release
from warehouse.settings import WarehousePaths

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # 07:00 in Paris
LATER = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)


def _id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://exemple.test/aides/{name}"))


NATIONAL, CORSE, EPCI, CLOSED, FORMULA, LONG, REGION, HIDDEN = (
    _id(n) for n in ("national", "corse", "epci", "cloturee", "formule", "longue", "region", "non-publiable")
)
SIREN_LYON = "200046977"

REGIONS = [
    ("84", "Auvergne-Rhône-Alpes", "69123", "metro"),
    ("94", "Corse", "2A004", "metro"),
    ("11", "Île-de-France", "75056", "metro"),
]
DEPARTEMENTS = [
    ("01", "Ain", "84", "01053", "metro"),
    ("69", "Rhône", "84", "69123", "metro"),
    ("2A", "Corse-du-Sud", "94", "2A004", "metro"),
    ("75", "Paris", "11", "75056", "metro"),
]
COMMUNES = [  # code, nom, siren, departement, region, codes postaux
    ("01001", "L'Abergement-Clémenciat", "210100012", "01", "84", ["01400"]),
    ("01004", "Ambérieu-en-Bugey", "210100046", "01", "84", ["01500"]),
    ("69123", "Lyon", "216901231", "69", "84", ["69001", "69002"]),
    ("69029", "Bron", "216900290", "69", "84", ["69500"]),
    ("69001", "Affoux", "216900019", "69", "84", ["69170"]),
    ("2A004", "Ajaccio", "212000046", "2A", "94", ["20000"]),
    ("75056", "Paris", "217500016", "75", "11", ["75001"]),
]
ALL_COMMUNES = {c[0] for c in COMMUNES}


def _aid(aid_id: str, titre: str, geo: list[str], **extra) -> dict:
    row = {
        "id": aid_id,
        "titre": titre,
        "promesse": "Financez votre projet de transition",
        "description": f'Description de l\'aide « {titre} », avec une virgule, et des "guillemets".',
        "eligibilite": "• Être une collectivité\n• Avoir un projet",
        "types_aides": ["financement"],
        "porteurs": ["ADEME"],
        "programmes_parents": None,
        "url_source": "https://exemple.test/aide",
        "cibles": ["secteur public", "professionnels"],
        "eligibilite_geographique": geo,
        "eligibilite_geographique_exclusions": None,
        "date_ouverture": "2026-01-15",
        "date_cloture": None,
        "date_mise_a_jour": "2026-11-20 10:00:00+00",
        "echelle": "national",
        "thematiques": ["energie"],
        "montant_max": 1500.5,
        "taux_max": 40.0,
        "url_demarche": None,
        "statut": "permanente",
        "recurrence": "permanente",
        "sources": ["source-test"],
        "date_collecte": "2026-11-29 05:00:00+00",
        "geo_statut": "resolved",
        "publiable": True,
        "motifs_non_publiable": None,
        "signalements": None,
    }
    row.update(extra)
    return row


def catalogue_rows() -> list[dict]:
    return [
        _aid(
            NATIONAL,
            "Fonds chaleur",
            ["PAYS-99100"],
            eligibilite_geographique_exclusions=["DEP-01"],
            sources=["source-test", "autre-source"],
            programmes_parents=["Fonds Chaleur", "France 2030"],
        ),
        _aid(
            CORSE,
            "Aide corse au vélo",
            ["DEP-2A"],
            echelle="departement",
            cibles=["particuliers"],
            thematiques=["transport"],
        ),
        _aid(
            EPCI,
            "Prime métropolitaine au compostage",
            [f"EPCI-{SIREN_LYON}"],
            echelle="epci",
            eligibilite_geographique_exclusions=["COM-69029"],
            thematiques=["dechet"],
            montant_max=None,
        ),
        _aid(
            CLOSED,
            "Appel à projets clos",
            ["COM-75056"],
            echelle="commune",
            date_ouverture="2025-01-01",
            date_cloture="2025-06-30",
            statut="clôturée",
            recurrence="ponctuelle",
            taux_max=None,
        ),
        _aid(
            FORMULA,
            '=HYPERLINK("http://malveillant.test";"clic")',
            ["REG-84"],
            echelle="region",
            promesse="@SUM(A1:A9) profitez",
            eligibilite="-critère sans puce\r\n-autre critère",
            url_demarche="https://demarche.test/formulaire",
        ),
        _aid(
            LONG,
            "Aide au texte long",
            ["DEP-69"],
            echelle="departement",
            description="- " + " ".join(["mot"] * 1249) + " fin",
        ),  # 5000 characters exactly
        _aid(
            REGION,
            "Aide régionale à la rénovation",
            ["REG-84", "DEP-69", "COM-69123"],
            echelle="region",
            date_ouverture="2026-07-01",
            date_cloture="2026-12-31",
            statut="ouverte",
            recurrence="récurrente",
        ),
        _aid(
            HIDDEN,
            "Aide sans description",
            ["COM-75056"],
            description=None,
            publiable=False,
            motifs_non_publiable=["description manquante"],
        ),
    ]


def _insert(conn, rows: list[dict]) -> None:
    columns = list(rows[0])
    placeholders = ", ".join("?" for _ in columns)
    conn.executemany(
        f"INSERT INTO aides ({', '.join(columns)}) VALUES ({placeholders})", [[row[c] for c in columns] for row in rows]
    )
    # each aid stands for one record of its first source, as the catalogue build writes it
    conn.executemany(
        "INSERT INTO aides_provenance VALUES (?, ?, ?, ?, true, ?, ?)",
        [
            (
                row["id"],
                f"{row['sources'][0]}:{row['id']}",
                row["sources"][0],
                row["id"],
                row["titre"],
                row.get("url_source"),
            )
            for row in rows
        ],
    )


def _insert_referential(conn) -> None:
    conn.executemany("INSERT INTO ref_regions (code, nom, chef_lieu, zone) VALUES (?, ?, ?, ?)", REGIONS)
    conn.executemany(
        "INSERT INTO ref_departements (code, nom, region, chef_lieu, zone) VALUES (?, ?, ?, ?, ?)", DEPARTEMENTS
    )
    conn.executemany(
        "INSERT INTO ref_communes (code, nom, siren, departement, region, zone, population, codes_postaux) "
        "VALUES (?, ?, ?, ?, ?, 'metro', 1000, ?)",
        COMMUNES,
    )
    conn.executemany("INSERT INTO ref_codes_postaux VALUES (?, ?)", [(cp, c[0]) for c in COMMUNES for cp in c[5]])
    conn.execute("INSERT INTO ref_epci VALUES (?, 'Métropole de Lyon', 'MET69', 'FPU', 1400000)", [SIREN_LYON])
    conn.executemany("INSERT INTO ref_epci_membres VALUES (?, ?)", [(SIREN_LYON, "69123"), (SIREN_LYON, "69029")])


SOURCES = [
    {"name": "source-test", "title": "Source de test", "path": "https://exemple.test/source"},
    {"name": "autre-source", "publisher": "Autre éditeur", "homepage": "https://autre.test"},
]


@pytest.fixture
def catalogue(tmp_path: Path):
    paths = WarehousePaths(tmp_path / "warehouse")
    with connect_writer(paths) as conn:
        _insert_referential(conn)
        _insert(conn, catalogue_rows())
        resolver = GeoResolver.from_warehouse(conn)
        yield conn, paths, resolver


@pytest.fixture
def first(catalogue):
    conn, paths, resolver = catalogue
    result = publish_release(conn, paths, resolver, now=NOW, sources=SOURCES)
    return conn, paths, resolver, result


def _latest(paths: WarehousePaths) -> Path:
    return paths.exports_dir / "latest"


# --------------------------------------------------------------------------- first release


def test_first_release_contains_every_published_aid(first):
    _conn, paths, _resolver, result = first
    assert result.published and result.version == "2026-11-29.1"
    assert result.path == paths.exports_dir / "releases" / "2026-11-29.1"
    assert _latest(paths).is_symlink() and _latest(paths).resolve() == result.path.resolve()
    assert not any(p.name.startswith(".building") for p in paths.exports_dir.iterdir())
    names = {p.name for p in result.path.iterdir()}
    assert {
        "aides.csv",
        "aides.parquet",
        "dispositif-aide.csv",
        "aides-communes.parquet",
        "datapackage.json",
        "CHANGELOG.md",
        "changements.csv",
        "README.md",
    } <= names

    aides = rf.read_csv_text(result.path / "aides.csv")
    published = {NATIONAL, CORSE, EPCI, CLOSED, FORMULA, LONG, REGION}
    assert aides.columns == field_names()
    assert set(aides.get_column("id")) == published  # the non-publishable aid is not there
    assert result.counts["aides"] == 7
    assert result.changes == {"ajoutée": 7, "modifiée": 0, "supprimée": 0}
    changes = rf.read_csv_text(result.path / "changements.csv")
    assert changes.columns == ["id", "changement", "champs"]
    assert set(changes.get_column("id")) == published and set(changes.get_column("changement")) == {"ajoutée"}
    assert changes.get_column("champs").null_count() == 7


def test_csv_bytes_utf8_no_bom_lf_and_iso_dates(first):
    path = first[3].path / "aides.csv"
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    header = raw.split(b"\n", 1)[0]
    assert header.decode() == ",".join(field_names())
    assert raw.count(b"\r") == 1  # only inside the quoted eligibilite cell of FORMULA
    rows = {row["id"]: row for row in csv.DictReader(path.open(encoding="utf-8", newline=""))}
    closed = rows[CLOSED]
    assert closed["date_ouverture"] == "2025-01-01T00:00:00+01:00"
    assert closed["date_cloture"] == "2025-06-30T23:59:59+02:00"
    assert closed["date_mise_a_jour"] == "2026-11-20T10:00:00Z"
    assert rows[NATIONAL]["eligibilite_geographique_exclusions"] == "DEP-01"
    assert rows[NATIONAL]["programmes_parents"] == "Fonds Chaleur|France 2030"
    assert rows[NATIONAL]["sources"] == "source-test|autre-source"
    assert rows[EPCI]["montant_max"] == "" and rows[NATIONAL]["montant_max"] == "1500.5"
    assert rows[NATIONAL]["description"].endswith('et des "guillemets".')


def test_formula_cells_are_neutralised_in_csv_but_not_in_parquet(first):
    folder = first[3].path
    rows = {row["id"]: row for row in csv.DictReader((folder / "aides.csv").open(encoding="utf-8", newline=""))}
    formula = rows[FORMULA]
    assert formula["titre"] == '\'=HYPERLINK("http://malveillant.test";"clic")'
    assert formula["promesse"] == "'@SUM(A1:A9) profitez"
    assert formula["eligibilite"] == "'-critère sans puce\r\n-autre critère"
    assert rows[NATIONAL]["titre"] == "Fonds chaleur"  # untouched
    long = rows[LONG]["description"]  # 5000 characters starting with "-": cut to fit the quote
    assert long.startswith("'- mot") and long.endswith("…") and len(long) <= 5000
    official = {r["id"]: r for r in csv.DictReader((folder / "dispositif-aide.csv").open(encoding="utf-8", newline=""))}
    assert official[FORMULA]["titre"].startswith("'=")
    parquet = pl.read_parquet(folder / "aides.parquet")
    raw = parquet.filter(pl.col("id") == FORMULA).row(0, named=True)
    assert raw["titre"].startswith("=HYPERLINK") and raw["promesse"].startswith("@SUM")
    assert "apostrophe" in (folder / "README.md").read_text(encoding="utf-8")


def test_parquet_equals_csv_with_types(first):
    folder = first[3].path
    parquet = pl.read_parquet(folder / "aides.parquet")
    assert parquet.columns == field_names()
    assert parquet.schema["id"] == pl.String and parquet.schema["titre"] == pl.String
    assert parquet.schema["montant_max"] == pl.Float64 and parquet.schema["taux_max"] == pl.Float64
    # the schema's integers are integers (age, headcount)
    assert all(parquet.schema[n] == pl.Int64 for n in ("age_min", "age_max", "effectif_min", "effectif_max"))
    assert parquet.schema["date_ouverture"] == pl.Datetime("us", "Europe/Paris")
    assert parquet.schema["date_collecte"] == pl.Datetime("us", "UTC")
    csv_text = rf.read_csv_text(folder / "aides.csv")
    assert rf.neutralise_formulas(rf.text_of_typed(parquet)).equals(csv_text)
    closed = parquet.filter(pl.col("id") == CLOSED).row(0, named=True)
    assert closed["date_cloture"] == datetime(2025, 6, 30, 21, 59, 59, tzinfo=UTC)
    national = parquet.filter(pl.col("id") == NATIONAL).row(0, named=True)
    assert national["montant_max"] == 1500.5 and national["taux_max"] == 40.0


def test_frictionless_cli_reports_the_package_valid(first):
    paths = first[1]
    cli = Path(sys.executable).parent / "frictionless"
    done = subprocess.run(
        [str(cli), "validate", str(_latest(paths) / "datapackage.json")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout.lower() and "invalid" not in done.stdout.lower()


def test_datapackage_describes_resources_with_hash_bytes_rows(first):
    folder = first[3].path
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert package["version"] == "2026-11-29.1"
    assert package["created"] == "2026-11-29T07:00:00+01:00"
    assert package["licenses"][0]["name"] == "etalab-2.0"
    assert {"title": "Source de test", "name": "source-test", "path": "https://exemple.test/source"} in package[
        "sources"
    ]
    assert {"title": "Autre éditeur", "name": "autre-source", "path": "https://autre.test"} in package["sources"]
    resources = {r["name"]: r for r in package["resources"]}
    assert {"aides", "dispositif-aide", "aides-communes"} <= set(resources)
    for resource in resources.values():
        data = (folder / resource["path"]).read_bytes()
        assert resource["bytes"] == len(data)
        assert resource["hash"] == "sha256:" + __import__("hashlib").sha256(data).hexdigest()
        assert resource["mediatype"] and resource["format"] and resource["schema"]["fields"]
    assert resources["aides"]["rows"] == 7 and resources["aides"]["encoding"] == "utf-8"
    assert [f["name"] for f in resources["aides"]["schema"]["fields"]] == field_names()
    assert resources["dispositif-aide"]["rows"] == 5  # the Corsican and the EPCI aids are left out
    assert resources["dispositif-aide"]["schema"]["path"] == json.loads(OFFICIAL_SCHEMA.read_text())["path"]
    assert resources["aides-communes"]["num_rows"] == first[3].counts["aides-communes"]
    # A tampered file makes the package invalid: the hash is really checked.
    (folder / "aides.csv").write_bytes((folder / "aides.csv").read_bytes() + b"\n")
    assert not frictionless.validate(str(folder / "datapackage.json")).valid


# --------------------------------------------------------------------------- dispositif-aide


def test_derived_official_schema_matches_the_official_file_field_by_field():
    official = json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))
    derived = rf.official_schema()
    assert derived["path"] == official["path"] and derived["version"] == official["version"]
    assert derived["name"] == official["name"] and derived["title"] == official["title"]
    assert len(derived["fields"]) == len(official["fields"]) == 15
    for ours, theirs in zip(derived["fields"], official["fields"], strict=True):
        assert set(ours) == set(theirs), ours["name"]
        for key in theirs:
            if key == "description":  # ours drops the deviation note; punctuation may differ at the end
                assert ours[key].rstrip(". ") == theirs[key].rstrip(". "), ours["name"]
            else:
                assert ours[key] == theirs[key], (ours["name"], key)


def test_dispositif_aide_csv_is_valid_against_the_official_schema(first):
    result = first[3]
    folder = result.path
    official = json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))
    resource = frictionless.Resource(
        path="dispositif-aide.csv", basepath=str(folder), schema=frictionless.Schema.from_descriptor(official)
    )
    report = resource.validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    kept = rf.read_csv_text(folder / "dispositif-aide.csv")
    assert tuple(kept.columns) == OFFICIAL_FIELDS
    assert set(kept.get_column("id")) == {NATIONAL, CLOSED, FORMULA, LONG, REGION}
    reasons = dict(result.excluded_from_dispositif_aide)
    assert set(reasons) == {CORSE, EPCI}
    assert "DEP-2A (Corse-du-Sud)" in reasons[CORSE] and "corse" in reasons[CORSE]
    assert f"EPCI-{SIREN_LYON} (Métropole de Lyon)" in reasons[EPCI] and "EPCI" in reasons[EPCI]
    notes = (folder / "CHANGELOG.md").read_text(encoding="utf-8")
    section = notes.split("## Aides écartées de dispositif-aide.csv", 1)[1].split("\n## ", 1)[0]
    assert CORSE in section and "Aide corse au vélo" in section and "DEP-2A (Corse-du-Sud)" in section
    assert EPCI in section and "niveau EPCI" in section


def test_dispositif_exclusions_catch_every_official_violation(catalogue):
    conn, _paths, resolver = catalogue
    text = rf.catalogue_frame(conn)
    official = text.select(OFFICIAL_FIELDS).with_columns(
        pl.when(pl.col("id") == REGION)
        .then(pl.lit("COM-2B033"))
        .otherwise(pl.col("eligibilite_geographique_exclusions"))
        .alias("eligibilite_geographique_exclusions"),
        pl.when(pl.col("id") == CLOSED).then(None).otherwise(pl.col("porteurs")).alias("porteurs"),
    )
    excluded = dict(rf.dispositif_exclusions(conn, official, resolver, rf.official_schema()).iter_rows())
    assert set(excluded) == {CORSE, EPCI, REGION, CLOSED}
    assert excluded[REGION].startswith("eligibilite_geographique_exclusions : COM-2B033")
    assert excluded[CLOSED] == "porteurs : valeur obligatoire manquante"


# --------------------------------------------------------------------------- aides-communes


def test_aides_communes_follows_eligibility_and_exclusions(first):
    conn, _paths, resolver, result = first
    pairs = pl.read_parquet(result.path / "aides-communes.parquet")
    assert pairs.columns == ["commune", "aid_id", "statut"]
    by_aid = {aid: set(group.get_column("commune")) for (aid,), group in pairs.group_by("aid_id")}
    assert by_aid[NATIONAL] == ALL_COMMUNES - {"01001", "01004"}  # DEP-01 excluded
    assert by_aid[EPCI] == {"69123"}  # Bron is excluded from the EPCI aid; Affoux is not a member
    assert by_aid[CORSE] == {"2A004"}
    assert by_aid[CLOSED] == {"75056"}
    assert by_aid[REGION] == {"01001", "01004", "69123", "69029", "69001"}
    assert pairs.filter(pl.col("aid_id") == CLOSED).get_column("statut").to_list() == ["clôturée"]
    assert HIDDEN not in by_aid
    # Overlapping codes (REG-84, DEP-69, COM-69123) give one pair each; rows ordered by commune, then aid.
    assert pairs.height == pairs.unique(["commune", "aid_id"]).height == result.counts["aides-communes"]
    assert pairs.equals(pairs.sort("commune", "aid_id"))
    # Same answer as the resolver, code by code.
    for aid, include, exclude in (
        (NATIONAL, ["PAYS-99100"], ["DEP-01"]),
        (EPCI, [f"EPCI-{SIREN_LYON}"], ["COM-69029"]),
        (REGION, ["REG-84", "DEP-69", "COM-69123"], []),
    ):
        covered = set().union(*(resolver.commune_codes(c) for c in include))
        removed = set().union(*(resolver.commune_codes(c) for c in exclude)) if exclude else set()
        assert by_aid[aid] == covered - removed


# --------------------------------------------------------------------------- changes


def test_provenance_traces_every_published_aid_to_its_source_records(first):
    conn, paths, _resolver, result = first
    provenance = rf.read_csv_text(result.path / "provenance.csv")
    assert provenance.columns == ["aid_id", "source", "identifiant_source", "url_source", "date_collecte"]
    published = set(rf.read_csv_text(result.path / "aides.csv").get_column("id"))
    assert set(provenance.get_column("aid_id")) == published  # the unpublishable aid is not traced
    # a second record of another source behind the national aid is listed too
    conn.execute(
        "INSERT INTO aides_provenance VALUES (?, 'autre-source:42', 'autre-source', '42', false, 't', NULL)",
        [NATIONAL],
    )
    conn.execute(
        "INSERT INTO source_state VALUES ('autre-source', 'sha256:x', NULL, '2026-11-28T05:00:00+00:00', now(), 1, 0)"
    )
    again = publish_release(conn, paths, _resolver, now=LATER, sources=SOURCES)
    assert again.published, "a new source record behind an aid is a new release, even with the same aid"
    rows = rf.read_csv_text(again.path / "provenance.csv").filter(pl.col("aid_id") == NATIONAL)
    assert rows.height == 2
    assert rows.filter(pl.col("source") == "autre-source").row(0)[2:] == ("42", None, "2026-11-28T05:00:00Z")
    package = json.loads((again.path / "datapackage.json").read_text(encoding="utf-8"))
    assert "provenance" in {r["name"] for r in package["resources"]}


def test_unchanged_catalogue_publishes_nothing(first):
    conn, paths, resolver, result = first
    link_before = _latest(paths).readlink()
    again = publish_release(conn, paths, resolver, now=LATER, sources=SOURCES)
    assert not again.published and again.version is None and again.path is None
    assert list_releases(paths.exports_dir) == ["2026-11-29.1"]
    assert _latest(paths).readlink() == link_before


def test_modified_and_removed_aids_make_a_new_release(first):
    conn, paths, resolver, result = first
    conn.execute("UPDATE aides SET titre = 'Fonds chaleur renouvelable' WHERE id = ?", [NATIONAL])
    conn.execute("DELETE FROM aides WHERE id = ?", [CLOSED])
    second = publish_release(conn, paths, resolver, now=LATER, sources=SOURCES)
    assert second.published and second.version == "2026-11-29.2"
    assert _latest(paths).resolve() == second.path.resolve()
    assert list_releases(paths.exports_dir) == ["2026-11-29.1", "2026-11-29.2"]
    assert (result.path / "aides.csv").exists()  # the previous release stays
    assert second.changes == {"ajoutée": 0, "modifiée": 1, "supprimée": 1}
    with (second.path / "changements.csv").open(encoding="utf-8", newline="") as handle:
        rows = [(r["id"], r["changement"], r["champs"]) for r in csv.DictReader(handle)]
    assert rows == [(NATIONAL, "modifiée", "titre"), (CLOSED, "supprimée", "")]
    notes = (second.path / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "Publication précédente : 2026-11-29.1." in notes
    assert "0 aide(s) ajoutée(s), 1 modifiée(s), 1 supprimée(s)" in notes
    modified = notes.split("### Modifiées (1)", 1)[1].split("###", 1)[0]
    assert NATIONAL in modified and "Fonds chaleur renouvelable" in modified and "champs : titre" in modified
    removed = notes.split("### Supprimées (1)", 1)[1].split("##", 1)[0]
    assert CLOSED in removed and "Appel à projets clos" in removed
    assert "| source-test | Source de test | 6 |" in notes
    assert "| autre-source | Autre éditeur | 1 |" in notes
    assert frictionless.validate(str(second.path / "datapackage.json")).valid


def test_next_day_restarts_the_counter(first):
    conn, paths, resolver, _result = first
    conn.execute("UPDATE aides SET taux_max = 50 WHERE id = ?", [REGION])
    next_day = publish_release(conn, paths, resolver, now=datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    assert next_day.version == "2026-12-01.1"  # 00:30 in Paris
    assert next_day.changes == {"ajoutée": 0, "modifiée": 1, "supprimée": 0}
    rows = rf.read_csv_text(next_day.path / "changements.csv").rows()
    assert rows == [(REGION, "modifiée", "taux_max")]


# --------------------------------------------------------------------------- failures


def _assert_untouched(paths: WarehousePaths, link_before: Path) -> None:
    assert list_releases(paths.exports_dir) == ["2026-11-29.1"]
    assert _latest(paths).readlink() == link_before
    leftovers = [p.name for p in paths.exports_dir.iterdir() if p.name.startswith((".building", ".latest"))]
    assert leftovers == []


def test_failed_validation_leaves_previous_release_and_latest(first, monkeypatch):
    conn, paths, resolver, _result = first
    link_before = _latest(paths).readlink()
    conn.execute("UPDATE aides SET titre = 'Changé' WHERE id = ?", [NATIONAL])

    class Invalid:
        valid = False
        errors: list = []
        tasks = [
            type("Task", (), {"place": "aides.csv", "errors": [type("E", (), {"message": "cellule invalide"})()]})()
        ]

    monkeypatch.setattr(release_module.frictionless, "validate", lambda *a, **k: Invalid())
    with pytest.raises(ReleaseError, match="aides.csv : cellule invalide"):
        publish_release(conn, paths, resolver, now=LATER)
    _assert_untouched(paths, link_before)


def test_exception_while_writing_names_the_file(first, monkeypatch):
    conn, paths, resolver, _result = first
    link_before = _latest(paths).readlink()
    conn.execute("UPDATE aides SET titre = 'Changé' WHERE id = ?", [NATIONAL])

    def broken(*_args, **_kwargs):
        raise OSError("disque plein")

    monkeypatch.setattr(rf, "write_communes_parquet", broken)
    with pytest.raises(ReleaseError, match="écriture de aides-communes.parquet.* : disque plein"):
        publish_release(conn, paths, resolver, now=LATER)
    _assert_untouched(paths, link_before)


def test_failure_while_swapping_latest_rolls_back(first, monkeypatch):
    conn, paths, resolver, _result = first
    link_before = _latest(paths).readlink()
    conn.execute("UPDATE aides SET titre = 'Changé' WHERE id = ?", [NATIONAL])

    def broken(*_args, **_kwargs):
        raise OSError("lien impossible")

    monkeypatch.setattr(release_module, "point_latest", broken)
    with pytest.raises(ReleaseError, match="lien impossible"):
        publish_release(conn, paths, resolver, now=LATER)
    _assert_untouched(paths, link_before)


def test_parquet_that_differs_from_csv_is_refused(first, monkeypatch):
    conn, paths, resolver, _result = first
    link_before = _latest(paths).readlink()
    conn.execute("UPDATE aides SET titre = 'Changé' WHERE id = ?", [NATIONAL])
    original = rf.write_csv

    def shifted(frame, path):  # aides.csv loses its last row
        original(frame.head(frame.height - 1) if path.name == "aides.csv" else frame, path)

    monkeypatch.setattr(rf, "write_csv", shifted)
    with pytest.raises(ReleaseError, match="aides"):
        publish_release(conn, paths, resolver, now=LATER)
    _assert_untouched(paths, link_before)


def test_leftover_building_folder_is_cleaned(first):
    conn, paths, resolver, _result = first
    (paths.exports_dir / ".building-2026-11-28.1").mkdir()
    (paths.exports_dir / ".building-2026-11-28.1" / "aides.csv").write_text("x", encoding="utf-8")
    conn.execute("UPDATE aides SET titre = 'Changé' WHERE id = ?", [NATIONAL])
    result = publish_release(conn, paths, resolver, now=LATER)
    assert result.published
    assert not (paths.exports_dir / ".building-2026-11-28.1").exists()


def test_naive_now_is_refused(catalogue):
    conn, paths, resolver = catalogue
    with pytest.raises(ValueError):
        publish_release(conn, paths, resolver, now=datetime(2026, 11, 29, 7, 0))


def test_an_empty_catalogue_is_never_published(first):
    conn, paths, resolver, _result = first
    link_before = _latest(paths).readlink()
    conn.execute("DELETE FROM aides")
    with pytest.raises(ReleaseError, match="aucune aide publiable"):
        publish_release(conn, paths, resolver, now=LATER, sources=SOURCES)
    _assert_untouched(paths, link_before)


def test_a_catalogue_that_lost_most_aids_is_held_until_acknowledged(first):
    from warehouse.publication.release import PublicationHeld, acknowledge_publication_hold

    conn, paths, resolver, result = first
    link_before = _latest(paths).readlink()
    kept = conn.execute("SELECT id FROM aides WHERE publiable ORDER BY id LIMIT 1").fetchone()[0]
    conn.execute("DELETE FROM aides WHERE id <> ?", [kept])
    before = result.counts["aides"]
    for _ in range(2):  # held twice, recorded once
        with pytest.raises(PublicationHeld, match=f"1 aides publiables au lieu de {before} dans 2026-11-29.1"):
            publish_release(conn, paths, resolver, now=LATER, sources=SOURCES)
        _assert_untouched(paths, link_before)
    assert conn.execute(
        "SELECT previous_aides, new_aides, acknowledged_at IS NULL FROM publication_holds"
    ).fetchall() == [(before, 1, True)]
    assert acknowledge_publication_hold(conn, "agent") == 1
    released = publish_release(conn, paths, resolver, now=LATER, sources=SOURCES)
    assert released.published and released.counts["aides"] == 1 and released.changes["supprimée"] == before - 1
