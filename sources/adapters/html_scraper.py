"""Configurable HTML scraper: list pages -> detail pages, all selectors in the declarative entry.

No code per site. A municipal or departmental site is declared as::

    [source.config]
    list_url = "https://www.example.fr/aides"     # first list page (same host as homepage)
    item_selector = "article.card"                # one element per aid on a list page
    link_selector = "a.card__link@href"           # within the item; default "a@href" (or the item itself)
    next_selector = "li.pager__item--next a"      # optional "next page" link (href by default)
    max_pages = 10                                # list pages followed at most
    required = ["titre", "description"]           # detail fields whose selectors must match
    geo_niveau = "commune"                        # optional: level of the names read by detail.geo
    [source.config.detail]                        # AidRecord attribute -> CSS selector(s)
    titre = "h1"
    description = "div.body@html"                 # @html: inner HTML; @attr: an attribute
    url_demarche = "a.btn-demarche@href"          # href / src resolved against the page URL
    montants = ["dd.montant", "p.plafond"]        # several selectors: alternatives / union
    [source.config.constants]                     # the site's stated geography, porteurs…
    geo = {niveau = "commune", code = "49007"}
    porteurs = ["Ville d'Angers"]

Text attributes take the first value found (trying the selectors in order); list
attributes every value of every selector. A declared detail selector that matches
wins over a constant of the same attribute. ``native_id`` is the detail page's URL.
An item is a link on a list page; its detail page that cannot be fetched, is
truncated or lacks a required field is one rejection located at the detail URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urldefrag, urlsplit

from bs4 import BeautifulSoup

from sources.adapters.html import (
    FETCH_ERROR_MEDIA,
    as_selector_list,
    constants,
    decode_html,
    excerpt_of,
    fetch_error_reason,
    fetch_or_error,
    looks_truncated,
    media_type_of,
    select_values,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.record import LIST_FIELDS, TEXT_FIELDS, AidRecord, GeoMention, ParseResult

HTML_MEDIA = "text/html"
DEFAULT_MAX_PAGES = 10


class Config(SourceConfig):
    """List pages, their items and pagination, and the detail pages' selectors."""

    list_url: str
    item_selector: str
    link_selector: str
    next_selector: str | None = None
    max_pages: int | None = None
    required: list[str] = []
    geo_niveau: str | None = None
    detail: dict[str, str | list[str]] = {}
    constants: dict[str, Any] = {}


class DetailError(Exception):
    """A detail page that cannot become a record; the message is the rejection's reason."""


# -- navigation (shared by collect and parse) --------------------------------------------
def _with_href(selector: str) -> str:
    return selector if "@" in selector else selector + "@href"


def max_pages(config: dict[str, Any]) -> int:
    try:
        return max(1, int(config.get("max_pages", DEFAULT_MAX_PAGES)))
    except (TypeError, ValueError):
        return DEFAULT_MAX_PAGES


def _page_link(url: str | None) -> str | None:
    """An http(s) link without its fragment (``#…`` designates the same page), else None."""
    if not url:
        return None
    url = urldefrag(url).url
    return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None


def read_list(
    content: bytes, media_type: str, page_url: str, config: dict[str, Any]
) -> tuple[list[str | None], str | None]:
    """Detail links of a list page (None for an item without a usable one) and the next page's URL."""
    text, _ = decode_html(content, media_type)
    soup = BeautifulSoup(text, "html.parser")
    try:
        items = soup.select(config["item_selector"])
    except Exception:  # noqa: BLE001 - an invalid selector finds nothing
        items = soup.select(":not(*)")  # an empty ResultSet
    links: list[str | None] = []
    for item in items:
        if config.get("link_selector"):
            found = select_values(item, _with_href(config["link_selector"]), page_url)
        elif item.name == "a":
            found = select_values(item, "@href", page_url)
        else:
            found = select_values(item, "a@href", page_url)
        links.append(_page_link(found[0]) if found else None)
    next_url = None
    if config.get("next_selector"):
        found = select_values(soup, _with_href(config["next_selector"]), page_url)
        next_url = _page_link(found[0]) if found else None
    return links, next_url


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """List pages (following the next link up to max_pages), then every detail page once."""
    config = spec.config
    client = ctx.client(spec)
    parts: list[tuple[str, bytes, str]] = []
    list_urls: list[str] = []
    detail_urls: list[str] = []
    url: str | None = config["list_url"]
    while url and url not in list_urls and len(list_urls) < max_pages(config):
        document = client.get(url)  # a list page that fails fails the collection
        media_type = media_type_of(document, HTML_MEDIA)
        parts.append((url, document.content, media_type))
        list_urls.append(url)
        links, url = read_list(document.content, media_type, url, config)
        detail_urls.extend(link for link in links if link and link not in detail_urls)
    for link in detail_urls:
        if link not in list_urls:
            parts.append(fetch_or_error(client, link, HTML_MEDIA))
    return Payload.build(parts)


# -- detail pages -----------------------------------------------------------------------
def record_from_page(spec: SourceSpec, url: str, content: bytes, media_type: str) -> AidRecord:
    """A detail page as an AidRecord, reading the declared selectors; DetailError says why not."""
    config = spec.config
    selectors: dict[str, Any] = dict(config.get("detail") or {})
    selectors.setdefault("titre", "h1")
    required = {"titre", *[name for name in config.get("required", []) if isinstance(name, str)]}
    text, note = decode_html(content, media_type)
    if looks_truncated(text):
        raise DetailError("page de détail tronquée (ni </body> ni </html>)")
    soup = BeautifulSoup(text, "html.parser")
    values = constants(config, spec.level)
    raw: dict[str, Any] = {"url": url}
    if note:
        raw["encodage"] = note
    missing = []
    for attribute, declared in selectors.items():
        alternatives = as_selector_list(declared)
        found = [value for selector in alternatives for value in select_values(soup, selector, url)]
        if not found:
            if attribute in required:
                missing.append(f"{attribute} (sélecteur {' | '.join(alternatives) or 'non configuré'})")
            continue
        if attribute in TEXT_FIELDS:
            values[attribute] = raw[attribute] = found[0]
        elif attribute in LIST_FIELDS:
            values[attribute] = raw[attribute] = list(dict.fromkeys(found))
        elif attribute == "geo":
            raw["geo"] = found
            values["geo_inclusions"] = [GeoMention(config.get("geo_niveau"), nom=name) for name in dict.fromkeys(found)]
    if missing:
        raise DetailError("champ obligatoire introuvable sur la page : " + ", ".join(missing))
    return AidRecord.from_values(source=spec.name, native_id=url, titre=values.pop("titre"), raw=raw, **values)


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """Walk the list pages as collect did; each listed aid becomes a record or a rejection."""
    config = spec.config
    result = ParseResult()
    documents = {doc.name: (doc.media_type, content) for doc, content in payload.documents}
    url: str | None = config.get("list_url")
    pages: list[str] = []
    listed: dict[str, str] = {}
    while url and url in documents and url not in pages and len(pages) < max_pages(config):
        pages.append(url)
        media_type, content = documents[url]
        page_label = f"page de liste {len(pages)}"
        links, next_url = read_list(content, media_type, url, config)
        if not links:
            result.reject(
                spec.name,
                f"{url} ({page_label})",
                f"aucune aide trouvée : le sélecteur « {config.get('item_selector')} » ne désigne rien",
                excerpt_of(content),
            )
        for position, link in enumerate(links, start=1):
            where = f"{url} : {page_label}, élément {position}"
            if link is None:
                result.reject(
                    spec.name,
                    where,
                    f"élément sans lien vers une page de détail "
                    f"(sélecteur « {config.get('link_selector', 'a@href')} »)",
                )
            elif link in listed:
                result.reject(spec.name, link, f"aide déjà listée ({listed[link]}), ignorée ici ({where})")
            else:
                listed[link] = where
                _detail(spec, link, documents, result)
        url = next_url
    if not pages and payload.documents:
        result.reject(spec.name, str(config.get("list_url")), "page de liste absente de la collecte")
    return result


def _detail(spec: SourceSpec, url: str, documents: dict[str, tuple[str, bytes]], result: ParseResult) -> None:
    if url not in documents:
        result.reject(spec.name, url, "page de détail absente de la collecte")
        return
    media_type, content = documents[url]
    if media_type == FETCH_ERROR_MEDIA:
        result.reject(spec.name, url, f"page de détail indisponible : {fetch_error_reason(content)}")
        return
    try:
        result.records.append(record_from_page(spec, url, content, media_type))
    except (DetailError, ValueError) as exc:
        result.reject(spec.name, url, str(exc), excerpt_of(content))
