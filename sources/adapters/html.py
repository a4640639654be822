"""Helpers shared by the web adapters (OpenDataSoft, Nouvelle-Aquitaine RSS, HTML scraper).

Not an adapter: nothing here collects or parses a whole source. It holds what the
adapters must do the same way so that their records and rejections look alike:
recording a detail page that could not be fetched, decoding HTML whose declared
charset lies, reading CSS selectors with ``@attr`` / ``@html`` suffixes, and applying
the constants a declarative entry states for every record of a source.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from sources.fetch.client import FetchedDocument, FetchError, PoliteClient
from sources.record import GEO_LEVELS, LIST_FIELDS, TEXT_FIELDS, GeoMention
from sources.text_files import decode, strip_bom

# Media type of a payload document standing for a page that could not be fetched: the
# collection goes on, and parse says which item lost its page and why.
FETCH_ERROR_MEDIA = "application/vnd.catalogue-aides.fetch-error+json"


# -- fetching ---------------------------------------------------------------------------
def media_type_of(document: FetchedDocument, default: str) -> str:
    """The response's Content-Type (it carries the declared charset), else ``default``."""
    for key, value in document.headers.items():
        if key.lower() == "content-type" and value.strip():
            return value.strip()
    return default


def fetch_or_error(client: PoliteClient, url: str, default_media: str) -> tuple[str, bytes, str]:
    """A payload part for ``url``: the page, or an error document if it could not be fetched.

    Used for detail pages only: one missing page must not lose the whole collection.
    Pages the navigation depends on (feeds, list pages) are fetched with ``client.get``
    so that their failure fails the collection and the last good snapshot is served.
    """
    try:
        document = client.get(url)
    except FetchError as exc:
        content = json.dumps({"url": url, "erreur": exc.reason}, ensure_ascii=False).encode("utf-8")
        return url, content, FETCH_ERROR_MEDIA
    return url, document.content, media_type_of(document, default_media)


def fetch_error_reason(content: bytes) -> str:
    """The reason stored in an error document (never raises)."""
    try:
        data = json.loads(content.decode("utf-8"))
        return str(data.get("erreur") or "raison inconnue")
    except (ValueError, AttributeError):
        return "raison inconnue"


# -- decoding ---------------------------------------------------------------------------
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)


def declared_charset(content: bytes, media_type: str) -> str | None:
    """The charset the server (Content-Type) or the page (<meta>) declares, if known to Python."""
    candidates = []
    match = re.search(r"charset\s*=\s*\"?([A-Za-z0-9_:.-]+)", media_type or "", re.IGNORECASE)
    if match:
        candidates.append(match.group(1))
    meta = _META_CHARSET.search(content[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    for name in candidates:
        try:
            return codecs.lookup(name).name
        except LookupError:
            continue
    return None


_READ_AS = {"cp1252": "windows-1252", "utf-8": "UTF-8", "utf-8+cp1252": "UTF-8, octets isolés en windows-1252"}


def decode_html(content: bytes, media_type: str = "") -> tuple[str, str | None]:
    """Text of an HTML page, and a note when its bytes do not match the declared charset.

    A UTF-8 BOM declares UTF-8 whatever the page says; otherwise the declared charset, else
    UTF-8. French sites that lie about their charset serve Latin-1 / Windows-1252: the page
    is then read as ``sources.text_files.decode`` reads any producer file (nothing lost), and
    the note says how.
    """
    charset = "utf-8" if strip_bom(content)[1] else declared_charset(content, media_type) or "utf-8"
    text, how = decode(content, charset)
    if how == charset:
        return text, None
    return text, f"octets non conformes à l'encodage déclaré ({charset}) : page lue en {_READ_AS.get(how, how)}"


def looks_truncated(text: str) -> bool:
    """True when an HTML page ends before ``</body>`` / ``</html>`` (cut transfer)."""
    tail = text[-2048:].lower()
    return "</html" not in tail and "</body" not in tail


# -- selectors --------------------------------------------------------------------------
def split_selector(selector: str) -> tuple[str, str | None]:
    """``"a.btn@href"`` -> ``("a.btn", "href")``; ``"div.body@html"`` -> ``("div.body", "html")``."""
    if "@" not in selector:
        return selector.strip(), None
    css, _, attribute = selector.rpartition("@")
    return css.strip(), (attribute.strip() or None)  # "" css: the element itself


def element_value(element: Tag, attribute: str | None, base_url: str) -> str | None:
    """Text of an element (whitespace collapsed), its inner HTML (``@html``) or an attribute.

    ``href`` and ``src`` are resolved against the page URL, as a browser would.
    """
    if attribute is None:
        text = " ".join(element.get_text(" ", strip=True).split())
        return text or None
    if attribute == "html":
        inner = element.decode_contents().strip()
        return inner or None
    value = element.get(attribute)
    if isinstance(value, list):  # class and other multi-valued attributes
        value = " ".join(value)
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if attribute in ("href", "src"):
        value = urljoin(base_url, value)
    return value


def select_values(root: Tag | BeautifulSoup, selector: str, base_url: str) -> list[str]:
    """Every non-empty value the selector designates, in document order (invalid selector: none)."""
    css, attribute = split_selector(selector)
    try:
        elements = [root] if not css else root.select(css)
    except Exception:  # noqa: BLE001 - soupsieve raises its own errors on bad selectors
        return []
    values = []
    for element in elements:
        if isinstance(element, Tag):
            value = element_value(element, attribute, base_url)
            if value:
                values.append(value)
    return values


def as_selector_list(spec: Any) -> list[str]:
    """A selector, or a list of alternatives, from a declarative entry."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, list):
        return [item for item in spec if isinstance(item, str)]
    return []


# -- constants from the declarative entry ------------------------------------------------
def geo_mentions(entries: Any) -> list[GeoMention]:
    """GeoMentions from a ``geo`` constant: a table or a list of tables {niveau, code, nom}."""
    if isinstance(entries, dict):
        entries = [entries]
    mentions = []
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        niveau = entry.get("niveau")
        try:
            mentions.append(GeoMention(niveau if niveau in GEO_LEVELS else None, entry.get("code"), entry.get("nom")))
        except ValueError:  # neither code nor name: nothing stated
            continue
    return mentions


def constants(config: dict[str, Any], level: str) -> dict[str, Any]:
    """AidRecord keyword arguments every record of the source shares.

    ``niveau`` defaults to the source's level; ``porteurs``, ``financeurs``, ``geo`` and any
    other AidRecord text or list attribute may be stated in ``config["constants"]``.
    """
    table = config.get("constants") or {}
    values: dict[str, Any] = {"niveau": level}
    for key, value in table.items():
        if key == "geo":
            values["geo_inclusions"] = geo_mentions(value)
        elif key in TEXT_FIELDS and isinstance(value, str):
            values[key] = value
        elif key in LIST_FIELDS:
            values[key] = [value] if isinstance(value, str) else [str(v) for v in value]
    return values


def excerpt_of(content: bytes | str, size: int = 300) -> str:
    """The beginning of a document, for a rejection's excerpt."""
    if isinstance(content, bytes):
        content = content[: size * 4].decode("utf-8", "replace")
    return content[:size]
