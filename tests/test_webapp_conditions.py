"""Issue 16, point 3: an aid's page says the conditions the catalogue publishes, in plain French,
and no page shows raw Markdown (webapp/conditions.py, webapp/markdown.py).

The readings are checked on their own and against the published schema (every condition field
has a reading, every number a unit); then on the pages of the hermetic warehouse of
``test_webapp.py`` with one more aid, written in Markdown with hostile bits, and in Chromium at
375 px.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from browser_test_helpers import CHROMIUM, CHROMIUM_ARGS, free_port, needs_chromium

from schemas import field_names, published_field
from sources.record import ELIGIBILITY_FIELDS
from webapp.conditions import CONDITION_FIELDS, SUMMARY_FIELDS, conditions, summary, unit_of
from webapp.queries import AID_PAGE_FIELDS

NBSP, NNBSP = "\u00a0", "\u202f"


def lines(aid: dict, section: str) -> dict[str, str]:
    return {c.label: c.text or " | ".join(c.items) for c in conditions(aid)[section]}


# --------------------------------------------------------------------------- readings


def test_the_conditions_read_fields_of_the_published_schema():
    assert CONDITION_FIELDS <= set(field_names()), "webapp/conditions.py : un champ hors du schéma"
    assert {"cibles", *ELIGIBILITY_FIELDS} <= CONDITION_FIELDS and SUMMARY_FIELDS <= CONDITION_FIELDS
    assert CONDITION_FIELDS <= AID_PAGE_FIELDS  # never listed again under « Autres informations »
    for name in sorted(CONDITION_FIELDS):
        field = published_field(name)
        if field.type in ("number", "integer"):
            assert unit_of(field), f"schemas/schema.json : la description de {name} ne dit plus son unité"


def test_every_condition_field_shows_when_filled_and_nothing_when_empty():
    empty = {name: None for name in CONDITION_FIELDS}
    assert all(found == [] for found in conditions(empty).values())
    assert all(found == [] for found in conditions({**empty, "cibles": [], "situations": []}).values())
    full = {
        "cibles": ["particuliers"],
        "objets_finances": ["vélo électrique"],
        "etat_materiel": ["neuf"],
        "age_min": 16,
        "age_max": 25,
        "situations": ["étudiant"],
        "categories_revenus": ["modestes"],
        "plafond_rfr_par_part": 15400.0,
        "plafond_rfr_periode": "an",
        "depense_min": 500.0,
        "depense_max": 3000.0,
        "effectif_min": 11,
        "effectif_max": 249,
        "montant_max": 500.0,
        "taux_max": 40.0,
        "plafond_depense": 2000.0,
        "montants_conditionnels": ["400 € si vélo cargo électrique", "300 € sinon"],
        "date_ouverture": date(2026, 1, 1),
        "date_cloture": date(2026, 12, 31),
        "recurrence": "permanente",
    }
    assert set(full) == CONDITION_FIELDS  # a field added to a section must be added here
    shown = {name for found in conditions(full).values() for c in found for name in c.fields}
    assert shown == CONDITION_FIELDS


def test_who_and_what_in_plain_french():
    aid = {
        "cibles": ["particuliers", "associations"],
        "objets_finances": ["vélo électrique", "kit d'électrification"],
        "etat_materiel": ["occasion"],
        "age_min": 16,
        "age_max": 25,
        "situations": ["étudiant", "apprenti"],
        "categories_revenus": ["très modestes", "modestes"],
        "plafond_rfr_par_part": 15400.0,
        "plafond_rfr_periode": "an",
        "depense_min": 600.0,
        "effectif_max": 249,
    }
    assert lines(aid, "eligibilite") == {
        "Bénéficiaires": "particuliers, associations",
        "Ce que l'aide finance": "vélo électrique ou kit d'électrification",  # « l'un ou l'autre »
        "État du matériel": "occasion",
        "Âge": f"de 16 à 25{NBSP}ans",
        "Situations": "étudiant, apprenti",
        "Catégories de revenus": "très modestes, modestes",
        "Revenu fiscal de référence par part": f"15{NNBSP}400{NBSP}€ au plus par an",
        "Dépense": f"au moins 600{NBSP}€",
        "Effectif": f"au plus 249{NBSP}salariés",
    }
    # the labels are the schema's titles, in its column order
    assert [c.label for c in conditions(aid)["eligibilite"]][:3] == [
        "Bénéficiaires",
        "Ce que l'aide finance",
        "État du matériel",
    ]


@pytest.mark.parametrize(
    "bounds, text",
    [
        ({"age_min": 18}, f"au moins 18{NBSP}ans"),
        ({"age_max": 25}, f"au plus 25{NBSP}ans"),
        ({"age_min": 18, "age_max": 18}, f"18{NBSP}ans"),
        ({"depense_min": 500.0, "depense_max": 2500.5}, f"de 500{NBSP}€ à 2{NNBSP}500,50{NBSP}€"),
        ({"effectif_min": 1}, f"au moins 1{NBSP}salarié"),
    ],
)
def test_ranges(bounds, text):
    (condition,) = conditions(bounds)["eligibilite"]
    assert condition.text == text and set(condition.fields) >= set(bounds)


def test_amounts_and_calendar():
    aid = {
        "montant_max": 1500.5,
        "taux_max": 33.5,
        "plafond_depense": 20000.0,
        "montants_conditionnels": ["200 € si revenu fiscal de référence par part <= 14089 €/an", "100 € sinon"],
        "date_ouverture": date(2026, 3, 1),
        "date_cloture": date(2026, 6, 30),
        "recurrence": "ponctuelle",
    }
    assert lines(aid, "montant") == {
        "Montant maximal": f"1{NNBSP}500,50{NBSP}€",
        "Taux maximal": f"33,5{NBSP}%",
        "Plafond de la dépense éligible": f"20{NNBSP}000{NBSP}€",
        "Montants selon la situation": (
            f"200 € si revenu fiscal de référence par part ≤ 14{NNBSP}089{NBSP}€ par an | 100 € sinon"
        ),
    }
    (amounts,) = [c for c in conditions(aid)["montant"] if c.items]
    assert len(amounts.items) == 2 and amounts.text == ""  # one line each
    assert lines(aid, "calendrier") == {"Dates": "du 1er mars 2026 au 30 juin 2026", "Récurrence": "ponctuelle"}
    assert lines({"date_cloture": date(2026, 6, 30)}, "calendrier") == {"Dates": "jusqu'au 30 juin 2026"}
    assert lines({"date_ouverture": date(2026, 3, 1)}, "calendrier") == {"Dates": "à partir du 1er mars 2026"}


def test_a_published_csv_cell_reads_like_a_list():
    assert lines({"cibles": "particuliers|associations"}, "eligibilite") == {
        "Bénéficiaires": "particuliers, associations"
    }


def test_summary_for_the_territory_tables():
    assert summary({"cibles": ["particuliers"], "age_min": 18, "age_max": 25}) == f"Particuliers ; de 18 à 25{NBSP}ans"
    assert summary({"cibles": ["professionnels"], "effectif_min": 11, "montant_max": 500.0}) == (
        f"Professionnels ; au moins 11{NBSP}salariés"
    )
    assert summary({"cibles": [], "age_min": None}) == ""


# --------------------------------------------------------------------------- pages

MARKDOWN_AID = "3f0c3d4e-5b8e-5a41-9d7e-7a1c2b3d4e5f"
LONG_URL = "https://exemple.test/" + "/".join(["une-adresse-tres-longue-sans-espace"] * 6)
DESCRIPTION = f"""Une aide **très** demandée.

- premier point
- second point avec [la fiche](https://exemple.test/fiche)

<script>alert('description')</script>

[piège](javascript:alert(1)) et <a href="javascript:alert(2)">lien brut</a> ![pixel](https://evil.test/pixel.png)

Voir <{LONG_URL}>"""
ELIGIBILITE = (
    "# Conditions\n\n1. Avoir son siège à Angers\n2. Compter **11 salariés** au moins\n\n<img src=x onerror=alert(3)>"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The warehouse of test_webapp.py, with one more aid of Angers written in Markdown."""
    import test_webapp

    extra = test_webapp._aid(
        MARKDOWN_AID,
        "Prime **vélo cargo** des entreprises",
        ["COM-49007"],
        promesse="Équipez *vos salariés* <script>alert('promesse')</script>",
        description=DESCRIPTION,
        eligibilite=ELIGIBILITE,
        cibles=["professionnels", "associations"],
        effectif_min=11,
        effectif_max=249,
        montant_max=None,
        taux_max=40.0,
        date_ouverture="2026-03-01",
        date_cloture="2026-12-31",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_webapp, "AIDES", [*test_webapp.AIDES, extra])
        record = ("ville-angers:cargo", MARKDOWN_AID, "ville-angers", "cargo", True, "Prime **vélo cargo**", None, True)
        patch.setattr(test_webapp, "PROVENANCE", [*test_webapp.PROVENANCE, record])
        return test_webapp.build_warehouse(tmp_path_factory.mktemp("conditions") / "warehouse")


@pytest.fixture(scope="module")
def client(built):
    from test_webapp import TestClient

    from webapp.app import create_app

    return TestClient(create_app(built["paths"]), raise_server_exceptions=False)


def _content(html: str) -> str:
    """The page's main content, without the layout's own scripts."""
    return html[html.index('id="contenu"') : html.index("</main>")]


def test_aid_page_renders_markdown_safely(client):
    page = client.get(f"/aide/{MARKDOWN_AID}")
    assert page.status_code == 200
    html = page.text
    content = _content(html)
    assert "<title>Prime vélo cargo des entreprises" in html and "<h1>Prime vélo cargo des entreprises</h1>" in html
    assert "Équipez vos salariés &lt;script&gt;" in content  # the promise as plain text
    description = content[content.index('id="description"') : content.index('id="eligibilite"')]
    assert "<strong>très</strong>" in description and "<li>premier point</li>" in description
    assert '<a href="https://exemple.test/fiche" rel="noopener noreferrer">la fiche</a>' in description
    assert "&lt;script&gt;alert(&#39;description&#39;)&lt;/script&gt;" in description or (
        "&lt;script&gt;alert('description')&lt;/script&gt;" in description
    )
    assert "piège et" in description and "pixel" in description
    eligibilite = content[content.index('id="eligibilite"') :]
    assert "<h3>Conditions</h3>" in eligibilite and "<li>Avoir son siège à Angers</li>" in eligibilite
    # nothing raw, nothing hostile
    assert "**" not in content and "](" not in content and "\n- " not in content
    assert "<script" not in content and "<img" not in content
    for rendered in (description, eligibilite[: eligibilite.index("</div>")]):
        assert all(href.startswith("https://") for href in re.findall(r'href="([^"]*)"', rendered))
    assert not re.search(r"<[^>]+\son\w+=", content)
    provenance = content[content.index('id="table-provenance"') :]
    assert "Prime vélo cargo</td>" in provenance  # the source's title, as plain text


def test_aid_page_lists_the_published_conditions(client):
    content = _content(client.get(f"/aide/{MARKDOWN_AID}").text)
    block = content[content.index('id="conditions-structurees"') :]
    block = block[: block.index("</dl>")]
    assert "<dt>Bénéficiaires</dt>" in block and "professionnels, associations" in block
    assert "<dt>Effectif</dt>" in block and f"de 11 à 249{NBSP}salariés" in block
    assert "Âge" not in block  # only what the aid states
    assert f'<dt>Taux maximal</dt>\n<dd data-champs="taux_max">40{NBSP}%</dd>' in content
    assert "Montant maximal" not in content
    assert "du 1er mars 2026 au 31 décembre 2026" in content
    assert 'id="autres-champs"' not in content or "Âge minimal" not in content


def test_territory_table_sums_up_the_conditions_as_plain_text(client):
    html = client.get("/territoire/49007").text

    def row(identifier: str) -> str:
        start = html.index(f'data-aide="{identifier}"')
        return html[start : html.index("</tr>", start)]

    from test_webapp import VELO

    mine = row(MARKDOWN_AID)
    assert ">Prime vélo cargo des entreprises</a>" in mine and "**" not in mine
    assert f'data-resume="conditions">Professionnels, associations ; de 11 à 249{NBSP}salariés<' in mine
    assert "Équipez vos salariés &lt;script&gt;" in mine
    assert f'data-resume="conditions">Particuliers ; de 18 à 25{NBSP}ans<' in row(VELO)


@needs_chromium
@pytest.mark.parametrize("path", [f"/aide/{MARKDOWN_AID}", "/territoire/49007"])
def test_pages_with_markdown_and_conditions_fit_a_375_px_screen(built, path):
    import threading
    import time

    import uvicorn
    from playwright.sync_api import sync_playwright

    from webapp.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(built["paths"]), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn n'a pas démarré"
        time.sleep(0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            tab = browser.new_page(viewport={"width": 375, "height": 800}, locale="fr-FR")
            tab.goto(f"http://127.0.0.1:{port}{path}")
            width = tab.evaluate("document.documentElement.scrollWidth")
            browser.close()
        assert width <= 375, f"{path} : {width} px de large"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
