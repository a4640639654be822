"""`aides serve` in a real browser: Debian's Chromium driven by Playwright, headless.

The application runs under uvicorn on 127.0.0.1 (a free port), on the hermetic warehouse of
``test_webapp.py``. A visitor finds a commune and reads its aids; an agent logs in with a
token, downloads the pre-filled file, uploads a broken then a good version, and another
agent's upload of that territory is refused. Screenshots go to ``data/screenshots/``
(``territoire.png``, ``rapport-erreurs.png``) for a human to look at the DSFR rendering.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_test_helpers import SCREENSHOTS, needs_chromium, served

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """uvicorn serving the application on a hermetic warehouse, in a thread of this process."""
    from test_webapp import build_warehouse

    from webapp.app import create_app

    built = build_warehouse(tmp_path_factory.mktemp("navigateur") / "warehouse")
    with served(create_app(built["paths"])) as url:
        yield {**built, "url": url}


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
    page.get_by_label("Fichier des aides").set_input_files(
        {"name": "aides-angers.csv", "mimeType": "text/csv", "buffer": bad}
    )
    page.get_by_role("button", name="Envoyer et vérifier").click()
    assert page.get_by_role("heading", name="Fichier refusé").is_visible()
    report = page.get_by_role("table", name="Problèmes trouvés")
    text = report.text_content()
    assert "date_ouverture" in text and "15/01/2026" in text and "echelle" in text
    _assert_dsfr_rendered(page)
    page.screenshot(path=str(SCREENSHOTS / "rapport-erreurs.png"), full_page=True)

    page.get_by_label("Fichier des aides").set_input_files(
        {"name": "aides-angers.csv", "mimeType": "text/csv", "buffer": good}
    )
    page.get_by_role("button", name="Envoyer et vérifier").click()
    assert page.get_by_role("heading", name="Fichier accepté").is_visible()
    assert len(list((server["paths"].root / "submissions").iterdir())) == 1

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(server["url"] + "/")
    _log_in(page, server["tokens"]["avrille"])
    page.goto("/soumettre")
    page.get_by_label("Fichier des aides").set_input_files(
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


# --------------------------------------------------------------------------- issue 16: files as agents write them


def _upload(page, name: str, content: bytes) -> None:
    page.goto("/soumettre")
    page.get_by_label("Fichier des aides").set_input_files({"name": name, "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name="Envoyer et vérifier").click()
    page.wait_for_load_state()


def test_an_excel_style_file_is_accepted_with_its_warnings(page, server):
    """« ; », Windows-1252, JJ/MM/AAAA, « 1 500 € », « Particuliers », « Ajout »: accepted, each reading stated."""
    from test_submission_report import angers_row, as_csv

    _log_in(page, server["tokens"]["angers"])
    row = angers_row(
        action="Ajout",
        titre="Aide à l'achat d'un composteur (navigateur)",
        date_cloture="31/12/2026",
        montant_max="1 500 €",
        cibles="Particuliers",
    )
    _upload(page, "aides-excel.csv", as_csv([row], ";", "cp1252"))
    assert page.get_by_role("heading", name="Fichier accepté").is_visible()
    report = page.get_by_role("table", name="Problèmes trouvés").text_content()
    assert "lu 31/12/2026 comme 2026-12-31" in report and "lu 1 500 € comme 1500." in report
    assert "lu « Particuliers » comme « particuliers »." in report and "lu « Ajout » comme « ajout »." in report
    assert "Windows-1252" in report and "points-virgules" in report
    _assert_dsfr_rendered(page)


def test_25000_errors_are_reported_as_25000_and_the_report_is_readable_at_375_px(browser, server):
    from test_submission_report import as_csv, rows_with_five_errors

    rows = rows_with_five_errors(5000)
    context = browser.new_context(
        base_url=server["url"], locale="fr-FR", viewport={"width": 375, "height": 800}, accept_downloads=True
    )
    tab = context.new_page()
    try:
        _log_in(tab, server["tokens"]["angers"])
        _upload(tab, "aides-erreurs.csv", as_csv(rows))
        assert tab.get_by_role("heading", name="Fichier refusé : 25\u202f000 erreurs à corriger").is_visible()
        assert "25\u202f000 erreurs" in tab.locator("#rapport-resume").inner_text()
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
        # every cell of a problem, « Quoi corriger » included, is inside the screen
        first = tab.locator("#table-rapport tbody tr").first
        for label in ("Ligne", "Colonne", "Valeur", "Quoi corriger"):
            box = first.locator(f'td[data-label="{label}"]').bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, (label, box)
        assert first.locator('td[data-label="Quoi corriger"]').is_visible()
        region = tab.locator("#table-rapport .fr-table__container")
        assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        first.scroll_into_view_if_needed()
        tab.screenshot(path=str(SCREENSHOTS / "rapport-375px.png"), full_page=False)
        tab.get_by_role("link", name="Page suivante").first.click()
        assert "Problèmes 101 à 200 sur 25\u202f000" in tab.locator("#rapport-page").inner_text()
        with tab.expect_download() as download:
            tab.get_by_role("link", name="Télécharger le rapport complet").click()
        lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
        assert len(lines) == 25_001
    finally:
        context.close()


def test_logout_then_replaying_the_old_cookie_is_refused(page, server):
    _log_in(page, server["tokens"]["angers"])
    old = [c for c in page.context.cookies() if c["name"] == "aides_session"]
    assert old
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(server["url"] + "/")
    page.context.clear_cookies()
    page.context.add_cookies(old)
    page.goto("/mon-territoire")
    assert page.url.startswith(server["url"] + "/connexion")
    page.goto("/mon-territoire/soumission.csv")
    assert page.url.startswith(server["url"] + "/connexion")
