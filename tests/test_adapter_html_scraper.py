"""The configurable HTML scraper on two sites of different structure (Angers, Gironde).

No real payload of these sites is in ../shared: tests/fixtures/ville-angers/ and
tests/fixtures/departement-gironde/ reproduce their list and detail pages' structure.
"""

from __future__ import annotations

import dataclasses
import json

from collect_test_helpers import context as _context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import FIXTURES

from sources.adapters import html_scraper
from sources.adapters.html import FETCH_ERROR_MEDIA
from sources.base import Payload, SourceSpec
from sources.fetch.transport import ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec

ANGERS = get_spec("ville-angers")
GIRONDE = get_spec("departement-gironde")
ANGERS_LIST = "https://www.angers.fr/vivre-a-angers/environnement/aides-a-la-transition-ecologique/"
GIRONDE_LIST = "https://www.gironde.fr/aides-et-subventions?thematique=transition-ecologique"


def _html(content: str) -> bytes:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{content}</body></html>".encode()


def test_angers_cards_over_two_pages_through_collect(tmp_path):
    replay = ReplayTransport.from_folder(FIXTURES / ANGERS.name)
    payload = html_scraper.collect(ANGERS, _context(tmp_path, replay))
    names = [doc.name for doc, _ in payload.documents]
    assert names[:2] == [ANGERS_LIST + "index.html", ANGERS_LIST + "index.html?page=2"]
    assert len(names) == 7

    result = html_scraper.parse(ANGERS, payload)
    assert result.rejections == []
    assert [r.titre for r in result.records] == [
        "Aide à l'achat d'un composteur",
        "Récupérateur d'eau de pluie",
        "Aide à l'achat d'un vélo à assistance électrique",
        "Végétaliser le pied de sa façade",
        "Rénovation énergétique : Mieux chez moi",
    ]
    composteur, eau, velo = result.records[:3]
    assert composteur.native_id == ANGERS_LIST + "composteur/index.html"
    assert composteur.montants == ["20 € pour un composteur de 300 L", "30 € pour un composteur de 600 L"]
    assert composteur.porteurs == ["Angers Loire Métropole"]  # stated on the page: wins over the constant
    assert composteur.description.startswith("<p>Un tiers de nos poubelles est composé de déchets organiques.")
    assert "<li>Bio-seau offert</li>" in composteur.description  # @html keeps the markup
    assert composteur.promesse == "Angers Loire Métropole participe à l'achat d'un composteur individuel."
    assert composteur.thematiques == ["Déchets", "Jardin"]
    assert composteur.url_demarche == "https://e-services.angers.fr/demarches/composteur"
    assert composteur.geo_inclusions == [GeoMention("commune", code="49007", nom="Angers")]
    assert composteur.niveau == "commune"
    assert eau.porteurs == ["Ville d'Angers"]  # not stated: the constant
    assert eau.date_cloture == "31 décembre 2025"
    assert eau.cibles == ["Particuliers", "Copropriétés"]
    # A relative href is resolved against the detail page's URL.
    assert eau.url_demarche == "https://www.angers.fr/vivre-a-angers/demarches/recuperateur-eau/formulaire.html"
    assert velo.montants == ["jusqu'à 400 €"] and velo.date_cloture is None
    assert velo.raw == {
        "url": ANGERS_LIST + "velo-a-assistance-electrique/index.html",
        "titre": "Aide à l'achat d'un vélo à assistance électrique",
        "promesse": "Une aide pour l'achat d'un vélo à assistance électrique neuf ou d'occasion.",
        "description": velo.description,
        "montants": ["jusqu'à 400 €"],
        "cibles": ["Particuliers"],
        "porteurs": ["Angers Loire Métropole"],
        "url_demarche": "https://e-services.angers.fr/demarches/aide-vae",
        "thematiques": ["Mobilité", "Vélo"],
    }


def test_gironde_rows_with_a_next_link_and_a_page_without_body(tmp_path):
    replay = ReplayTransport.from_folder(FIXTURES / GIRONDE.name)
    payload = html_scraper.collect(GIRONDE, _context(tmp_path, replay))
    assert [doc.name for doc, _ in payload.documents][:2] == [GIRONDE_LIST, GIRONDE_LIST + "&page=1"]

    result = html_scraper.parse(GIRONDE, payload)
    assert [r.titre for r in result.records] == [
        "Plantation de haies champêtres",
        "Rénovation énergétique des bâtiments communaux",
        "Appel à projets « Alimentation durable et circuits courts »",
        "Gestion des cours d'eau et des zones humides",
    ]
    haies, renovation, alimentation, rivieres = result.records
    assert haies.taux == ["80 %"] and haies.cibles == ["Agriculteurs", "Communes", "Associations"]
    assert haies.eligibilite == "<p>Linéaire minimum de 100 mètres.</p>"
    assert (renovation.date_ouverture, renovation.date_cloture) == ("06/01/2025", "30/06/2025")  # as stated
    assert renovation.montants == ["plafonné à 100 000 € par projet"]
    assert (
        alimentation.url_demarche
        == "https://www.gironde.fr/aides-et-subventions/alimentation-durable/deposer-un-projet"
    )
    assert rivieres.taux == ["de 20 à 40 %"] and rivieres.url_demarche is None
    assert rivieres.geo_inclusions == [GeoMention("departement", code="33", nom="Gironde")]
    assert rivieres.financeurs == ["Département de la Gironde"]

    # The suspended aid has no body: rejected at its own URL, naming the missing field.
    assert len(result.rejections) == 1
    rejection = result.rejections[0]
    assert rejection.location == "https://www.gironde.fr/aides-et-subventions/velos-cargos-pour-les-associations"
    assert (
        rejection.reason
        == "champ obligatoire introuvable sur la page : description (sélecteur div.field--name-body@html)"
    )
    assert result.items_seen == 5


def test_a_detail_page_that_cannot_be_fetched_is_one_rejection(tmp_path):
    folder = FIXTURES / GIRONDE.name
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    files = {
        entry["url"]: folder / entry["file"]
        for entry in index["responses"]
        if "plantation-de-haies" not in entry["url"]
    }
    payload = html_scraper.collect(GIRONDE, _context(tmp_path, ReplayTransport.from_files(files)))
    haies = "https://www.gironde.fr/aides-et-subventions/plantation-de-haies-champetres"
    assert dict((doc.name, doc.media_type) for doc, _ in payload.documents)[haies] == FETCH_ERROR_MEDIA
    result = html_scraper.parse(GIRONDE, payload)
    assert len(result.records) == 3 and result.items_seen == 5
    failed = next(r for r in result.rejections if r.location == haies)
    assert failed.reason.startswith("page de détail indisponible : réponse non enregistrée")


def _spec(**config: object) -> SourceSpec:
    base = {
        "list_url": "https://www.example.fr/aides",
        "item_selector": "li.aide",
        "link_selector": "a",
        "next_selector": "a.suivante",
        "required": ["titre", "montants"],
        "detail": {
            "titre": "h1",
            "description": "div.corps@html",
            "montants": "p.montant",
            "url_demarche": "a.demarche@href",
        },
        "constants": {"geo": {"niveau": "commune", "nom": "Exempleville"}},
    }
    return dataclasses.replace(ANGERS, name="ville-exemple", config={**base, **config})


def _list_page(*hrefs: str | None, next_href: str | None = None) -> bytes:
    items = "".join(
        f"<li class='aide'><a href='{h}'>aide</a></li>" if h else "<li class='aide'>sans lien</li>" for h in hrefs
    )
    following = f"<a class='suivante' href='{next_href}'>Page suivante</a>" if next_href else ""
    return _html(f"<ul>{items}</ul>{following}")


def test_missing_selectors_duplicates_and_broken_pages_are_rejected_where_they_are():
    spec = _spec()
    good = _html(
        "<h1>Aide complète</h1><div class='corps'><p>Texte</p></div><p class='montant'>500 €</p>"
        "<a class='demarche' href='/demande'>Demander</a>"
    )
    no_amount = _html("<h1>Aide sans montant</h1><div class='corps'>x</div>")
    no_title = _html("<h2>Pas de h1</h2><p class='montant'>10 €</p>")
    truncated = good[: good.index(b"<p class='montant'>")]
    cp1252 = _html("<h1>Aide à l'éco-rénovation</h1><p class='montant'>1 000 €</p>").decode().encode("cp1252")
    payload = Payload.build(
        [
            ("https://www.example.fr/aides", _list_page("/a", "/b", None, "/c", "/a"), "text/html"),
            ("https://www.example.fr/a", good, "text/html"),
            ("https://www.example.fr/b", no_amount, "text/html"),
            ("https://www.example.fr/c", no_title, "text/html"),
        ]
    )
    result = html_scraper.parse(spec, payload)
    assert [(r.native_id, r.titre, r.montants, r.url_demarche) for r in result.records] == [
        ("https://www.example.fr/a", "Aide complète", ["500 €"], "https://www.example.fr/demande"),
    ]
    assert [(r.location, r.reason) for r in result.rejections] == [
        ("https://www.example.fr/b", "champ obligatoire introuvable sur la page : montants (sélecteur p.montant)"),
        (
            "https://www.example.fr/aides : page de liste 1, élément 3",
            "élément sans lien vers une page de détail (sélecteur « a »)",
        ),
        ("https://www.example.fr/c", "champ obligatoire introuvable sur la page : titre (sélecteur h1)"),
        (
            "https://www.example.fr/a",
            "aide déjà listée (https://www.example.fr/aides : page de liste 1, élément 1), "
            "ignorée ici (https://www.example.fr/aides : page de liste 1, élément 5)",
        ),
    ]
    assert result.items_seen == 5

    payload = Payload.build(
        [
            ("https://www.example.fr/aides", _list_page("/t", "/l", "/x"), "text/html"),
            ("https://www.example.fr/t", truncated, "text/html"),
            ("https://www.example.fr/l", cp1252, "text/html; charset=utf-8"),
            ("https://www.example.fr/x", b"\x00\xff\xfe<<<>>>", "text/html"),
        ]
    )
    result = html_scraper.parse(spec, payload)
    assert [(r.titre, r.montants) for r in result.records] == [("Aide à l'éco-rénovation", ["1 000 €"])]
    assert (
        result.records[0].raw["encodage"]
        == "octets non conformes à l'encodage déclaré (utf-8) : page lue en windows-1252"
    )
    assert [(r.location, r.reason) for r in result.rejections] == [
        ("https://www.example.fr/t", "page de détail tronquée (ni </body> ni </html>)"),
        ("https://www.example.fr/x", "page de détail tronquée (ni </body> ni </html>)"),
    ]


def test_a_list_page_without_items_is_one_rejection():
    spec = _spec()
    page = _html("<p>Le site est en maintenance</p>")
    result = html_scraper.parse(spec, Payload.build([("https://www.example.fr/aides", page, "text/html")]))
    assert result.records == []
    assert [(r.location, r.reason) for r in result.rejections] == [
        (
            "https://www.example.fr/aides (page de liste 1)",
            "aucune aide trouvée : le sélecteur « li.aide » ne désigne rien",
        ),
    ]


def test_pagination_stops_at_max_pages_and_on_loops(tmp_path):
    pages = {
        "https://www.example.fr/aides": _list_page("/a", next_href="/aides?p=2"),
        "https://www.example.fr/aides?p=2": _list_page("/b", next_href="/aides?p=3"),
        "https://www.example.fr/aides?p=3": _list_page("/c", next_href="/aides"),  # back to the start
    }
    detail = _html("<h1>Aide</h1><p class='montant'>1 €</p>")
    for letter in "abc":
        pages[f"https://www.example.fr/{letter}"] = detail
    files = {}
    for number, (url, content) in enumerate(pages.items()):
        path = tmp_path / f"page-{number}.html"
        path.write_bytes(content)
        files[url] = path

    looped = html_scraper.collect(_spec(max_pages=10), _context(tmp_path, ReplayTransport.from_files(files)))
    assert len(looped.documents) == 6
    assert len(html_scraper.parse(_spec(max_pages=10), looped).records) == 3

    capped = html_scraper.collect(_spec(max_pages=2), _context(tmp_path / "2", ReplayTransport.from_files(files)))
    assert [doc.name for doc, _ in capped.documents] == [
        "https://www.example.fr/aides",
        "https://www.example.fr/aides?p=2",
        "https://www.example.fr/a",
        "https://www.example.fr/b",
    ]
    assert [r.native_id for r in html_scraper.parse(_spec(max_pages=2), capped).records] == [
        "https://www.example.fr/a",
        "https://www.example.fr/b",
    ]


# -- generated corrupt payloads ---------------------------------------------------------
_DETAILS = [path.read_bytes() for path in sorted((FIXTURES / GIRONDE.name).glob("fiche-*.html"))]
_LIST = (FIXTURES / GIRONDE.name / "liste-page-1.html").read_bytes()
detail_bytes = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(_DETAILS),
    st.builds(lambda page, cut: page[:cut], st.sampled_from(_DETAILS), st.integers(0, 3000)),
    st.builds(lambda text: _html(text), st.text(max_size=200)),
)
hrefs = st.one_of(
    st.none(), st.sampled_from(["/a", "/b", "/c", "https://autre.example.org/d", "javascript:void(0)", "#"])
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(links=st.lists(hrefs, max_size=6), details=st.dictionaries(st.sampled_from(["a", "b", "c"]), detail_bytes))
def test_generated_list_and_detail_pages_account_for_every_item(links, details):
    spec = _spec()
    parts = [("https://www.example.fr/aides", _list_page(*links), "text/html")]
    parts += [(f"https://www.example.fr/{name}", content, "text/html") for name, content in details.items()]
    result = html_scraper.parse(spec, Payload.build(parts))
    assert result.items_seen == (len(links) or 1)
    for record in result.records:
        assert record.native_id.startswith("http") and record.titre.strip()
        json.dumps(record.to_row())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    listing=st.one_of(st.binary(max_size=400), st.builds(lambda cut: _LIST[:cut], st.integers(0, len(_LIST)))),
    detail=detail_bytes,
)
def test_corrupt_gironde_pages_never_raise(listing, detail):
    payload = Payload.build(
        [
            (GIRONDE_LIST, listing, "text/html"),
            ("https://www.gironde.fr/aides-et-subventions/plantation-de-haies-champetres", detail, "text/html"),
        ]
    )
    result = html_scraper.parse(GIRONDE, payload)
    links, _ = html_scraper.read_list(listing, "text/html", GIRONDE_LIST, GIRONDE.config)
    assert result.items_seen == (len(links) or 1)
