"""Issue 16: axe-core (the npm package, pinned in web/package.json) finds no serious or critical
accessibility violation on the public pages, the report of a submitted file and the agent pages.

Chromium runs the pages of the hermetic warehouse of ``test_webapp.py`` under uvicorn; axe is
injected into each page (CSP bypassed for the injection only) and run on the whole document.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_test_helpers import needs_chromium, served

from warehouse.settings import PROJECT_ROOT

AXE = PROJECT_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
PUBLIC_PAGES = [
    "/",
    "/?q=Angers",
    "/territoire/COM-49007",
    "/territoire/DEP-49",
    "/telechargements",
    "/connexion",
    "/api/",
    "/couverture",
    "/page-qui-n-existe-pas",
]

pytestmark = [
    needs_chromium,
    pytest.mark.skipif(not AXE.exists(), reason="axe-core absent : `make web` l'installe (web/package.json)"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from test_webapp import build_warehouse

    from webapp.app import create_app

    built = build_warehouse(tmp_path_factory.mktemp("accessibilite") / "warehouse")
    with served(create_app(built["paths"])) as url:
        yield {**built, "url": url}


@pytest.fixture(params=[1280, 375], ids=["bureau", "mobile"])
def page(request, browser, site) -> Iterator:
    context = browser.new_context(
        base_url=site["url"], locale="fr-FR", viewport={"width": request.param, "height": 900}, bypass_csp=True
    )
    yield context.new_page()
    context.close()


def blocking_violations(page) -> list[dict]:
    """axe's violations of impact serious or critical on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
        }))"""
    )
    return [v for v in violations if v["impact"] in BLOCKING]


def log_in(page, token: str) -> None:
    page.goto("/connexion")
    page.get_by_label("Jeton d'accès").fill(token)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/mon-territoire")


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages(page, path) -> None:
    page.goto(path)
    assert blocking_violations(page) == []


def test_an_aid_page(page) -> None:
    from test_webapp import VELO

    page.goto(f"/aide/{VELO}")
    assert blocking_violations(page) == []


def test_agent_pages_and_the_report_of_a_file(page, site) -> None:
    from test_submission_report import angers_row, as_csv

    log_in(page, site["tokens"]["angers"])
    assert blocking_violations(page) == [], "/mon-territoire"
    page.goto("/soumettre")
    assert blocking_violations(page) == [], "/soumettre"
    rows = [angers_row(cibles="tout le monde", date_cloture="31/12/2026", description=f"n° {i}") for i in range(150)]
    page.get_by_label("Fichier des aides").set_input_files(
        {"name": "aides.csv", "mimeType": "text/csv", "buffer": as_csv(rows, ";", "cp1252")}
    )
    page.get_by_role("button", name="Envoyer et vérifier").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Fichier refusé").is_visible()
    assert blocking_violations(page) == [], "rapport"
    page.get_by_role("link", name="Page suivante").first.click()
    page.wait_for_load_state()
    assert blocking_violations(page) == [], "rapport, page 2"
