"""`aides serve` in a real browser: Debian's Chromium driven by Playwright, headless.

The application runs under uvicorn on 127.0.0.1 (a free port), on the hermetic warehouse of
``test_webapp.py``. A visitor finds a commune and reads its aids; an agent logs in with a
token, downloads the pre-filled file, uploads a broken then a good version, and another
agent's upload of that territory is refused. Screenshots go to ``data/screenshots/``
(``territoire.png``, ``rapport-erreurs.png``) for a human to look at the DSFR rendering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_test_helpers import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, free_port, needs_chromium

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """uvicorn serving the application on a hermetic warehouse, in a thread of this process."""
    import uvicorn
    from test_webapp import build_warehouse

    from webapp.app import create_app

    built = build_warehouse(tmp_path_factory.mktemp("navigateur") / "warehouse")
    port = free_port()
    instance = uvicorn.Server(
        uvicorn.Config(create_app(built["paths"]), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn n'a pas démarré")
        time.sleep(0.05)
    yield {**built, "url": f"http://127.0.0.1:{port}"}
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server) -> Iterator:
    context = browser.new_context(
        base_url=server["url"], locale="fr-FR", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.console_problems = problems  # type: ignore[attr-defined]
    yield tab
    context.close()


def _assert_dsfr_rendered(page) -> None:
    """The DSFR stylesheet is applied (Marianne font, blue service title), and no console error (CSP…)."""
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Marianne" in font, font
    assert page.evaluate("document.fonts.check('16px Marianne')")
    # The answer's own status (422, 403) is reported by Chromium as a failed load: expected here.
    problems = [p for p in page.console_problems if "the server responded with a status of 4" not in p]
    assert problems == [], problems


def _log_in(page, token: str) -> None:
    page.goto("/connexion")
    page.get_by_label("Jeton d'accès").fill(token)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/mon-territoire")


def test_visitor_finds_a_commune_and_reads_its_aids(page):
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.get_by_label("Commune, code postal, code INSEE").fill("Angers")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url("**/territoire/49007")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Angers")
    for group in ("Commune", "Intercommunalité (EPCI)", "Département", "Région", "National et européen"):
        assert page.get_by_role("heading", level=2, name=group).count() == 1
    velo = page.get_by_role("row").filter(has_text="Aide à l'achat d'un vélo")
    assert "ouverte" in velo.text_content() and "Doublon possible" in velo.text_content()
    closed = page.get_by_role("row").filter(has_text="Chèque énergie départemental")
    assert "Clôturée, encore en ligne" in closed.text_content()
    _assert_dsfr_rendered(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "territoire.png"), full_page=True)
    page.get_by_role("link", name="Aide à l'achat d'un vélo").click()
    assert page.get_by_role("heading", level=2, name="Provenance").is_visible()


def test_shared_postal_code_offers_the_communes(page):
    page.goto("/")
    page.get_by_label("Commune, code postal, code INSEE").fill("01400")
    page.get_by_role("button", name="Rechercher").click()
    assert page.get_by_text("partagé par 2 communes").is_visible()
    page.get_by_role("link", name="Châtillon-sur-Chalaronne").click()
    page.wait_for_url("**/territoire/01093")


def test_agent_uploads_a_bad_then_a_good_file_and_another_territory_is_refused(page, server):
    _log_in(page, server["tokens"]["angers"])
    assert "Angers" in page.get_by_role("main").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le fichier pré-rempli").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    good = ("\n".join([lines[0], *("correction" + line for line in lines[1:])]) + "\n").encode("utf-8")
    bad = good.replace(b"2026-01-15T00:00:00+01:00", b"15/01/2026").replace(b",commune,", b",communal,")

    page.goto("/soumettre")
    page.get_by_label("Fichier CSV des aides").set_input_files(
        {"name": "aides-angers.csv", "mimeType": "text/csv", "buffer": bad}
    )
    page.get_by_role("button", name="Envoyer et vérifier").click()
    assert page.get_by_role("heading", name="Fichier refusé").is_visible()
    report = page.get_by_role("table", name="Problèmes trouvés")
    text = report.text_content()
    assert "date_ouverture" in text and "15/01/2026" in text and "echelle" in text
    _assert_dsfr_rendered(page)
    page.screenshot(path=str(SCREENSHOTS / "rapport-erreurs.png"), full_page=True)

    page.get_by_label("Fichier CSV des aides").set_input_files(
        {"name": "aides-angers.csv", "mimeType": "text/csv", "buffer": good}
    )
    page.get_by_role("button", name="Envoyer et vérifier").click()
    assert page.get_by_role("heading", name="Fichier accepté").is_visible()
    assert len(list((server["paths"].root / "submissions").iterdir())) == 1

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(server["url"] + "/")
    _log_in(page, server["tokens"]["avrille"])
    page.goto("/soumettre")
    page.get_by_label("Fichier CSV des aides").set_input_files(
        {"name": "aides-angers.csv", "mimeType": "text/csv", "buffer": good}
    )
    with page.expect_response("**/soumettre") as response:
        page.get_by_role("button", name="Envoyer et vérifier").click()
    assert response.value.status == 403
    assert page.get_by_role("heading", name="Envoi refusé : hors de votre territoire").is_visible()
    assert len(list((server["paths"].root / "submissions").iterdir())) == 1  # nothing more stored


@pytest.mark.parametrize(
    "path",
    ["/", "/territoire/COM-49007", "/territoire/DEP-49", "/telechargements", "/connexion", "/api/"],
)
def test_no_page_is_wider_than_a_375_px_screen(browser, server, path):
    """Issue 16, point 3: no horizontal scroll at 375 px (tables scroll inside their own region)."""
    context = browser.new_context(base_url=server["url"], locale="fr-FR", viewport={"width": 375, "height": 800})
    tab = context.new_page()
    try:
        tab.goto(path)
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} : {width} px de large"
    finally:
        context.close()
