"""The Nouvelle-Aquitaine RSS adapter: the feed, its detail pages, and what goes wrong with them.

No real payload of this site is in ../shared: tests/fixtures/region-nouvelle-aquitaine/
reproduces the feed and the detail pages' structure as aides-territoires' importer read them.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

from collect_test_helpers import context as _context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import FIXTURES

from sources.adapters import nouvelle_aquitaine
from sources.adapters.html import FETCH_ERROR_MEDIA
from sources.base import Payload
from sources.fetch.transport import ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec

FIXTURE = FIXTURES / "region-nouvelle-aquitaine"
FEED = "https://les-aides.nouvelle-aquitaine.fr/fiches-rss.xml"
BASE = "https://les-aides.nouvelle-aquitaine.fr/transition-energetique-et-ecologique/"
CIRCULAIRE = BASE + "economie-circulaire-appel-projets-reduire-reemployer-recycler"
CHALEUR = BASE + "chaleur-renouvelable-chaufferies-biomasse-et-reseaux-de-chaleur"
TRAME = BASE + "restauration-de-la-trame-verte-et-bleue"
SPEC = get_spec("region-nouvelle-aquitaine")


def test_feed_and_detail_pages_through_collect(tmp_path):
    replay = ReplayTransport.from_folder(FIXTURE)
    payload = nouvelle_aquitaine.collect(SPEC, _context(tmp_path, replay))
    assert [doc.name for doc, _ in payload.documents] == [FEED, CIRCULAIRE, CHALEUR, TRAME]
    assert payload.documents[0][0].media_type == "application/rss+xml; charset=utf-8"

    result = nouvelle_aquitaine.parse(SPEC, payload)
    assert result.rejections == []
    circulaire, chaleur, trame = result.records
    assert circulaire.native_id == circulaire.url_source == CIRCULAIRE
    assert circulaire.titre == "Économie circulaire : appel à projets « Réduire, réemployer, recycler »"
    assert circulaire.promesse == (
        "<p>La Région accompagne les projets exemplaires de prévention, de réemploi et de recyclage des déchets.</p>"
    )
    assert circulaire.description == (
        "<p>Réduire la production de déchets et développer le <strong>réemploi</strong> "
        "et le recyclage sur le territoire régional.</p>"
    )
    assert circulaire.cibles == ["Collectivité territoriale", "Entreprise", "Association"]
    assert circulaire.thematiques == ["Transition énergétique et écologique", "Économie circulaire", "Déchets"]
    assert circulaire.date_cloture == "31 mai 2025"
    assert circulaire.date_mise_a_jour == "Mon, 13 Jan 25 10:12:44 +0100"  # as the feed states it
    assert circulaire.montants == ["Subvention jusqu'à 50 % des dépenses éligibles, plafonnée à 200 000 €."]
    assert circulaire.types_aides == ["Appel à projets"]
    assert circulaire.url_demarche == "https://mes-demarches.nouvelle-aquitaine.fr/aap-economie-circulaire"
    assert circulaire.eligibilite.startswith("<p>Collectivités territoriales et leurs groupements")
    assert "Tonnages de déchets évités" in circulaire.eligibilite
    assert circulaire.geo_inclusions == [GeoMention("region", code="75", nom="Nouvelle-Aquitaine")]
    assert circulaire.porteurs == ["Région Nouvelle-Aquitaine"]
    assert circulaire.raw["flux"]["categories"] == [
        "Appel à projet, Collectivité territoriale, Entreprise, Association, Économie circulaire"
    ]
    assert circulaire.raw["page_detail"]["contact"].startswith("Contact Direction de l'Environnement - Service")

    assert chaleur.programmes_parents == ["Dispositif de l'Union européenne"] and chaleur.types_aides == []
    assert chaleur.cibles == ["Collectivité territoriale", "Entreprise", "Établissement public"]
    assert chaleur.url_demarche == "https://les-aides.nouvelle-aquitaine.fr/contact-energie"  # relative link resolved
    assert chaleur.date_cloture == "31 décembre 2025"
    assert trame.date_cloture == "30 septembre 2025" and trame.cibles[-1] == "Exploitant"


def test_failed_latin1_and_truncated_detail_pages(tmp_path):
    """A page that fails or is cut leaves a feed-only record; a mis-declared charset is read anyway."""
    replay = ReplayTransport.from_files(
        {
            FEED: FIXTURE / "fiches-rss.xml",
            # CIRCULAIRE is not served: the fetch fails
            CHALEUR: FIXTURE / "chaleur-renouvelable-latin1.html",
            TRAME: FIXTURE / "trame-verte-et-bleue-tronquee.html",
        }
    )
    payload = nouvelle_aquitaine.collect(SPEC, _context(tmp_path, replay))
    assert [doc.media_type for doc, _ in payload.documents][1] == FETCH_ERROR_MEDIA

    result = nouvelle_aquitaine.parse(SPEC, payload)
    assert result.rejections == [] and len(result.records) == 3
    circulaire, chaleur, trame = result.records

    assert circulaire.titre == "Économie circulaire : appel à projets « Réduire, réemployer, recycler »"
    assert circulaire.description == (
        "Cet appel à projets soutient les projets de prévention et de valorisation des déchets portés par les acteurs du territoire."
    )
    assert circulaire.cibles == [] and circulaire.date_cloture is None
    assert circulaire.raw["page_detail"]["erreur"].startswith("page de détail indisponible : réponse non enregistrée")

    assert chaleur.cibles == ["Collectivité territoriale", "Entreprise", "Établissement public"]
    assert chaleur.titre == "Chaleur renouvelable : chaufferies biomasse et réseaux de chaleur"
    assert chaleur.raw["page_detail"]["encodage"] == (
        "octets non conformes à l'encodage déclaré (utf-8) : page lue en windows-1252"
    )

    assert trame.raw["page_detail"]["erreur"] == "page de détail tronquée (ni </body> ni </html>)"
    assert trame.description.startswith("Soutien aux travaux de restauration")  # the feed's
    assert trame.montants == [] and trame.date_mise_a_jour == "Tue, 04 Feb 25 09:00:00 +0100"


def _feed(items: str) -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def test_items_without_title_or_link_are_rejected_and_neighbours_kept():
    feed = _feed(
        "<item><title>Aide A</title><guid>https://les-aides.nouvelle-aquitaine.fr/a</guid></item>"
        "<item><description>ni titre ni lien</description></item>"
        '<item><title>Sans lien</title><guid isPermaLink="false">na-42</guid></item>'
        "<item><title>Sans rien</title></item>"
        "<item><guid>https://les-aides.nouvelle-aquitaine.fr/sans-titre</guid></item>"
    )
    payload = Payload.build([(FEED, feed, "application/rss+xml")])
    result = nouvelle_aquitaine.parse(SPEC, payload)
    assert [(r.native_id, r.titre) for r in result.records] == [
        ("https://les-aides.nouvelle-aquitaine.fr/a", "Aide A"),
        ("na-42", "Sans lien"),
    ]
    assert result.records[0].raw["page_detail"] == {"erreur": "page de détail absente de la collecte"}
    assert [(r.location, r.reason) for r in result.rejections] == [
        (f"{FEED} : item 2", "item sans titre ni lien"),
        (f"{FEED} : item 4", "item sans lien ni guid : aucune page ni identifiant"),
        (
            f"{FEED} : item 5 (https://les-aides.nouvelle-aquitaine.fr/sans-titre)",
            "item sans titre (ni dans le flux, ni sur la page)",
        ),
    ]
    assert result.items_seen == 5


def test_truncated_feed_keeps_the_items_before_the_cut():
    feed = (FIXTURE / "fiches-rss.xml").read_bytes()
    cut = feed.index(b"<title>Restauration de la trame")
    payload = Payload.build(
        [
            (FEED, feed[:cut], "application/rss+xml"),
            (CIRCULAIRE, (FIXTURE / "economie-circulaire.html").read_bytes(), "text/html"),
        ]
    )
    result = nouvelle_aquitaine.parse(SPEC, payload)
    assert [r.native_id for r in result.records] == [CIRCULAIRE, CHALEUR]
    assert result.records[0].cibles == ["Collectivité territoriale", "Entreprise", "Association"]
    assert len(result.rejections) == 1
    assert result.rejections[0].location == f"{FEED} : après l'item 2"
    assert result.rejections[0].reason.startswith("flux RSS illisible : XML invalide (no element found")


def test_doctype_and_entities_are_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<rss><channel><item><title>&b;</title><guid>https://x/1</guid></item></channel></rss>"
    )
    result = nouvelle_aquitaine.parse(SPEC, Payload.build([(FEED, bomb, "application/rss+xml")]))
    assert result.records == [] and len(result.rejections) == 1
    assert result.rejections[0].reason == (
        "flux RSS illisible : DOCTYPE ou déclaration d'entité refusés (risque d'expansion d'entités)"
    )


def test_an_html_page_instead_of_the_feed_is_one_rejection():
    page = b"<html><head><title>Maintenance</title></head><body><p>Site en maintenance</p></body></html>"
    result = nouvelle_aquitaine.parse(SPEC, Payload.build([(FEED, page, "text/html")]))
    assert result.records == [] and len(result.rejections) == 1
    assert (
        result.rejections[0].reason == "flux RSS illisible : document qui n'est pas un flux RSS (élément racine <html>)"
    )


def test_a_latin1_feed_declared_utf8_is_read_as_latin1():
    feed = _feed("<item><title>Biodiversité</title><guid>https://les-aides.nouvelle-aquitaine.fr/b</guid></item>")
    latin1 = feed.decode("utf-8").encode("latin-1")
    result = nouvelle_aquitaine.parse(SPEC, Payload.build([(FEED, latin1, "application/rss+xml")]))
    assert [r.titre for r in result.records] == ["Biodiversité"]
    assert result.records[0].raw["flux"]["encodage"] == "octets non UTF-8 malgré la déclaration : flux lu en ISO-8859-1"


def test_category_values_split_only_on_the_sites_separator():
    page = (
        "<html><body><h1 class='headline-aide'>Aide</h1>"
        "<div class='categories'><h2>Domaines secondaires</h2><p>\n  Cuir, luxe\n  ,\n  Export\n</p></div>"
        "<div class='categories'><h2>Publics concernés</h2><p><a href='/p/1'>Entreprise</a> <a href='/p/2'>Association</a></p></div>"
        "</body></html>"
    ).encode()
    detail = nouvelle_aquitaine.read_detail(page, "text/html", TRAME)
    assert detail["categories"] == {
        "Domaines secondaires": ["Cuir, luxe", "Export"],
        "Publics concernés": ["Entreprise", "Association"],
    }


def test_an_unrecognisable_detail_page_leaves_a_feed_only_record():
    feed = _feed(f"<item><title>Aide X</title><description>Résumé</description><guid>{TRAME}</guid></item>")
    payload = Payload.build(
        [(FEED, feed, "application/rss+xml"), (TRAME, b"<html><body><p>404</p></body></html>", "text/html")]
    )
    record = nouvelle_aquitaine.parse(SPEC, payload).records[0]
    assert (record.titre, record.description) == ("Aide X", "Résumé")
    assert record.raw["page_detail"]["erreur"] == "page de détail sans contenu reconnaissable (ni titre, ni sections)"


# -- generated corrupt payloads ---------------------------------------------------------
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
items = st.fixed_dictionaries(
    {},
    optional={
        "title": texts,
        "guid": st.one_of(texts, st.just(TRAME), st.just(CHALEUR)),
        "link": st.one_of(texts, st.just(CIRCULAIRE)),
        "description": texts,
        "pubDate": texts,
        "category": texts,
    },
)


def _xml_char_ok(text: str) -> str:
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20 and c not in "\ufffe\uffff")


def _item_xml(item: dict[str, str]) -> str:
    parts = []
    for key, value in item.items():
        value = _xml_char_ok(value)
        if key == "guid":
            parts.append(f"<guid isPermaLink={quoteattr('true')}>{escape(value)}</guid>")
        else:
            parts.append(f"<{key}>{escape(value)}</{key}>")
    return "<item>" + "".join(parts) + "</item>"


_FEED_BYTES = (FIXTURE / "fiches-rss.xml").read_bytes()
pages = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            (FIXTURE / name).read_bytes()
            for name in (
                "economie-circulaire.html",
                "chaleur-renouvelable-latin1.html",
                "trame-verte-et-bleue-tronquee.html",
            )
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generated=st.lists(items, max_size=6),
    details=st.dictionaries(st.sampled_from([CIRCULAIRE, CHALEUR, TRAME]), pages),
    failed=st.booleans(),
)
def test_generated_feeds_account_for_every_item(generated, details, failed):
    feed = _feed("".join(_item_xml(item) for item in generated))
    parts = [(FEED, feed, "application/rss+xml")]
    parts += [(url, content, "text/html") for url, content in details.items()]
    if failed:
        parts.append((TRAME, json.dumps({"url": TRAME, "erreur": "HTTP 503"}).encode(), FETCH_ERROR_MEDIA))
    result = nouvelle_aquitaine.parse(SPEC, Payload.build(parts))
    assert result.items_seen == len(generated)
    for record in result.records:
        json.dumps(record.to_row())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feed=st.one_of(st.binary(max_size=300), st.builds(lambda cut: _FEED_BYTES[:cut], st.integers(0, len(_FEED_BYTES)))),
    detail=pages,
)
def test_corrupt_feeds_never_raise(feed, detail):
    payload = Payload.build([(FEED, feed, "application/rss+xml"), (CIRCULAIRE, detail, "text/html")])
    result = nouvelle_aquitaine.parse(SPEC, payload)
    read, error, _ = nouvelle_aquitaine.read_feed(feed)
    assert result.items_seen == len(read) + (1 if error else 0)
    assert result.items_seen <= 4
