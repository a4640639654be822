"""Shared helpers for the adapters of JSON APIs.

Why: the JSON feeds (aides-territoires, ADEME Agir, Île-de-France, Drôme, Manche) all
need the same three things: decode a document without ever raising (one rejection per
unreadable document), read fields while refusing wrong types with a precise French
reason, and follow ``next`` links with guards against loops and runaway pagination.
Nothing here interprets the content: values are transcribed as the source states them.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

from sources.base import CollectContext, Payload, SourceSpec
from sources.fetch.client import FetchError, PoliteClient
from sources.record import AidRecord, GeoMention, ParseResult
from sources.text_files import strict_utf8

JSON_MEDIA_TYPE = "application/json"

# Levels of aides-territoires' perimeters (``perimeter_scale`` labels) that name a level
# of GeoMention; the others (continent, bassin hydrographique, outre-mer, ad-hoc…) stay
# without a level, their name kept as stated.
_SCALES = {
    "commune": "commune",
    "epci": "epci",
    "département": "departement",
    "departement": "departement",
    "région": "region",
    "region": "region",
    "pays": "pays",
}


class FieldError(Exception):
    """An item's field cannot be read as expected; ``reason`` is in French."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, in French, for rejection reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "booléen"
    if isinstance(value, (int, float)):
        return "nombre"
    if isinstance(value, str):
        return "texte"
    if isinstance(value, list):
        return "liste"
    if isinstance(value, dict):
        return "objet"
    return type(value).__name__


def excerpt_of(value: Any) -> str:
    """A short JSON rendering of an item for a rejection's excerpt."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:500]
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:500]


def decode_json(result: ParseResult, source: str, location: str, content: bytes) -> tuple[bool, Any]:
    """Decode one JSON document; on failure add ONE rejection and return ``(False, None)``.

    A UTF-8 byte order mark is accepted (the Drôme feed sends one).
    """
    if not content or not content.strip():
        result.reject(source, location, "document vide : aucune donnée JSON", "")
        return False, None
    try:
        text = strict_utf8(content)
    except UnicodeDecodeError as exc:
        result.reject(
            source,
            location,
            f"encodage invalide : le document n'est pas en UTF-8 (octet {exc.start})",
            content[max(0, exc.start - 60) : exc.start + 60].decode("utf-8", "replace"),
        )
        return False, None
    try:
        return True, json.loads(text)
    except json.JSONDecodeError as exc:
        result.reject(
            source,
            location,
            f"JSON illisible : {exc.msg} (ligne {exc.lineno}, colonne {exc.colno})",
            text[max(0, exc.pos - 120) : exc.pos + 120],
        )
        return False, None
    except RecursionError:
        result.reject(source, location, "JSON illisible : imbrication trop profonde", text[:200])
        return False, None
    except ValueError as exc:  # e.g. an integer longer than Python's 4,300-digit limit
        result.reject(source, location, f"JSON illisible : {exc}", text[:200])
        return False, None


def text(item: dict, key: str) -> str | None:
    """A scalar field as stripped text (numbers as written); None when absent, null or blank."""
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError(f"champ '{key}' de type inattendu : {json_type(value)}")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise FieldError(f"champ '{key}' de type inattendu : {json_type(value)}")


def text_list(item: dict, key: str) -> list[str]:
    """A list of labels; a single string counts as a one-element list (the Drôme ``financers``)."""
    value = item.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if not isinstance(value, list):
        raise FieldError(f"champ '{key}' de type inattendu : {json_type(value)}")
    labels: list[str] = []
    for position, element in enumerate(value, start=1):
        if isinstance(element, str):
            if element.strip():
                labels.append(element.strip())
        elif isinstance(element, (int, float)) and not isinstance(element, bool):
            labels.append(str(element))
        elif element is not None:
            raise FieldError(f"champ '{key}', élément {position} de type inattendu : {json_type(element)}")
    return labels


def named_list(item: dict, key: str, name_key: str) -> list[str]:
    """Labels of a list of objects (``[{"title": "Associations", "href": …}]``); plain strings are accepted."""
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(f"champ '{key}' de type inattendu : {json_type(value)}")
    labels: list[str] = []
    for position, element in enumerate(value, start=1):
        if isinstance(element, str):
            label: Any = element
        elif isinstance(element, dict):
            label = element.get(name_key)
            if label is None:
                continue
        elif element is None:
            continue
        else:
            raise FieldError(f"champ '{key}', élément {position} de type inattendu : {json_type(element)}")
        if not isinstance(label, str):
            raise FieldError(f"champ '{key}', élément {position} : '{name_key}' de type inattendu : {json_type(label)}")
        if label.strip():
            labels.append(label.strip())
    return labels


def required(value: str | None, reason: str) -> str:
    if value is None:
        raise FieldError(reason)
    return value


def identifier(item: dict, key: str) -> str | None:
    """The item's id as text, if it is a usable scalar (for locations; never raises)."""
    value = item.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)) and str(value).strip():
        return str(value).strip()
    return None


def geo_from_config(config: dict) -> list[GeoMention]:
    """The territory the whole source covers, when its declarative entry states one.

    ``perimetre = {niveau = "departement", code = "50", nom = "Manche"}``: a fact about
    the publisher, used only for items that state no territory of their own.
    """
    declared = config.get("perimetre")
    if not isinstance(declared, dict):
        return []
    return [GeoMention(declared.get("niveau"), code=declared.get("code"), nom=declared.get("nom"))]


def scale_level(scale: str | None) -> str | None:
    """The GeoMention level a stated perimeter scale names, or None when it names none."""
    if not scale:
        return None
    return _SCALES.get(scale.strip().lower())


class ItemSink:
    """Turns items into records or rejections, keeping ``items seen = records + rejections``.

    Also rejects a second item carrying a native id already seen in the same payload.
    """

    def __init__(self, spec: SourceSpec, result: ParseResult) -> None:
        self.spec = spec
        self.result = result
        self._seen: dict[str, str] = {}

    def add(self, location: str, item: Any, build: Callable[[dict], AidRecord]) -> None:
        if not isinstance(item, dict):
            self.result.reject(
                self.spec.name,
                location,
                f"élément qui n'est pas un objet JSON : {json_type(item)}",
                excerpt_of(item),
            )
            return
        try:
            record = build(item)
        except FieldError as exc:
            self.result.reject(self.spec.name, location, exc.reason, excerpt_of(item))
            return
        except ValueError as exc:  # AidRecord / GeoMention invariants
            self.result.reject(self.spec.name, location, f"élément invalide : {exc}", excerpt_of(item))
            return
        except Exception as exc:  # noqa: BLE001 - parse never raises on bad input
            self.result.reject(
                self.spec.name,
                location,
                f"élément illisible : {type(exc).__name__} ({exc})",
                excerpt_of(item),
            )
            return
        previous = self._seen.get(record.native_id)
        if previous is not None:
            self.result.reject(
                self.spec.name,
                location,
                f"identifiant en double : {record.native_id!r} déjà lu ({previous})",
                excerpt_of(item),
            )
            return
        self._seen[record.native_id] = location
        self.result.records.append(record)


def native_id(item: dict, *keys: str) -> str:
    """The first of ``keys`` holding a usable id; a wrong-typed id is refused, not skipped."""
    for key in keys:
        value = item.get(key)
        ident = identifier(item, key)
        if value is not None and not isinstance(value, str) and ident is None:
            raise FieldError(f"champ '{key}' de type inattendu : {json_type(value)}")
        if ident:
            return ident
    names = " et ".join(f"'{key}'" for key in keys)
    raise FieldError(f"identifiant absent (champ{'s' if len(keys) > 1 else ''} {names})")


def _build_from(build: Callable[[dict, str], AidRecord], document: str, item: dict) -> AidRecord:
    return build(item, document)


def with_id(location: str, ident: str | None, label: str = "id") -> str:
    return f"{location} ({label} {ident})" if ident else location


def _items(data: Any, key: str | None) -> tuple[list | None, str]:
    """The list of items of a decoded document, or None and what was found instead.

    ``key`` None: the document is the list itself (or ``{"data": [...]}``).
    """
    if key is None:
        if isinstance(data, list):
            return data, ""
        key = "data"
        if not isinstance(data, dict):
            return None, f"{json_type(data)} au lieu d'une liste"
    if not isinstance(data, dict):
        return None, f"{json_type(data)} au lieu d'un objet"
    if key not in data:
        return None, f"objet sans liste '{key}'"
    items = data[key]
    return (items, "") if isinstance(items, list) else (None, f"'{key}' de type {json_type(items)}")


def _entries(data: Any) -> list:
    """What a document of an unexpected shape holds that can be counted as items: the list
    itself, or the one list of objects an object holds (``{"aides": [...]}``); else nothing."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list) and value and isinstance(value[0], dict)]
        if len(lists) == 1:
            return lists[0]
    return []


def parse_documents(
    spec: SourceSpec,
    payload: Payload,
    *,
    key: str | None,
    item_label: str,
    id_key: str,
    build: Callable[[dict, str], AidRecord],
    paged: bool = False,
    id_label: str = "id",
) -> ParseResult:
    """Every item of every document: one rejection per unreadable document (per entry, when a
    document of another shape holds countable entries: it is then marked unreadable and the
    source's run fails), one record or rejection per item. ``build(item, document_name)`` raises FieldError / ValueError.

    Locations: ``<document>, <item_label> <n> (<id_label> <id>)``, the document being
    ``page <p> (<url>)`` when ``paged``.
    """
    result = ParseResult()
    sink = ItemSink(spec, result)
    for page, (document, content) in enumerate(payload.documents, start=1):
        where = f"page {page} ({document.name})" if paged else document.name
        ok, data = decode_json(result, spec.name, where, content)
        if not ok:
            continue
        items, found = _items(data, key)
        if items is None:
            # not the declared shape: the entries it holds, when they can be counted, are aids lost
            entries = [(f"{where}, {item_label} {n}", excerpt_of(entry)) for n, entry in enumerate(_entries(data), 1)]
            result.reject_document(spec.name, where, f"structure inattendue : {found}", entries, excerpt_of(data)[:300])
            continue
        for position, item in enumerate(items, start=1):
            ident = identifier(item, id_key) if isinstance(item, dict) else None
            sink.add(
                with_id(f"{where}, {item_label} {position}", ident, id_label),
                item,
                functools.partial(_build_from, build, document.name),
            )
    return result


# -- collection --------------------------------------------------------------------------


def secret(ctx: CollectContext, env_name: str) -> str | None:
    """A credential from the environment; in a fixture replay, a placeholder (nothing leaves the machine)."""
    value = os.environ.get(env_name, "").strip()
    if value:
        return value
    if ctx.replay_root is not None:
        return "rejeu-sans-identifiant"
    return None


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def next_link(content: bytes) -> Any:
    """The ``next`` field of a page, or None when the page is not a readable JSON object."""
    try:
        data = json.loads(strict_utf8(content))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return data.get("next") if isinstance(data, dict) else None


def follow_next(
    client: PoliteClient, source: str, first_url: str, headers: dict[str, str], max_pages: int
) -> Iterator[tuple[str, bytes]]:
    """GET ``first_url`` then every ``next`` link, yielding (url, content) per page.

    A page that is not readable JSON ends the walk (parse will reject it). A ``next``
    pointing back to a page already read, or more than ``max_pages`` pages, raises
    FetchError: a partial walk must not replace a complete earlier collection.
    """
    url: str | None = first_url
    seen: set[str] = set()
    while url:
        if url in seen:
            raise FetchError(source, url, "pagination en boucle : cette page a déjà été lue")
        if len(seen) >= max_pages:
            raise FetchError(source, url, f"plus de {max_pages} pages : pagination interrompue")
        seen.add(url)
        document = client.get(url, headers=headers)
        yield url, document.content
        following = next_link(document.content)
        url = urljoin(url, following) if isinstance(following, str) and following.strip() else None
