"""Région Nouvelle-Aquitaine: the RSS feed of its aids, then each aid's detail page.

The feed (``config.url``, https://les-aides.nouvelle-aquitaine.fr/fiches-rss.xml, the URL
aides-territoires' importer used; per-theme feeds live under ``/fiches-rss/<thème>/rss.xml``)
lists every aid: title, link / guid (the aid's page), pubDate, a short description and a
``category`` mixing type, audiences and theme. The detail page carries the rest, in the
structure aides-territoires' scraper read: ``h1.headline-aide``, ``div.mod-chapo``, the
breadcrumb's theme, ``span.tag-…`` badges (appel à projets… as types; ``tag-europe`` as a programme), three
``div.categories`` (publics concernés, domaines secondaires, date de fin de publication)
and ``div.dispositif-aide > div.mod-textSimple`` sections titled Objectifs, Calendrier,
Bénéficiaires, Montant, Critères de sélection, Comment faire ma demande ?

Choice when a detail page is unusable (fetch failed, page truncated, nothing
recognisable): the item still becomes a record from what the feed says (title, link,
description, pubDate), valid but incomplete; ``raw["page_detail"]["erreur"]`` says why.
A transient failure of one page thus never makes an aid vanish from the catalogue.
Items the feed itself cannot name (no title, no link) are rejected.

The feed is read with expat directly, refusing any DOCTYPE or entity declaration
(no entity expansion, no external resources); items read before a syntax error are
kept and the unreadable rest of the feed is one rejection.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from typing import Any, NoReturn
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

from sources.adapters.html import (
    FETCH_ERROR_MEDIA,
    constants,
    decode_html,
    excerpt_of,
    fetch_error_reason,
    fetch_or_error,
    looks_truncated,
    media_type_of,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.folding import fold
from sources.record import AidRecord, ParseResult

RSS_MEDIA = "application/rss+xml"
HTML_MEDIA = "text/html"


# -- the feed ---------------------------------------------------------------------------
class Config(SourceConfig):
    """The RSS feed and what every aid of it shares."""

    url: str
    constants: dict[str, Any] = {}


class _Forbidden(Exception):
    """A DOCTYPE or entity declaration: refused, whatever it declares."""


class _FeedReader:
    """Collects ``<item>`` children as texts with expat; keeps the items finished so far."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.root: str | None = None
        self._item: dict[str, Any] | None = None
        self._depth = 0
        self._item_depth = 0
        self._field: str | None = None
        self._text: list[str] = []

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self._depth += 1
        if self.root is None:
            self.root = name
        if name == "item" and self._item is None:
            self._item, self._item_depth = {"categories": []}, self._depth
        elif self._item is not None and self._depth == self._item_depth + 1:
            self._field, self._text = name, []
            for key, value in attributes.items():
                self._item[f"{name}@{key}"] = value

    def end(self, name: str) -> None:
        if self._item is not None and self._field is not None and self._depth == self._item_depth + 1:
            text = "".join(self._text).strip()
            if self._field == "category":
                if text:
                    self._item["categories"].append(text)
            elif text:
                self._item.setdefault(self._field, text)
            self._field = None
        elif self._item is not None and self._depth == self._item_depth:
            self.items.append(self._item)
            self._item = None
        self._depth -= 1

    def data(self, text: str) -> None:
        if self._field is not None:
            self._text.append(text)


def _forbid(*_: Any) -> NoReturn:
    raise _Forbidden("DOCTYPE ou déclaration d'entité refusés (risque d'expansion d'entités)")


def _parse_feed(content: bytes, encoding: str | None) -> tuple[_FeedReader, str | None]:
    reader = _FeedReader()
    parser = xml.parsers.expat.ParserCreate(encoding)
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data
    try:
        parser.Parse(content, True)
    except xml.parsers.expat.ExpatError as exc:
        return reader, f"XML invalide ({xml.parsers.expat.errors.messages.get(exc.code, exc)}, ligne {exc.lineno})"
    except _Forbidden as exc:
        return _FeedReader(), str(exc)
    except (ValueError, LookupError, RecursionError) as exc:
        return reader, f"XML illisible ({exc})"
    return reader, None


def read_feed(content: bytes) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """The feed's items, the error that stopped reading (if any) and a note on its encoding.

    A feed declared UTF-8 whose bytes are not is read again as ISO-8859-1 (which
    decodes any byte), and the note says so.
    """
    reader, error = _parse_feed(content, None)
    note = None
    if error and error.startswith("XML invalide"):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            retry, retry_error = _parse_feed(content, "iso-8859-1")
            if len(retry.items) > len(reader.items) or retry_error is None:
                reader, error = retry, retry_error
                note = "octets non UTF-8 malgré la déclaration : flux lu en ISO-8859-1"
    if error is None and reader.root not in ("rss", "rdf:RDF", "channel"):
        error = f"document qui n'est pas un flux RSS (élément racine <{reader.root}>)"
        return [], error, note
    return reader.items, error, note


def detail_url(item: dict[str, Any], feed_url: str) -> str | None:
    """The aid's page: ``link``, else a permalink ``guid``; absolute, http(s) only."""
    candidates = [item.get("link")]
    if str(item.get("guid@isPermaLink", "true")).lower() != "false":
        candidates.append(item.get("guid"))
    candidates.append(item.get("source@url"))
    for candidate in candidates:
        if candidate:
            url = urldefrag(urljoin(feed_url, candidate.strip())).url
            if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc:
                return url
    return None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """The feed, then each item's detail page; a page that fails is recorded as missing."""
    client = ctx.client(spec)
    feed_url = spec.config["url"]
    feed = client.get(feed_url)
    parts = [(feed_url, feed.content, media_type_of(feed, RSS_MEDIA))]
    items, _, _ = read_feed(feed.content)
    seen = {feed_url}
    for item in items:
        url = detail_url(item, feed_url)
        if url and url not in seen:
            seen.add(url)
            parts.append(fetch_or_error(client, url, HTML_MEDIA))
    return Payload.build(parts)


# -- the detail page --------------------------------------------------------------------
SECTION_KEYS = (
    ("objectif", "objectifs"),
    ("calendrier", "calendrier"),
    ("beneficiaire", "beneficiaires"),
    ("montant", "montant"),
    ("critere", "criteres"),
    ("demande", "modalites"),
    ("modalite", "modalites"),
    ("contact", "contact"),
    ("document", "documents"),
)
# "date" first: "Date de fin de publication" also contains "public".
CATEGORY_KEYS = (("date", "date_fin_publication"), ("public", "publics_concernes"), ("domaine", "domaines_secondaires"))
_VALUE_SEPARATOR = re.compile(r"\s+,\s*")


def _named(label: str, keys: tuple[tuple[str, str], ...]) -> str | None:
    """The name of the first key whose fragment the folded heading contains (``sources.folding``)."""
    key = fold(label)
    return next((name for fragment, name in keys if fragment in key), None)


def _heading(block: Tag) -> str:
    heading = block.find(["h2", "h3", "h4"]) or block.find(["strong", "span"], recursive=False)
    if heading is None:
        return ""
    label = " ".join(heading.get_text(" ", strip=True).split())
    heading.extract()
    return label


def _category_values(block: Tag) -> list[str]:
    """Values of a ``div.categories``: its links / spans / list items, else its text split on " , "."""
    holder = block.find("p") or block
    parts = [" ".join(el.get_text(" ", strip=True).split()) for el in holder.find_all(["a", "span", "li"])]
    parts = [part for part in parts if part]
    if parts:
        return parts
    text = " ".join(holder.get_text(" ", strip=False).split("\n"))
    return [" ".join(part.split()) for part in _VALUE_SEPARATOR.split(text) if part.strip()]


def read_detail(content: bytes, media_type: str, url: str) -> dict[str, Any]:
    """What the detail page says, or ``{"erreur": ...}`` when it cannot be used."""
    text, note = decode_html(content, media_type)
    detail: dict[str, Any] = {"encodage": note} if note else {}
    if looks_truncated(text):
        return {**detail, "erreur": "page de détail tronquée (ni </body> ni </html>)"}
    soup = BeautifulSoup(text, "html.parser")
    h1 = soup.select_one("h1.headline-aide") or soup.select_one("h1")
    if h1 is not None:
        detail["titre"] = " ".join(h1.get_text(" ", strip=True).split())
    chapo = soup.select_one("div.mod-chapo")
    if chapo is not None and chapo.decode_contents().strip():
        detail["chapo"] = chapo.decode_contents().strip()
    crumbs = soup.select("ul.m-breadcrumb__list > li")
    if len(crumbs) >= 3:  # Accueil > thème > aide
        detail["thematique"] = " ".join(crumbs[1].get_text(" ", strip=True).split())
    for tag in soup.select("span[class*='tag-']"):  # badges: appel à projets, AMI, Europe…
        label = " ".join(tag.get_text(" ", strip=True).split())
        if label:
            kind = "programmes" if "tag-europe" in (tag.get("class") or []) else "etiquettes"
            detail.setdefault(kind, []).append(label)
    categories: dict[str, list[str]] = {}
    for position, block in enumerate(soup.select("div.categories"), start=1):
        label = _heading(block) or f"catégorie {position}"
        categories[label] = _category_values(block)
    if categories:
        detail["categories"] = categories
    sections: dict[str, str] = {}
    blocks = soup.select("div.dispositif-aide div.mod-textSimple") or soup.select("div.mod-textSimple")
    for position, block in enumerate(blocks, start=1):
        label = _heading(block) or f"section {position}"
        sections[label] = block.decode_contents().strip()
        if _named(label, SECTION_KEYS) == "modalites":
            hrefs = [href for a in block.select("a[href]") if isinstance(href := a.get("href"), str)]
            links = [urljoin(url, href) for href in hrefs if not href.startswith("mailto:")]
            if links:
                detail["lien_demarche"] = links[0]
    if sections:
        detail["sections"] = sections
    contact = soup.select_one("div.mod-contactAddress")
    if contact is not None:
        detail["contact"] = " ".join(contact.get_text(" ", strip=True).split())
    if not any(key in detail for key in ("titre", "sections", "categories")):
        detail["erreur"] = "page de détail sans contenu reconnaissable (ni titre, ni sections)"
    return detail


def _detail_for(url: str | None, pages: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
    if url is None:
        return {"erreur": "item sans lien vers une page de détail"}
    if url not in pages:
        return {"erreur": "page de détail absente de la collecte"}
    media_type, content = pages[url]
    if media_type == FETCH_ERROR_MEDIA:
        return {"erreur": f"page de détail indisponible : {fetch_error_reason(content)}"}
    return read_detail(content, media_type, url)


def _by_key(mapping: dict[str, Any], keys: tuple[tuple[str, str], ...], name: str) -> list[Any]:
    return [value for label, value in mapping.items() if _named(label, keys) == name]


def record_from_item(spec: SourceSpec, item: dict[str, Any], url: str | None, detail: dict[str, Any]) -> AidRecord:
    """One feed item and its page as an AidRecord (ValueError when it has no id or title)."""
    values = constants(spec.config, spec.level)
    sections: dict[str, str] = detail.get("sections", {})
    categories: dict[str, list[str]] = detail.get("categories", {})
    description = next(iter(_by_key(sections, SECTION_KEYS, "objectifs")), None) or item.get("description")
    eligibility = _by_key(sections, SECTION_KEYS, "beneficiaires") + _by_key(sections, SECTION_KEYS, "criteres")
    amounts = [
        " ".join(BeautifulSoup(html, "html.parser").get_text(" ", strip=True).split())
        for html in _by_key(sections, SECTION_KEYS, "montant")
    ]
    closing = [value for values_ in _by_key(categories, CATEGORY_KEYS, "date_fin_publication") for value in values_]
    publics = [value for values_ in _by_key(categories, CATEGORY_KEYS, "publics_concernes") for value in values_]
    themes = ([detail["thematique"]] if detail.get("thematique") else []) + [
        value for values_ in _by_key(categories, CATEGORY_KEYS, "domaines_secondaires") for value in values_
    ]
    values.update(
        {
            key: value
            for key, value in {
                "description": description,
                "promesse": detail.get("chapo"),
                "eligibilite": "\n".join(eligibility) or None,
                "url_source": url,
                "url_demarche": detail.get("lien_demarche"),
                "date_cloture": closing[0] if closing else None,
                "date_mise_a_jour": item.get("pubDate"),
                "montants": [amount for amount in amounts if amount],
                "cibles": publics,
                "thematiques": themes,
                "types_aides": detail.get("etiquettes", []),
                "programmes_parents": detail.get("programmes", []),
            }.items()
            if value
        }
    )
    native_id = item.get("guid") or url or ""
    titre = detail.get("titre") or item.get("title") or ""
    return AidRecord.from_values(
        source=spec.name, native_id=native_id, titre=titre, raw={"flux": item, "page_detail": detail}, **values
    )


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """One record per feed item (detail page when usable); unnamed items and unreadable feeds rejected."""
    result = ParseResult()
    if not payload.documents:
        return result
    feed_document, feed_content = payload.documents[0]
    feed_url = feed_document.name
    pages = {doc.name: (doc.media_type, content) for doc, content in payload.documents[1:]}
    items, error, note = read_feed(feed_content)
    for position, item in enumerate(items, start=1):
        if note:
            item = {**item, "encodage": note}
        location = f"{feed_url} : item {position}"
        url = detail_url(item, feed_url)
        if url:
            location += f" ({url})"
        if not (item.get("title") or "").strip() and url is None:
            result.reject(spec.name, location, "item sans titre ni lien", item)
            continue
        if url is None and not item.get("guid"):
            result.reject(spec.name, location, "item sans lien ni guid : aucune page ni identifiant", item)
            continue
        detail = _detail_for(url, pages)
        try:
            result.records.append(record_from_item(spec, item, url, detail))
        except ValueError as exc:
            reason = "item sans titre (ni dans le flux, ni sur la page)" if "titre" in str(exc) else str(exc)
            result.reject(spec.name, location, reason, item)
    if error:
        result.reject(
            spec.name,
            f"{feed_url} : après l'item {len(items)}",
            f"flux RSS illisible : {error}",
            excerpt_of(feed_content),
        )
    return result
