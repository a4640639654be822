"""``/couverture`` in a real browser: Debian's Chromium driven by Playwright, headless.

The application runs under uvicorn on 127.0.0.1 on the real-COG warehouse of ``test_coverage.py``
(hence the ``registry`` mark). The map is drawn (one path per département of metropolitan
France), the page fits a 375 px screen, a column header sorts the table, an agent's « relu, rien
à signaler » shows at once, and axe-core (``web/node_modules``, installed by ``make web``) finds
no serious or critical violation. The screenshot goes to the test's folder and to
``data/screenshots/couverture.png`` for a human to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_test_helpers import SCREENSHOTS, needs_chromium, served

from warehouse.settings import PROJECT_ROOT

pytestmark = [needs_chromium, pytest.mark.registry]
AXE = PROJECT_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, referential_package) -> Iterator[dict]:
    """uvicorn serving the application on the coverage warehouse, in a thread of this process."""
    from test_coverage import build_coverage_warehouse

    from webapp.app import create_app

    built = build_coverage_warehouse(
        tmp_path_factory.mktemp("couverture-navigateur") / "warehouse", referential_package
    )
    with served(create_app(built["paths"])) as url:
        yield {**built, "url": url}


def _tab(browser, server, width: int, height: int = 900, **options):
    context = browser.new_context(
        base_url=server["url"], locale="fr-FR", viewport={"width": width, "height": height}, **options
    )
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.console_problems = problems  # type: ignore[attr-defined]
    return context, tab


def test_the_map_is_drawn_and_the_page_fits_a_375_px_screen(browser, server, tmp_path: Path):
    context, page = _tab(browser, server, 1280)
    try:
        page.goto("/couverture")
        carte = page.locator("svg#carte-couverture")
        assert carte.get_attribute("role") == "img" and carte.get_attribute("aria-label")
        paths = carte.locator("path")
        assert 90 <= paths.count() <= 110  # the 96 départements of metropolitan France
        assert paths.first.locator("title").text_content()
        box = carte.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 300  # drawn, not collapsed
        assert "Marianne" in page.evaluate("getComputedStyle(document.body).fontFamily")
        assert page.console_problems == []  # no CSP refusal, no script error
        assert page.get_by_role("link", name="Télécharger couverture.csv").count() == 1
        page.screenshot(path=str(tmp_path / "couverture.png"), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "couverture.png", SCREENSHOTS / "couverture.png")
    finally:
        context.close()
    context, small = _tab(browser, server, 375, 800)
    try:
        small.goto("/couverture")
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"/couverture : {width} px de large"
        assert small.locator("svg#carte-couverture path").count() >= 90
        small.screenshot(path=str(tmp_path / "couverture-375px.png"), full_page=True)
    finally:
        context.close()


def test_a_column_header_sorts_the_table(browser, server):
    context, page = _tab(browser, server, 1280)
    try:
        page.goto("/couverture?niveau=commune")
        page.get_by_role("link", name="Population (trier par ordre croissant)").click()
        page.wait_for_url("**tri=population**")
        page.get_by_role("link", name="Population (trier par ordre décroissant)").click()
        page.wait_for_url("**ordre=desc**")
        header = page.get_by_role("columnheader", name="Population")
        assert header.get_attribute("aria-sort") == "descending"
        assert page.locator("tbody tr").first.get_attribute("data-code") == "COM-75056"  # Paris
    finally:
        context.close()


def test_an_agent_declares_relu_rien_a_signaler(browser, server):
    context, page = _tab(browser, server, 1280)
    try:
        page.goto("/connexion")
        page.get_by_label("Jeton d'accès").fill(server["tokens"]["nantes"])
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/mon-territoire")
        page.get_by_label("Commentaire (facultatif)").fill("Rien à ajouter.")
        page.get_by_role("button", name="Relu, rien à signaler").click()
        page.wait_for_url("**/mon-territoire?relu=1*")
        assert page.get_by_text("Votre relecture est enregistrée").is_visible()
        assert "Rien à ajouter." in page.locator("#derniere-relecture").inner_text()
        page.goto("/couverture?departement=44&niveau=commune")
        nantes = page.locator('tr[data-code="COM-44109"]')
        assert "relu, rien à signaler" in nantes.inner_text()
    finally:
        context.close()


@pytest.mark.skipif(not AXE.exists(), reason="axe-core absent de web/node_modules : `make web`")
def test_axe_finds_no_serious_violation_on_the_coverage_page(browser, server):
    # axe is injected as a script of the page: the site's CSP would (rightly) refuse it
    context, page = _tab(browser, server, 1280, bypass_csp=True)
    try:
        page.goto("/couverture")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []
    finally:
        context.close()
