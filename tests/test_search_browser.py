"""Issue 16, point 2, in a real browser on the real COG referential: what people type finds the
commune they mean first (Cherbourg, Evry, 75011)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_test_helpers import chromium, needs_chromium, served
from warehouse_test_helpers import warehouse_with_referential

pytestmark = [needs_chromium, pytest.mark.registry]


@pytest.fixture(scope="module")
def site(referential_package, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from webapp.app import create_app

    paths = warehouse_with_referential(tmp_path_factory.mktemp("recherche-cog"), referential_package)
    with served(create_app(paths)) as url:
        yield url


@pytest.fixture
def page(site) -> Iterator:
    with chromium() as browser:
        context = browser.new_context(base_url=site, locale="fr-FR", viewport={"width": 375, "height": 800})
        yield context.new_page()


def _search(page, text: str) -> None:
    page.goto("/")
    page.get_by_label("Commune, code postal, code INSEE").fill(text)
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()


def test_cherbourg_goes_to_cherbourg_en_cotentin(page, site) -> None:
    _search(page, "Cherbourg")
    page.wait_for_url("**/territoire/50129")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Cherbourg-en-Cotentin")


def test_evry_lists_evry_courcouronnes_first_with_its_departement(page) -> None:
    _search(page, "Evry")
    first = page.locator("main ul li a[href^='/territoire/']").first
    assert first.get_attribute("href") == "/territoire/91228"
    assert "Évry-Courcouronnes" in first.inner_text() and "Essonne" in page.locator("main").inner_text()
    assert page.locator("a[href='/territoire/89162']").count() == 1  # the Yonne village, listed, not chosen


def test_75011_lists_paris_first(page) -> None:
    _search(page, "75011")
    if "/territoire/" in page.url:  # a single answer goes straight to the commune
        assert page.url.endswith("/territoire/75056")
    else:
        first = page.locator("main ul li a[href^='/territoire/']").first
        assert first.get_attribute("href") == "/territoire/75056"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
