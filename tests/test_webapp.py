"""`aides serve`: every page, the search, sessions and CSRF, the upload flows, download safety.

Hermetic: a tiny hand-made referential (Maine-et-Loire, Ain, Rhône…) and a few aids are
inserted into a temporary warehouse, a real release is published from them
(``warehouse.publication.release.publish_release``), and the application is driven through
Starlette's TestClient. The build helpers are shared with ``test_webapp_browser.py``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import itsdangerous.timed
import pytest
from itsdangerous import URLSafeTimedSerializer

from sources.record import ELIGIBILITY_FIELDS

with warnings.catch_warnings():  # "install httpx2": httpx is what the project pins for now
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

from warehouse.db import connect_reader, connect_writer
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.release import publish_release
from warehouse.settings import WarehousePaths
from warehouse.submissions.tokens import create_token, revoke_token
from webapp.app import create_app
from webapp.auth import SESSION_MAX_AGE_S, secret_key

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def aid_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://exemple.test/webapp/{name}"))


VELO, COMPOST, CHEQUE, RENO, CHALEUR, AVRILLE, SAUF49, CACHEE, AIN = (
    aid_id(n) for n in ("velo", "compost", "cheque", "reno", "chaleur", "avrille", "sauf49", "cachee", "ain")
)
SIREN_ANGERS, SIREN_AVRILLE, SIREN_ALM = "214900074", "214900157", "244900015"

REGIONS = [
    ("52", "Pays de la Loire", "44109", "metro"),
    ("84", "Auvergne-Rhône-Alpes", "69123", "metro"),
    ("11", "Île-de-France", "75056", "metro"),
    ("04", "La Réunion", "97411", "drom"),
]
DEPARTEMENTS = [
    ("49", "Maine-et-Loire", "52", "49007", "metro"),
    ("44", "Loire-Atlantique", "52", "44109", "metro"),
    ("01", "Ain", "84", "01053", "metro"),
    ("69", "Rhône", "84", "69123", "metro"),
    ("93", "Seine-Saint-Denis", "11", "93008", "metro"),
    ("974", "La Réunion", "04", "97411", "drom"),
]
COMMUNES = [  # code, nom, siren, departement, region, codes postaux
    ("49007", "Angers", SIREN_ANGERS, "49", "52", ["49000", "49100"]),
    ("49015", "Avrillé", SIREN_AVRILLE, "49", "52", ["49240"]),
    ("49099", "Cholet", "214900991", "49", "52", ["49300"]),
    ("44109", "Nantes", "214401093", "44", "52", ["44000", "44100", "44200", "44300"]),
    ("01001", "L'Abergement-Clémenciat", "210100012", "01", "84", ["01400"]),
    ("01093", "Châtillon-sur-Chalaronne", "210100939", "01", "84", ["01400"]),
    ("69123", "Lyon", "216901231", "69", "84", ["69001", "69002"]),
    ("93066", "Saint-Denis", "219300662", "93", "11", ["93200"]),
    ("97411", "Saint-Denis", "219740115", "974", "04", ["97400"]),
]


def _aid(identifier: str, titre: str, geo: list[str], **extra) -> dict:
    row = {
        "id": identifier,
        "titre": titre,
        "promesse": "Financez votre projet",
        "description": f"Description de « {titre} ».",
        "eligibilite": "Être un particulier",
        "types_aides": ["financement"],
        "porteurs": ["Ville d'Angers"],
        "programmes_parents": None,
        "url_source": "https://exemple.test/aide",
        "cibles": ["particuliers"],
        "eligibilite_geographique": geo,
        "eligibilite_geographique_exclusions": None,
        "date_ouverture": "2026-01-15",
        "date_cloture": None,
        "date_mise_a_jour": "2026-11-20 10:00:00+00",
        "echelle": "commune",
        "thematiques": ["transport"],
        "montant_max": 500.0,
        "taux_max": None,
        "url_demarche": None,
        "statut": "ouverte",
        "recurrence": "permanente",
        "sources": ["ville-angers"],
        "date_collecte": "2026-11-29 05:00:00+00",
        "geo_statut": "resolved",
        "publiable": True,
        "motifs_non_publiable": None,
        "signalements": None,
        **dict.fromkeys(ELIGIBILITY_FIELDS),
        "plafond_depense": None,
        "montants_conditionnels": None,
    }
    row.update(extra)
    return row


AIDES = [
    _aid(
        VELO,
        "Aide à l'achat d'un vélo",
        ["COM-49007"],
        objets_finances=["vélo électrique", "kit d'électrification"],
        etat_materiel=["occasion"],
        age_min=18,
        age_max=25,
        situations=["étudiant"],
        plafond_rfr_par_part=15400.0,
        plafond_rfr_periode="an",
        depense_min=600.0,
        plafond_depense=2000.0,
        montants_conditionnels=["400 € si vélo cargo électrique", "300 € sinon"],
    ),
    _aid(
        COMPOST,
        "Prime au compostage",
        [f"EPCI-{SIREN_ALM}"],
        echelle="epci",
        porteurs=["Angers Loire Métropole"],
        sources=["aides-velo"],
        statut="permanente",
    ),
    _aid(
        CHEQUE,
        "Chèque énergie départemental",
        ["DEP-49"],
        echelle="departement",
        porteurs=["Maine-et-Loire"],
        date_ouverture="2025-01-01",
        date_cloture="2025-06-30",
        statut="clôturée",
        recurrence="ponctuelle",
        sources=["departement-49"],
    ),
    _aid(
        RENO,
        "Aide régionale à la rénovation",
        ["REG-52"],
        echelle="region",
        porteurs=["Région Pays de la Loire"],
        url_source=None,
        sources=["region-pays-de-la-loire"],
        geo_statut="ambiguous",
        signalements=["géographie ambiguë : « Loire » désigne plusieurs territoires"],
    ),
    _aid(
        CHALEUR,
        "Fonds chaleur",
        ["PAYS-99100"],
        echelle="national",
        porteurs=["ADEME"],
        sources=["ademe-agir"],
        statut="permanente",
    ),
    _aid(AVRILLE, "Aide vélo d'Avrillé", ["COM-49015"], porteurs=["Ville d'Avrillé"], sources=["aides-velo"]),
    _aid(
        SAUF49,
        "Aide nationale hors Maine-et-Loire",
        ["PAYS-99100"],
        echelle="national",
        eligibilite_geographique_exclusions=["DEP-49"],
        sources=["ademe-agir"],
    ),
    _aid(
        CACHEE,
        "Aide sans description",
        ["COM-49007"],
        description=None,
        publiable=False,
        motifs_non_publiable=["description manquante"],
    ),
    _aid(AIN, "Aide de l'Ain", ["DEP-01"], echelle="departement", porteurs=["Ain"], sources=["departement-01"]),
]
# record_key, aid, source, native_id, representant, titre, url, present in source_records
PROVENANCE = [
    ("ville-angers:velo", VELO, "ville-angers", "velo", True, "Aide vélo", "https://exemple.test/aide", True),
    ("aides-velo:angers", VELO, "aides-velo", "angers", False, "Vélo Angers", "https://velo.test/angers", True),
    ("aides-velo:alm", COMPOST, "aides-velo", "alm", True, "Compost ALM", None, True),
    ("departement-49:cheque", CHEQUE, "departement-49", "cheque", True, "Chèque énergie", None, True),
    ("region-pays-de-la-loire:reno", RENO, "region-pays-de-la-loire", "reno", True, "Rénovation", None, True),
    ("ademe-agir:chaleur", CHALEUR, "ademe-agir", "chaleur", True, "Fonds chaleur", None, True),
    ("aides-velo:avrille", AVRILLE, "aides-velo", "avrille", True, "Vélo Avrillé", None, True),
    ("ademe-agir:sauf49", SAUF49, "ademe-agir", "sauf49", True, "Hors 49", None, True),
    ("ville-angers:cachee", CACHEE, "ville-angers", "cachee", True, "Cachée", None, False),
    ("departement-01:ain", AIN, "departement-01", "ain", True, "Ain", None, True),
]
RUNS = [  # source, run_at, status, stale
    ("ville-angers", "2026-11-29 05:00:00+00", "parsed", False),
    ("aides-velo", "2026-11-29 05:00:00+00", "unchanged", False),
    ("departement-49", "2026-11-29 05:00:00+00", "parsed", False),
    ("region-pays-de-la-loire", "2026-11-29 05:00:00+00", "parsed", False),
    ("ademe-agir", "2026-11-28 05:00:00+00", "parsed", False),
    ("ademe-agir", "2026-11-29 05:00:00+00", "unchanged", True),  # the latest run is stale
    ("departement-01", "2026-11-29 05:00:00+00", "parsed", False),
]


def insert_referential(conn) -> None:
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
    conn.execute("INSERT INTO ref_epci VALUES (?, 'CU Angers Loire Métropole', 'CU', 'FPU', 300000)", [SIREN_ALM])
    conn.executemany("INSERT INTO ref_epci_membres VALUES (?, ?)", [(SIREN_ALM, "49007"), (SIREN_ALM, "49015")])
    conn.execute(
        "INSERT INTO ref_communes_rattachees VALUES ('69381', 'Lyon 1er Arrondissement', "
        "'arrondissement-municipal', '69123')"
    )


def insert_catalogue(conn) -> None:
    columns = list(AIDES[0])
    conn.executemany(
        f"INSERT INTO aides ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [[row[c] for c in columns] for row in AIDES],
    )
    conn.executemany(
        "INSERT INTO aides_provenance VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (aid, key, source, native, rep, titre, url)
            for key, aid, source, native, rep, titre, url, _present in PROVENANCE
        ],
    )
    conn.executemany(
        "INSERT INTO source_records (source, native_id, digest, titre, url_source, geo_inclusions, date_cloture) "
        "VALUES (?, ?, 'd', ?, ?, ?, ?)",
        [
            (
                source,
                native,
                titre,
                url,
                '[{"niveau": "commune", "code": "49007", "nom": "Angers"}]',
                "30/06/2025" if native == "cheque" else None,
            )
            for _key, _aid, source, native, _rep, titre, url, present in PROVENANCE
            if present
        ],
    )
    conn.executemany("INSERT INTO source_runs (run_id, source, run_at, status, stale) VALUES ('r', ?, ?, ?, ?)", RUNS)
    conn.execute(
        "INSERT INTO doublons_a_revoir VALUES ('aides-velo:angers', 'aides-velo:avrille', 0.87, "
        "'titres proches, territoires voisins')"
    )
    conn.execute(
        "INSERT INTO normalisation_problemes VALUES ('ville-angers:velo', 'ville-angers', 'montants', "
        "'50 € par mois', 'montant par période écarté')"
    )


def build_warehouse(root: Path, publish: bool = True) -> dict:
    """A warehouse with the referential, the aids, a release and two agents' tokens."""
    paths = WarehousePaths(root)
    with connect_writer(paths) as conn:
        insert_referential(conn)
        insert_catalogue(conn)
        if publish:
            publish_release(conn, paths, GeoResolver.from_warehouse(conn), now=NOW)
        tokens = {
            "angers": create_token(conn, SIREN_ANGERS, "agent@angers.test"),
            "avrille": create_token(conn, SIREN_AVRILLE, "agent@avrille.test"),
            "revoque": create_token(conn, SIREN_ANGERS, "ancien@angers.test"),
            "departement": create_token(conn, "DEP-49", "agent@maine-et-loire.test"),
        }
        revoke_token(conn, tokens["revoque"])
    return {"paths": paths, "tokens": tokens}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_warehouse(tmp_path_factory.mktemp("webapp") / "warehouse")


@pytest.fixture(scope="module")
def client(built) -> TestClient:
    """A client on the shared warehouse, for the pages that only read."""
    return TestClient(create_app(built["paths"]), raise_server_exceptions=False)


@pytest.fixture
def own(built, tmp_path: Path) -> dict:
    """A private copy of the warehouse (for tests that write) and a client on it."""
    root = tmp_path / "warehouse"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    paths = WarehousePaths(root)
    return {
        "paths": paths,
        "tokens": built["tokens"],
        "client": TestClient(create_app(paths), raise_server_exceptions=False),
    }


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def log_in(client: TestClient, token: str) -> None:
    page = client.get("/connexion")
    answer = client.post("/connexion", data={"csrf": csrf_of(page.text), "jeton": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def aid_ids_shown(html: str) -> set[str]:
    return set(re.findall(r'data-aide="([0-9a-f-]{36})"', html))


# --------------------------------------------------------------------------- public pages


def test_home_page_is_french_accessible_and_styled(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="fr"' in html
    assert 'href="#contenu"' in html and 'id="contenu"' in html  # skip link and its target
    assert '<label class="fr-label" for="recherche-territoire">' in html
    assert "/dsfr/dsfr.min.css" in html and "fr-header" in html and "fr-footer" in html
    assert "2026-11-29.1" in html  # the latest release
    assert "ademe-agir" in html and "périmée" in html  # the stale source in the freshness table
    assert page.headers["x-frame-options"] == "DENY" and "default-src 'self'" in page.headers["content-security-policy"]


def test_dsfr_assets_are_served(client):
    css = client.get("/dsfr/dsfr.min.css")
    assert css.status_code == 200 and ".fr-header" in css.text
    assert client.get("/dsfr/utility/icons/icons.min.css").status_code == 200
    assert client.get("/static/app.css").status_code == 200


@pytest.mark.parametrize(
    "query, target",
    [
        ("Angers", "/territoire/49007"),
        ("49100", "/territoire/49007"),  # a postal code of one commune
        ("49007", "/territoire/49007"),
        ("COM-49007", "/territoire/49007"),
        ("Maine-et-Loire", "/territoire/DEP-49"),
        ("DEP-49", "/territoire/DEP-49"),
        ("CU Angers Loire Métropole", f"/territoire/EPCI-{SIREN_ALM}"),
        ("Pays de la Loire", "/territoire/REG-52"),
    ],
)
def test_search_by_name_postal_code_or_code_goes_to_the_territory(client, query, target):
    answer = client.get("/", params={"q": query}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == target


def test_shared_postal_code_lists_every_commune(client):
    page = client.get("/", params={"q": "01400"})
    assert page.status_code == 200
    links = re.findall(r'href="/territoire/(\w+)"', page.text)
    assert {"01001", "01093"} <= set(links)
    assert "partagé par 2 communes" in page.text


def test_homonyms_are_listed_as_candidates(client):
    page = client.get("/", params={"q": "Saint-Denis"})
    assert page.status_code == 200
    links = set(re.findall(r'href="/territoire/(\w+)"', page.text))
    assert {"93066", "97411"} <= links
    assert "Plusieurs territoires correspondent" in page.text


def test_unknown_name_says_so(client):
    page = client.get("/", params={"q": "Zzyzx-sur-Mer"})
    assert page.status_code == 200 and "Aucun territoire trouvé" in page.text


def test_commune_page_lists_the_aids_that_apply_by_level_with_flags(client):
    page = client.get("/territoire/49007")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Angers" in html
    shown = aid_ids_shown(html)
    assert shown == {VELO, COMPOST, CHEQUE, RENO, CHALEUR, CACHEE}  # not Avrillé's, not the one excluding 49
    # grouped by level, in order commune → EPCI → département → région → national
    positions = [html.index(f'id="groupe-{g}"') for g in ("commune", "epci", "departement", "region", "national")]
    assert positions == sorted(positions)
    assert "Couverture lue dans la publication 2026-11-29.1" in html

    def row(identifier: str) -> str:
        start = html.index(f'data-aide="{identifier}"')
        return html[start : html.index("</tr>", start)]

    assert 'data-alerte="cloturee_en_ligne"' in row(CHEQUE) and "clôturée" in row(CHEQUE)
    assert 'data-alerte="sans_lien"' in row(RENO) and 'data-alerte="geo_ambigue"' in row(RENO)
    assert 'data-alerte="source_perimee"' in row(CHALEUR)
    assert 'data-alerte="doublon_possible"' in row(VELO)
    assert 'data-alerte="non_publiee"' in row(CACHEE)
    assert "data-alerte" not in row(COMPOST)
    assert "fr-badge--success" in row(VELO)  # ouverte
    assert "du 1er janvier 2025 au 30 juin 2025" in row(CHEQUE)
    assert 'href="https://exemple.test/aide"' in row(VELO) and "Angers Loire Métropole" in row(COMPOST)
    amount = re.search(r'class="app-montant">(.*?)</td>', row(VELO), re.S)
    assert amount and "500" in amount.group(1) and "€" in amount.group(1)  # the amount column


def test_arrondissement_code_shows_its_commune(client):
    page = client.get("/territoire/69381")
    assert page.status_code == 200
    assert "<h1>Lyon" in page.text and "rattaché à la commune 69123" in page.text


def test_epci_departement_and_region_pages(client):
    epci = client.get(f"/territoire/EPCI-{SIREN_ALM}")
    assert epci.status_code == 200
    assert aid_ids_shown(epci.text) == {VELO, COMPOST, CHEQUE, RENO, CHALEUR, AVRILLE, CACHEE}
    dep = client.get("/territoire/DEP-49")
    assert aid_ids_shown(dep.text) == {VELO, COMPOST, CHEQUE, RENO, CHALEUR, AVRILLE, CACHEE}
    ain = client.get("/territoire/DEP-01")
    assert aid_ids_shown(ain.text) == {AIN, CHALEUR, SAUF49}
    region = client.get("/territoire/REG-52")
    assert region.status_code == 200 and RENO in aid_ids_shown(region.text)
    assert 'href="/territoire/REG-52"' in dep.text  # breadcrumb to the région


@pytest.mark.parametrize("code", ["99999", "DEP-00", "EPCI-123456789", "nimportequoi", "PAYS-99999"])
def test_unknown_territory_is_a_french_404(client, code):
    page = client.get(f"/territoire/{code}")
    assert page.status_code == 404
    assert "Territoire inconnu" in page.text and '<html lang="fr"' in page.text


def test_aid_page_shows_provenance_from_every_source(client):
    page = client.get(f"/aide/{VELO}")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Aide à l&#39;achat d&#39;un vélo</h1>" in html
    table = html[html.index('id="table-provenance"') :]
    assert "ville-angers" in table and "aides-velo" in table and "Vélo Angers" in table
    assert "commune 49007 (Angers)" in table  # the geography as the source stated it
    assert "Aide vélo d&#39;Avrillé" in html  # the doubtful pair, linked
    assert f'href="/aide/{AVRILLE}"' in html
    assert "50 € par mois" in html and "montant par période écarté" in html
    assert "COM-49007 (Angers, 49)" in html


def test_aid_page_shows_the_structured_conditions(client):
    """The conditions' wording is tested in test_webapp_conditions.py; here, where they are."""
    html = client.get(f"/aide/{VELO}").text
    block = html[html.index('id="conditions-structurees"') :]
    block = block[: block.index("</dl>")]
    assert "vélo électrique ou kit d&#39;électrification" in block
    assert "occasion" in block and "de 18 à 25\u00a0ans" in block and "étudiant" in block
    assert "Revenu fiscal de référence par part" in block and "par an" in block
    assert "au moins 600\u00a0€" in block and "Plafond de la dépense éligible" not in block
    assert "Plafond de la dépense éligible" in html
    amounts = html[html.index('id="montants-conditionnels"') :]
    assert "400 € si vélo cargo électrique" in amounts and "300 € sinon" in amounts
    compost = client.get(f"/aide/{COMPOST}").text
    block = compost[compost.index('id="conditions-structurees"') :]
    assert block[: block.index("</dl>")].count("<dt>") == 1  # its public only


def test_aid_page_unknown_or_malformed_id_is_404(client):
    assert client.get(f"/aide/{uuid.uuid4()}").status_code == 404
    assert client.get("/aide/pas-un-uuid").status_code == 404


def test_downloads_list_releases_with_sizes_and_hashes(client, built):
    page = client.get("/telechargements")
    assert page.status_code == 200
    html = page.text
    assert "Publication 2026-11-29.1" in html and "la plus récente" in html
    release = built["paths"].exports_dir / "releases" / "2026-11-29.1"
    import hashlib

    digest = hashlib.sha256((release / "aides.csv").read_bytes()).hexdigest()
    assert digest in html
    assert 'href="/telechargements/2026-11-29.1/aides.csv"' in html
    assert 'href="/telechargements/2026-11-29.1/CHANGELOG.md"' in html
    csv = client.get("/telechargements/2026-11-29.1/aides.csv")
    assert csv.status_code == 200 and csv.content == (release / "aides.csv").read_bytes()
    assert "attachment" in csv.headers["content-disposition"]
    latest = client.get("/telechargements/latest/aides-communes.parquet")
    assert latest.status_code == 200 and latest.content == (release / "aides-communes.parquet").read_bytes()
    schema = client.get("/telechargements/schema/schema.json")
    assert schema.status_code == 200 and '"fields"' in schema.text


@pytest.mark.parametrize(
    "path",
    [
        "/telechargements/2026-11-29.1/..%2F..%2Fdata%2Fcatalogue.duckdb",
        "/telechargements/..%2Fdata/catalogue.duckdb",
        "/telechargements/2026-11-29.1/%2Fetc%2Fpasswd",
        "/telechargements/2026-11-29.1/.hidden",
        "/telechargements/2026-11-29.9/aides.csv",
        "/telechargements/releases/aides.csv",
        "/telechargements/2026-11-29.1/../../data/catalogue.duckdb",
        "/telechargements/schema/..%2F..%2Fpyproject.toml",
        "/telechargements/schema/__init__.py",
    ],
)
def test_downloads_never_leave_the_release_folder(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert "DuckDB" not in answer.text and "root:" not in answer.text and "[project]" not in answer.text


def test_symlink_planted_in_a_release_is_not_followed(built, tmp_path):
    root = tmp_path / "warehouse"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    release = root / "exports" / "releases" / "2026-11-29.1"
    (release / "secret.csv").symlink_to(root / "data" / "catalogue.duckdb")
    client = TestClient(create_app(WarehousePaths(root)), raise_server_exceptions=False)
    assert client.get("/telechargements/2026-11-29.1/secret.csv").status_code == 404


def test_unknown_page_is_a_french_404(client):
    page = client.get("/nulle-part")
    assert page.status_code == 404 and "Page introuvable" in page.text and "Not Found" not in page.text


def test_any_exception_becomes_a_french_500_without_trace(built, monkeypatch):
    from webapp import queries

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret interne : /etc/passwd")

    monkeypatch.setattr(queries, "aid_rows", broken)
    client = TestClient(create_app(built["paths"]), raise_server_exceptions=False)
    page = client.get("/territoire/49007")
    assert page.status_code == 500
    assert "Erreur inattendue" in page.text and "secret interne" not in page.text and "Traceback" not in page.text


def test_missing_warehouse_is_a_french_503(tmp_path):
    client = TestClient(create_app(WarehousePaths(tmp_path / "vide")), raise_server_exceptions=False)
    page = client.get("/")
    assert page.status_code == 503 and "make run" in page.text


def test_without_a_release_commune_coverage_comes_from_the_warehouse(tmp_path):
    built = build_warehouse(tmp_path / "warehouse", publish=False)
    client = TestClient(create_app(built["paths"]), raise_server_exceptions=False)
    page = client.get("/territoire/49007")
    assert page.status_code == 200
    assert aid_ids_shown(page.text) == {VELO, COMPOST, CHEQUE, RENO, CHALEUR, CACHEE}
    assert "Couverture calculée depuis l'entrepôt" in page.text
    assert "Aucune publication" in client.get("/telechargements").text


# --------------------------------------------------------------------------- agents: login, session, CSRF


def prefilled_with(client: TestClient, action: str = "correction") -> bytes:
    """The agent's pre-filled file with every row marked ``action``."""
    lines = client.get("/mon-territoire/soumission.csv").content.decode("utf-8").splitlines()
    return ("\n".join([lines[0], *(action + line for line in lines[1:])]) + "\n").encode("utf-8")


def upload(client: TestClient, content: bytes, filename: str = "aides.csv", csrf: str | None = "page"):
    if csrf == "page":
        csrf = csrf_of(client.get("/soumettre").text)
    data = {} if csrf is None else {"csrf": csrf}
    return client.post("/soumettre", data=data, files={"fichier": (filename, content, "text/csv")})


def stored(paths: WarehousePaths) -> tuple[list[Path], list[tuple], list[tuple]]:
    """Files of the submission store, rows of soumissions and of soumissions_refusees."""
    folder = paths.root / "submissions"
    files = sorted(folder.iterdir()) if folder.exists() else []
    with connect_reader(paths) as conn:
        accepted = conn.execute("SELECT siren, email, filename, rows, path, sha256 FROM soumissions").fetchall()
        refused = conn.execute(
            "SELECT siren, email, reason, filename FROM soumissions_refusees ORDER BY received_at"
        ).fetchall()
    return files, accepted, refused


def test_agent_pages_send_anonymous_visitors_to_login(client):
    for path in ("/mon-territoire", "/soumettre", "/mon-territoire/soumission.csv"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/connexion?suite=")


def test_login_with_a_token_opens_the_agent_space(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    page = client.get("/mon-territoire")
    assert page.status_code == 200
    assert "Angers" in page.text and "agent@angers.test" in page.text and "COM-49007" in page.text
    assert 'href="/territoire/49007"' in page.text
    cookie = client.cookies.get("aides_session")
    assert cookie and own["tokens"]["angers"] not in cookie  # the token itself is never in the cookie


def test_login_refuses_unknown_and_revoked_tokens_and_logs_them(own):
    client = own["client"]
    for token in ("pas-un-jeton", own["tokens"]["revoque"]):
        page = client.get("/connexion")
        answer = client.post("/connexion", data={"csrf": csrf_of(page.text), "jeton": token})
        assert answer.status_code == 401
        assert "inconnu, révoqué ou mal recopié" in answer.text and "fr-input-group--error" in answer.text
    assert client.get("/mon-territoire", follow_redirects=False).status_code == 303
    _files, _accepted, refused = stored(own["paths"])
    assert [(r[0], r[2]) for r in refused] == [(None, "connexion refusée : jeton inconnu ou révoqué")] * 2


def test_login_without_or_with_a_wrong_csrf_token_is_403(own):
    client = own["client"]
    client.get("/connexion")
    for data in ({"jeton": own["tokens"]["angers"]}, {"jeton": own["tokens"]["angers"], "csrf": "faux" * 8}):
        answer = client.post("/connexion", data=data, follow_redirects=False)
        assert answer.status_code == 403 and "Session expirée" in answer.text
    fresh = TestClient(create_app(own["paths"]), raise_server_exceptions=False)  # no session cookie at all
    token = csrf_of(client.get("/connexion").text)
    assert fresh.post("/connexion", data={"jeton": own["tokens"]["angers"], "csrf": token}).status_code == 403


def test_login_redirects_only_to_local_pages(own):
    client = own["client"]
    page = client.get("/connexion", params={"suite": "https://malveillant.test/"})
    assert 'name="suite" value=""' in page.text
    answer = client.post(
        "/connexion",
        data={"csrf": csrf_of(page.text), "jeton": own["tokens"]["angers"], "suite": "//malveillant.test"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/mon-territoire"


def test_tampered_session_cookie_is_ignored(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    cookie = client.cookies.get("aides_session")
    payload, stamp, signature = cookie.rsplit(".", 2)
    codec = URLSafeTimedSerializer(b"unused")  # only to read and write the payload, not to sign
    data = codec.load_payload(payload.encode())
    assert data["siren"] == SIREN_ANGERS
    data["siren"] = SIREN_AVRILLE
    forged = codec.dump_payload(data).decode()
    client.cookies.set("aides_session", f"{forged}.{stamp}.{signature}")
    assert client.get("/mon-territoire", follow_redirects=False).status_code == 303


def test_session_signed_with_another_key_or_salt_is_ignored(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    data = URLSafeTimedSerializer(b"unused").loads_unsafe(client.cookies.get("aides_session"))[1]
    for key, salt in ((b"une autre cle", "aides-session"), (secret_key(), "autre-usage")):
        forged = URLSafeTimedSerializer(key, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}).dumps(data)
        client.cookies.set("aides_session", forged)
        assert client.get("/mon-territoire", follow_redirects=False).status_code == 303


def _signing_clock(monkeypatch: pytest.MonkeyPatch, offset_s: float) -> None:
    """Sessions signed from now on carry a timestamp ``offset_s`` seconds away from the real clock."""
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: time.time() + offset_s))


def test_session_expires_after_a_working_day(own, monkeypatch):
    client = own["client"]
    _signing_clock(monkeypatch, -(SESSION_MAX_AGE_S - 60))
    log_in(client, own["tokens"]["angers"])
    monkeypatch.undo()
    assert client.get("/mon-territoire", follow_redirects=False).status_code == 200
    _signing_clock(monkeypatch, -(SESSION_MAX_AGE_S + 60))
    log_in(client, own["tokens"]["angers"])
    monkeypatch.undo()
    assert client.get("/mon-territoire", follow_redirects=False).status_code == 303


def test_configured_secret_key_keeps_sessions_across_restarts(own, monkeypatch):
    monkeypatch.setenv("AIDES_SECRET_KEY", "cle-de-test-partagee")
    first = TestClient(create_app(own["paths"]), raise_server_exceptions=False)
    log_in(first, own["tokens"]["angers"])
    cookie = first.cookies.get("aides_session")
    restarted = TestClient(create_app(own["paths"]), raise_server_exceptions=False)
    restarted.cookies.set("aides_session", cookie)
    assert restarted.get("/mon-territoire", follow_redirects=False).status_code == 200
    monkeypatch.setenv("AIDES_SECRET_KEY", "une-autre-cle")
    rekeyed = TestClient(create_app(own["paths"]), raise_server_exceptions=False)
    rekeyed.cookies.set("aides_session", cookie)
    assert rekeyed.get("/mon-territoire", follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token_and_ends_the_session(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    assert client.post("/deconnexion", data={}).status_code == 403
    page = client.get("/mon-territoire")
    answer = client.post("/deconnexion", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/mon-territoire", follow_redirects=False).status_code == 303


def test_revoking_a_token_ends_its_sessions(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    with connect_writer(own["paths"]) as conn:
        revoke_token(conn, own["tokens"]["angers"])
    assert client.get("/mon-territoire", follow_redirects=False).status_code == 303


def test_prefilled_file_holds_the_territory_published_aids(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    answer = client.get("/mon-territoire/soumission.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="soumission-{SIREN_ANGERS}.csv"' in answer.headers["content-disposition"]
    text = answer.content.decode("utf-8")
    assert text.startswith("action,id,titre,")
    assert VELO in text and AVRILLE not in text and CACHEE not in text  # published, and within Angers only


def test_departement_agent_gets_its_territory_and_its_aids(own):
    client = own["client"]
    log_in(client, own["tokens"]["departement"])
    page = client.get("/mon-territoire")
    assert "Maine-et-Loire" in page.text and 'href="/territoire/DEP-49"' in page.text
    text = client.get("/mon-territoire/soumission.csv").content.decode("utf-8")
    assert all(aid in text for aid in (VELO, COMPOST, CHEQUE, AVRILLE))
    assert RENO not in text and CHALEUR not in text  # région and national aids are not the département's
    assert (
        'filename="soumission-DEP-49.csv"'
        in client.get("/mon-territoire/soumission.csv").headers["content-disposition"]
    )


def test_serve_runs_uvicorn_on_the_given_address(monkeypatch, built):
    import uvicorn

    from webapp import app as app_module

    called = {}
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(built["paths"].root))
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: called.update(app=app, **options))
    app_module.serve("127.0.0.1", 8123)
    assert called["host"] == "127.0.0.1" and called["port"] == 8123
    assert called["app"].state.paths == built["paths"]


# --------------------------------------------------------------------------- agents: uploads


def test_bad_file_gets_the_report_at_once_and_nothing_is_stored(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    good = prefilled_with(client)
    bad = good.replace(b"2026-01-15T00:00:00+01:00", b"31/02/2026")
    answer = upload(client, bad)
    assert answer.status_code == 422
    html = answer.text
    assert "Fichier refusé : 1 erreur à corriger" in html
    table = html[html.index('id="table-rapport"') :]
    assert '<th scope="col">Quoi corriger</th>' in table
    row = table[table.index("<tr data-nature") : table.index("</tr>", table.index("<tr data-nature"))]
    assert '<td data-label="Ligne">2</td>' in row and '<td data-label="Colonne">date_ouverture</td>' in row
    assert "31/02/2026" in row and "date impossible" in row
    assert "fr-badge--error" in row
    files, accepted, refused = stored(own["paths"])
    assert files == [] and accepted == []
    assert refused == [(SIREN_ANGERS, "agent@angers.test", "fichier invalide : 1 erreur(s)", "aides.csv")]


def test_not_a_csv_file_is_reported_in_french(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    answer = upload(client, b"PK\x03\x04" + bytes(range(256)) * 4, filename="aides.xlsx")
    assert answer.status_code == 422
    assert "Excel" in answer.text and stored(own["paths"])[0] == []


def test_good_file_is_accepted_and_stored_with_a_receipt(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    good = prefilled_with(client)
    answer = upload(client, good, filename="../../etc/aides d'Angers.csv")
    assert answer.status_code == 200, answer.text
    assert "Fichier accepté" in answer.text and 'id="table-recu"' in answer.text
    files, accepted, refused = stored(own["paths"])
    assert len(files) == 1 and files[0].read_bytes() == good
    assert files[0].parent == own["paths"].root / "submissions"  # the uploaded name is never a path
    import hashlib

    digest = hashlib.sha256(good).hexdigest()
    assert accepted == [
        (
            SIREN_ANGERS,
            "agent@angers.test",
            "../../etc/aides d'Angers.csv",
            1,
            files[0].relative_to(own["paths"].root).as_posix(),
            digest,
        )
    ]
    assert digest in answer.text and refused == []
    assert "aides d&#39;Angers.csv" in client.get("/mon-territoire").text  # the history


def test_rows_of_another_territory_are_refused_with_403_and_logged(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    angers_file = prefilled_with(client)
    client.post("/deconnexion", data={"csrf": csrf_of(client.get("/mon-territoire").text)})
    log_in(client, own["tokens"]["avrille"])
    answer = upload(client, angers_file)
    assert answer.status_code == 403
    assert "hors de votre territoire" in answer.text and "journalisée" in answer.text
    assert "COM-49007 (Angers, 49) est hors du territoire" in answer.text
    files, accepted, refused = stored(own["paths"])
    assert files == [] and accepted == []
    assert len(refused) == 1 and refused[0][0] == SIREN_AVRILLE and refused[0][2].startswith("hors territoire")


def test_upload_without_a_valid_csrf_token_is_403_and_not_read(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    good = prefilled_with(client)
    for csrf in (None, "", "x" * 43):
        answer = upload(client, good, csrf=csrf)
        assert answer.status_code == 403 and "Session expirée" in answer.text
    assert stored(own["paths"])[:2] == ([], [])


def test_upload_requires_a_login(own):
    client = own["client"]
    token = csrf_of(client.get("/connexion").text)
    answer = upload(client, b"action,id\n", csrf=token)
    assert answer.status_code == 403 and "Connexion requise" in answer.text
    assert stored(own["paths"])[:2] == ([], [])


def test_too_large_file_is_413_before_validation(own, monkeypatch):
    from warehouse.submissions import checks as submissions

    def never(*_args, **_kwargs):
        raise AssertionError("a too large file must not reach the validator")

    monkeypatch.setattr(submissions, "validate_submission", never)
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    big = b"action,id\n" + b"ajout," + b"x" * 5_100_000 + b"\n"
    answer = upload(client, big)
    assert answer.status_code == 413
    assert "dépasse la taille maximale de 5,0\u00a0Mo" in answer.text
    assert stored(own["paths"])[:2] == ([], [])


def test_size_limit_counts_the_file_itself(own, monkeypatch):
    """Just above the limit: the body fits the multipart allowance, the file does not."""
    client = TestClient(create_app(own["paths"], max_upload_bytes=2000), raise_server_exceptions=False)
    log_in(client, own["tokens"]["angers"])
    answer = upload(client, b"a" * 2001)
    assert answer.status_code == 413
    declared = client.post(
        "/soumettre",
        content=b"x" * 10,
        headers={  # refused on its declared length
            "content-type": "multipart/form-data; boundary=b",
            "content-length": str(10_000_000),
        },
    )
    assert declared.status_code == 413

    def chunks():  # no Content-Length: counted while reading
        for _ in range(100):
            yield b"y" * 10_000

    streamed = client.post("/soumettre", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert (
        streamed.status_code == 413 and "Fichier trop volumineux" not in streamed.text
    )  # the upload page, not an error page
    assert "dépasse la taille maximale de 2,0\u00a0ko" in streamed.text
    assert stored(own["paths"])[:2] == ([], [])


def test_malformed_multipart_is_a_french_400(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    answer = client.post(
        "/soumettre", content=b"--b\r\nnimporte quoi", headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert answer.status_code == 400
    assert '<html lang="fr"' in answer.text and "mal formé" in answer.text
    wrong_type = client.post("/soumettre", content=b"a=b", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415


# --------------------------------------------------------------------------- warehouse states


def test_pages_answer_503_while_another_process_writes_the_warehouse(own):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)",
            str(own["paths"].database),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        page = own["client"].get("/territoire/49007")
        assert page.status_code == 503 and "mise à jour" in page.text
    finally:
        holder.kill()
        holder.wait()
    assert own["client"].get("/territoire/49007").status_code == 200


def test_broken_links_are_flagged_when_link_checks_exist(own):
    with connect_writer(own["paths"]) as conn:
        # the table written by the `liens` asset (warehouse/migrations/0006_liens.sql): latest check wins
        conn.execute(
            "INSERT INTO liens (url, checked_at, statut, http_status, detail) VALUES "
            "('https://exemple.test/aide', '2026-11-01', 'ok', 200, NULL), "
            "('https://exemple.test/aide', '2026-11-28', 'casse', 404, NULL), "
            "('https://velo.test/angers', '2026-11-28', 'casse', 410, NULL)"
        )
    html = own["client"].get("/territoire/49007").text
    start = html.index(f'data-aide="{VELO}"')
    assert 'data-alerte="lien_casse"' in html[start : html.index("</tr>", start)]
    start = html.index(f'data-aide="{RENO}"')  # no link at all: nothing to check
    assert 'data-alerte="lien_casse"' not in html[start : html.index("</tr>", start)]


def test_a_links_table_of_unknown_shape_is_ignored(own):
    with connect_writer(own["paths"]) as conn:
        conn.execute("DROP TABLE liens")
        conn.execute("CREATE TABLE liens (adresse VARCHAR, resultat VARCHAR)")
    page = own["client"].get("/territoire/49007")
    assert page.status_code == 200 and 'data-alerte="lien_casse"' not in page.text


# --------------------------------------------------------------------------- the real referential


@pytest.fixture(scope="module")
def real(referential_package, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The real COG (34 969 communes) loaded once, with the hand-made aids."""
    from warehouse.referential import load_referential

    paths = WarehousePaths(tmp_path_factory.mktemp("cog") / "warehouse")
    with connect_writer(paths) as conn:
        load_referential(conn, referential_package)
        insert_catalogue(conn)
    return TestClient(create_app(paths), raise_server_exceptions=False)


@pytest.mark.registry
def test_search_and_pages_on_the_real_referential(real):
    import time

    assert real.get("/", params={"q": "Angers"}, follow_redirects=False).headers["location"] == "/territoire/49007"
    assert real.get("/", params={"q": "Marseille"}, follow_redirects=False).headers["location"] == "/territoire/13055"
    shared = real.get("/", params={"q": "01400"})
    communes = set(re.findall(r'href="/territoire/(\w+)"', shared.text))
    assert "01093" in communes and len(communes) >= 5  # Châtillon-sur-Chalaronne and its neighbours
    homonyms = set(re.findall(r'href="/territoire/(\w+)"', real.get("/", params={"q": "Saint-Denis"}).text))
    assert {"93066", "97411"} <= homonyms
    lyon = set(re.findall(r'href="/territoire/(\w+)"', real.get("/", params={"q": "69001"}).text))
    assert {"69001", "69123"} <= lyon  # Affoux's INSEE code, and a postal code of Lyon
    arrondissement = real.get("/territoire/13201")
    assert "<h1>Marseille" in arrondissement.text
    started = time.perf_counter()
    page = real.get(f"/territoire/EPCI-{SIREN_ALM}")
    region = real.get("/territoire/REG-84")
    assert time.perf_counter() - started < 3
    assert page.status_code == 200 and VELO in aid_ids_shown(page.text) and AVRILLE in aid_ids_shown(page.text)
    assert region.status_code == 200 and AIN in aid_ids_shown(region.text)
