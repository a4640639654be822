"""Releases: files, official-schema export, commune index and its compact form, public addresses,
change detection, atomic swap.

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


@pytest.fixture(autouse=True)
def _no_public_address(monkeypatch):
    """Releases name their files by file name unless a test sets a public address."""
    monkeypatch.delenv("AIDES_PUBLIC_URL", raising=False)


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
    assert {"aides", "dispositif-aide", "aides-communes", "aides-zones", "communes-zones"} <= set(resources)
    for resource in resources.values():
        data = (folder / resource["path"]).read_bytes()
        assert resource["bytes"] == len(data)
        assert resource["hash"] == "sha256:" + __import__("hashlib").sha256(data).hexdigest()
        assert resource["mediatype"] and resource["format"] and resource["schema"]["fields"]
    assert resources["aides"]["rows"] == 7 and resources["aides"]["encoding"] == "utf-8"
    assert [f["name"] for f in resources["aides"]["schema"]["fields"]] == field_names()
    assert resources["dispositif-aide"]["rows"] == 6  # only the Corsican aid is left out
    assert all(r["path"] == Path(r["path"]).name for r in resources.values())  # no public address: file names
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
    assert set(kept.get_column("id")) == {NATIONAL, CLOSED, FORMULA, LONG, REGION, EPCI}
    reasons = dict(result.excluded_from_dispositif_aide)
    assert set(reasons) == {CORSE}
    assert "DEP-2A (Corse-du-Sud)" in reasons[CORSE] and "corse" in reasons[CORSE]
    notes = (folder / "CHANGELOG.md").read_text(encoding="utf-8")
    section = notes.split("## Aides écartées de dispositif-aide.csv", 1)[1].split("\n## ", 1)[0]
    assert CORSE in section and "Aide corse au vélo" in section and "DEP-2A (Corse-du-Sud)" in section
    assert EPCI not in section and "1 aide(s) nommant des EPCI" in section


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
    assert set(excluded) == {CORSE, REGION, CLOSED}  # the EPCI aid is written with its communes
    assert excluded[REGION].startswith("eligibilite_geographique_exclusions : COM-2B033")
    assert excluded[CLOSED] == "porteurs : valeur obligatoire manquante"


# The EPCI cases of the official export: an aid naming an EPCI and other codes, one excluding an
# EPCI, one naming an EPCI of Corsican communes, one naming an EPCI the referential does not know.
EPCI_UNION, EPCI_EXCLUDED, EPCI_CORSE, EPCI_UNKNOWN = (
    _id(n) for n in ("epci-et-communes", "region-sauf-epci", "epci-corse", "epci-inconnu")
)
SIREN_AJACCIO = "242010056"
LYON_MEMBERS = ["COM-69029", "COM-69123"]


@pytest.fixture
def epci_release(catalogue):
    conn, paths, _resolver = catalogue
    conn.execute("INSERT INTO ref_epci VALUES (?, 'CA du Pays Ajaccien', 'CA', 'FPU', 85000)", [SIREN_AJACCIO])
    conn.execute("INSERT INTO ref_epci_membres VALUES (?, '2A004')", [SIREN_AJACCIO])
    _insert(
        conn,
        [
            _aid(
                EPCI_UNION, "Aide de la métropole et de deux communes", [f"EPCI-{SIREN_LYON}", "COM-69123", "COM-01001"]
            ),
            _aid(
                EPCI_EXCLUDED,
                "Aide régionale hors métropole",
                ["REG-84"],
                echelle="region",
                eligibilite_geographique_exclusions=["COM-01004", f"EPCI-{SIREN_LYON}"],
            ),
            _aid(EPCI_CORSE, "Aide du Pays Ajaccien", [f"EPCI-{SIREN_AJACCIO}"], echelle="epci"),
            _aid(EPCI_UNKNOWN, "Aide d'un EPCI disparu", ["EPCI-200000000"], echelle="epci"),
        ],
    )
    resolver = GeoResolver.from_warehouse(conn)
    return conn, paths, resolver, publish_release(conn, paths, resolver, now=NOW, sources=SOURCES)


def test_epci_aids_are_written_with_their_member_communes(epci_release):
    _conn, _paths, resolver, result = epci_release
    folder = result.path
    rows = {r["id"]: r for r in csv.DictReader((folder / "dispositif-aide.csv").open(encoding="utf-8", newline=""))}
    # exactly the member communes (Affoux, in the Rhône but not a member, is not there), sorted
    assert rows[EPCI]["eligibilite_geographique"] == "|".join(LYON_MEMBERS)
    assert [f"COM-{c}" for c in resolver.commune_codes(f"EPCI-{SIREN_LYON}")] == LYON_MEMBERS
    assert rows[EPCI]["eligibilite_geographique_exclusions"] == "COM-69029"  # stated exclusions kept
    # united with the other codes, sorted, each once
    assert rows[EPCI_UNION]["eligibilite_geographique"] == "COM-01001|COM-69029|COM-69123"
    # an EPCI exclusion becomes its communes; a cell without EPCI is written as it is
    assert rows[EPCI_EXCLUDED]["eligibilite_geographique"] == "REG-84"
    assert rows[EPCI_EXCLUDED]["eligibilite_geographique_exclusions"] == "COM-01004|COM-69029|COM-69123"
    assert rows[REGION]["eligibilite_geographique"] == "REG-84|DEP-69|COM-69123"
    assert not any(
        "EPCI-" in r["eligibilite_geographique"] + r["eligibilite_geographique_exclusions"] for r in rows.values()
    )
    # aides.csv keeps the EPCI codes as the source states them
    aides = {r["id"]: r for r in csv.DictReader((folder / "aides.csv").open(encoding="utf-8", newline=""))}
    assert aides[EPCI_UNION]["eligibilite_geographique"] == f"EPCI-{SIREN_LYON}|COM-69123|COM-01001"
    # the written communes cover what aides-communes.parquet says the aids cover
    pairs = pl.read_parquet(folder / "aides-communes.parquet")
    for aid in (EPCI, EPCI_UNION, EPCI_EXCLUDED):
        included = {c.removeprefix("COM-") for c in rows[aid]["eligibilite_geographique"].split("|")}
        included = set().union(*(resolver.commune_codes(c if "-" in c else f"COM-{c}") for c in included))
        excluded = set().union(
            *(resolver.commune_codes(c) for c in rows[aid]["eligibilite_geographique_exclusions"].split("|") if c)
        )
        assert included - excluded == set(pairs.filter(pl.col("aid_id") == aid).get_column("commune")), aid

    # only what the official pattern cannot express is left out, each with its reason
    assert set(rows) == {NATIONAL, EPCI, CLOSED, FORMULA, LONG, REGION, EPCI_UNION, EPCI_EXCLUDED}
    reasons = dict(result.excluded_from_dispositif_aide)
    assert set(reasons) == {CORSE, EPCI_CORSE, EPCI_UNKNOWN}
    assert reasons[EPCI_CORSE] == (
        f"eligibilite_geographique : EPCI-{SIREN_AJACCIO} (CA du Pays Ajaccien) : 1 commune(s) membre(s) corse(s) "
        "(COM-2A004), refusée(s) par le motif officiel (que des chiffres après le niveau)"
    )
    assert "EPCI-200000000" in reasons[EPCI_UNKNOWN] and "aucune commune membre" in reasons[EPCI_UNKNOWN]
    notes = (folder / "CHANGELOG.md").read_text(encoding="utf-8")
    section = notes.split("## Aides écartées de dispositif-aide.csv", 1)[1].split("\n## ", 1)[0]
    assert "3 aide(s) nommant des EPCI y sont écrites avec les communes membres" in section
    assert all(aid in section for aid in (CORSE, EPCI_CORSE, EPCI_UNKNOWN)) and "COM-2A004" in section
    assert result.counts["dispositif-aide"] == 8

    # strictly valid against the official schema file
    official = frictionless.Schema.from_descriptor(json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8")))
    report = frictionless.Resource(path="dispositif-aide.csv", basepath=str(folder), schema=official).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert report.tasks[0].stats["rows"] == 8


def test_a_dispositif_file_keeping_an_epci_code_is_refused(catalogue, monkeypatch):
    conn, paths, resolver = catalogue
    monkeypatch.setattr(rf, "expand_epci", lambda official, _members: official)
    with pytest.raises(ReleaseError, match="dispositif-aide.csv : 1 ligne\\(s\\) gardent un code EPCI"):
        publish_release(conn, paths, resolver, now=NOW)
    assert list_releases(paths.exports_dir) == []


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


def test_aides_communes_written_in_slices_is_the_file_of_all_pairs(first, tmp_path, monkeypatch):
    """The file is written a range of communes at a time (bounded memory): whatever the size of
    the slices, it is byte for byte the file every pair written at once gives, row groups included."""
    conn, _paths, _resolver, result = first
    text = rf.catalogue_frame(conn)
    published = pl.read_parquet(result.path / "aides-communes.parquet")
    whole = list(rf.CommunePairs(conn, text, slice_pairs=1 << 40).slices())
    tiny = [s for s in rf.CommunePairs(conn, text, slice_pairs=1).slices() if s.height]
    assert len(whole) == 1 and whole[0].equals(published)
    # a commune is never cut: with slices of one pair, each slice is one commune
    assert [s.get_column("commune").n_unique() for s in tiny] == [1] * published.get_column("commune").n_unique()
    assert pl.concat(tiny).equals(published)

    monkeypatch.setattr(rf, "_PAIRS_SLICE", 1)
    monkeypatch.setattr(rf, "_PAIRS_ROW_GROUP", 3)  # row groups across slices
    streamed, at_once = tmp_path / "streamed.parquet", tmp_path / "at-once.parquet"
    assert rf.write_communes_parquet(conn, text, streamed) == published.height
    published.write_parquet(at_once, compression="zstd", row_group_size=3, statistics=True)
    assert streamed.read_bytes() == at_once.read_bytes()


def test_compact_zones_give_the_aids_of_each_commune(epci_release):
    conn, _paths, _resolver, result = epci_release
    folder = result.path
    zones = pl.read_parquet(folder / "aides-zones.parquet")
    commune_zones = pl.read_parquet(folder / "communes-zones.parquet")
    assert zones.columns == ["aid_id", "code", "exclusion", "statut"] and zones.schema["exclusion"] == pl.Boolean
    assert commune_zones.columns == ["commune", "code"]
    # each aid once per code: the national aid is one PAYS-99100 row and one DEP-01 exclusion
    national = zones.filter(pl.col("aid_id") == NATIONAL)
    assert national.select("code", "exclusion").rows() == [("PAYS-99100", False), ("DEP-01", True)]
    assert zones.filter(pl.col("aid_id") == EPCI_EXCLUDED).select("code", "exclusion").rows() == [
        ("REG-84", False),
        ("COM-01004", True),
        (f"EPCI-{SIREN_LYON}", True),
    ]
    assert sorted(commune_zones.filter(pl.col("commune") == "69029").get_column("code")) == [
        "COM-69029",
        "DEP-69",
        f"EPCI-{SIREN_LYON}",
        "PAYS-99100",
        "REG-84",
    ]
    pairs = pl.read_parquet(folder / "aides-communes.parquet")
    assert rf.communes_of_zones(zones, commune_zones).equals(pairs)  # every pair, statut included
    # the README's query, commune by commune
    z, c = (str(folder / n).replace("'", "''") for n in ("aides-zones.parquet", "communes-zones.parquet"))
    for commune in ("69029", "69123", "01004", "2A004", "75056", "69001"):
        found = conn.execute(
            f"""
            SELECT DISTINCT z.aid_id FROM read_parquet('{z}') z JOIN read_parquet('{c}') c USING (code)
            WHERE c.commune = ? AND NOT z.exclusion
            EXCEPT
            SELECT z.aid_id FROM read_parquet('{z}') z JOIN read_parquet('{c}') c USING (code)
            WHERE c.commune = ? AND z.exclusion
            """,
            [commune, commune],
        ).fetchall()
        expected = set(pairs.filter(pl.col("commune") == commune).get_column("aid_id"))
        assert {row[0] for row in found} == expected, commune
    assert EPCI_EXCLUDED not in set(pairs.filter(pl.col("commune") == "69029").get_column("aid_id"))
    package = {r["name"]: r for r in json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))["resources"]}
    assert package["aides-zones"]["num_rows"] == zones.height == result.counts["aides-zones"]
    # COM-, DEP-, REG-, PAYS- for each of the 7 communes; EPCI- only for Lyon, Bron and Ajaccio
    assert package["communes-zones"]["num_rows"] == commune_zones.height == 7 * 4 + 3
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "aides-zones.parquet" in readme and "communes-zones.parquet" in readme


# --------------------------------------------------------------------------- public addresses


def test_public_address_names_files_by_their_download_url(catalogue, monkeypatch):
    conn, paths, resolver = catalogue
    monkeypatch.setenv("AIDES_PUBLIC_URL", "https://aides.exemple.gouv.fr/catalogue/")
    result = publish_release(conn, paths, resolver, now=NOW, sources=SOURCES)
    assert result.published  # validated without the network: addresses mapped back to the files
    folder = result.path
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    base = "https://aides.exemple.gouv.fr/catalogue/telechargements/2026-11-29.1/"
    for resource in package["resources"]:
        assert resource["path"].startswith(base) and resource["scheme"] == "https"
        assert (folder / resource["path"].removeprefix(base)).is_file()
    assert {r["path"].removeprefix(base) for r in package["resources"]} >= {"aides.csv", "aides-zones.parquet"}
    assert release_module.validate_package(folder).valid
    assert f"`{base}<fichier>`" in (folder / "README.md").read_text(encoding="utf-8")
    # a tampered file is still caught through the public address
    (folder / "aides.csv").write_bytes((folder / "aides.csv").read_bytes() + b"\n")
    assert not release_module.validate_package(folder).valid


def test_an_invalid_public_address_stops_the_publication(catalogue, monkeypatch):
    conn, paths, resolver = catalogue
    monkeypatch.setenv("AIDES_PUBLIC_URL", "aides.exemple.gouv.fr")
    with pytest.raises(ReleaseError, match="AIDES_PUBLIC_URL"):
        publish_release(conn, paths, resolver, now=NOW)
    assert list_releases(paths.exports_dir) == []


def test_a_public_address_of_another_release_is_refused(first):
    folder = first[3].path
    descriptor = folder / "datapackage.json"
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    package["resources"][0]["path"] = "https://aides.exemple.gouv.fr/telechargements/2026-11-28.1/aides.csv"
    descriptor.write_text(json.dumps(package), encoding="utf-8")
    with pytest.raises(ValueError, match="2026-11-28.1/aides.csv n'est l'adresse publique d'aucun fichier"):
        release_module.validate_package(folder)


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
    written = rf.write_csv

    def with_a_broken_cell(frame, path):
        if path.name == rf.AIDES_CSV:  # what the gate must catch: a cell the schema refuses
            frame = frame.with_columns(
                pl.when(pl.col("id") == NATIONAL).then(pl.lit("bientôt")).otherwise("statut").alias("statut")
            )
        written(frame, path)

    monkeypatch.setattr(rf, "write_csv", with_a_broken_cell)
    with pytest.raises(
        ReleaseError, match=r"(?s)validateur du projet signale 1 erreur\(s\).*aides : ligne \d+, colonne statut"
    ):
        publish_release(conn, paths, resolver, now=LATER)
    _assert_untouched(paths, link_before)


def test_the_gate_is_the_projects_validator_and_agrees_with_frictionless(first):
    folder = first[3].path
    assert release_module.check_package(folder).valid and release_module.validate_package(folder).valid
    (folder / "aides.csv").write_bytes((folder / "aides.csv").read_bytes() + b"\n")  # a blank row, new bytes
    ours = release_module.check_package(folder)
    theirs = release_module.validate_package(folder)
    assert not ours.valid and not theirs.valid
    found = {"blank-row", "primary-key", "byte-count", "hash-count", "row-count"}  # a blank row's id is no key
    assert set(ours.counts) == {e.type for task in theirs.tasks for e in task.errors} == found


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


def test_redirections_follow_merges_to_the_published_aid() -> None:
    """An absorbed id points to the aid published now, through later merges; a chain that ends on no
    published aid is left out (the API answers 410 for it, from changements.csv)."""
    import duckdb
    import polars as pl

    from warehouse.publication.release_files import redirects_frame

    a, b, c, d, e = (f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 6))
    conn = duckdb.connect()
    conn.execute(
        "CREATE TABLE id_events (event_at TIMESTAMPTZ, kind VARCHAR, aid_id UUID, other_aid_id UUID, "
        "record_key VARCHAR, detail VARCHAR)"
    )
    conn.executemany(
        "INSERT INTO id_events VALUES (?::TIMESTAMPTZ, ?, ?::UUID, ?::UUID, NULL, NULL)",
        [
            ("2026-11-01 05:00:00+00", "fusion", b, a),
            ("2026-11-08 05:00:00+00", "fusion", c, b),
            ("2026-11-08 05:00:00+00", "fusion", e, d),
            ("2026-11-08 05:00:00+00", "scission", a, c),
        ],
    )
    frame = redirects_frame(conn, pl.Series("id", [c]))
    assert frame.rows() == [(a, c, "2026-11-01T05:00:00Z"), (b, c, "2026-11-08T05:00:00Z")]
