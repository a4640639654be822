"""Generic adapter for any JSON API or file of aids, whatever its fields: the mapping is configuration.

    [[source]]
    adapter = "json_api"
    [source.config]
    url = "https://producteur.example/api/aides?page=1"
    items = "results"              # dotted path to the list of aids; omitted: the document is the list
    next = "next"                  # optional: dotted path to the next page's URL (pages followed, guarded)
    max_pages = 50
    [source.config.fields]         # see sources.mapping: fields as dotted paths into each aid
    native_id = "id"
    titre = "name"
    financeurs = "financers.name"  # a path through a list gives every element's value

The documents are decoded and their items counted by ``sources.adapters.jsonapi``: a page
that is not JSON is one rejection; a page of another shape (no list at ``items``) is
unreadable: each entry it holds is rejected and the source's run fails.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from sources.adapters.jsonapi import JSON_MEDIA_TYPE, ItemSink, decode_json, excerpt_of, json_type, with_id
from sources.base import CollectContext, Payload, SourceSpec
from sources.fetch.client import FetchError
from sources.mapping import Mapper, MappingConfig, lookup
from sources.record import ParseResult
from sources.text_files import strict_utf8


class Config(MappingConfig):
    """The API's URL, where its aids and next page are, and the mapping (``sources.mapping``)."""

    url: str
    items: str | None = None
    next: str | None = None
    max_pages: int = 50


def _next_url(content: bytes, path: str, base: str) -> str | None:
    try:
        data = json.loads(strict_utf8(content))
    except (ValueError, RecursionError):
        return None  # parse says why
    following = lookup(data, path) if isinstance(data, dict) else None
    return urljoin(base, following) if isinstance(following, str) and following.strip() else None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """GET the URL, then each next page when ``next`` is configured (a loop or too many pages fail)."""
    client = ctx.client(spec)
    url: str | None = spec.config["url"]
    path, max_pages = spec.config.get("next"), int(spec.config.get("max_pages", 50))
    parts: list[tuple[str, bytes, str]] = []
    while url:
        if any(name == url for name, _, _ in parts):
            raise FetchError(spec.name, url, "pagination en boucle : cette page a déjà été lue")
        if len(parts) >= max_pages:
            raise FetchError(spec.name, url, f"plus de {max_pages} pages : pagination interrompue")
        content = client.get(url, headers={"Accept": JSON_MEDIA_TYPE}).content
        parts.append((url, content, JSON_MEDIA_TYPE))
        url = _next_url(content, path, url) if path else None
    return Payload.build(parts)


def _items(data: Any, path: str | None) -> tuple[list | None, str]:
    found = data if path is None else (lookup(data, path) if isinstance(data, dict) else None)
    if isinstance(found, list):
        return found, ""
    return None, f"pas de liste d'aides {'à « ' + path + ' »' if path else ''} ({json_type(data)} lu)"


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """Every item of every page: a record, or a rejection naming the page, the item and why."""
    result = ParseResult()
    sink = ItemSink(spec, result)
    mapper = Mapper(spec.name, spec.level, spec.config)
    id_spec = mapper.mapping.fields["native_id"]
    id_path = id_spec if isinstance(id_spec, str) else id_spec[0]
    for page, (document, content) in enumerate(payload.documents, start=1):
        where = f"page {page} ({document.name})"
        ok, data = decode_json(result, spec.name, where, content)
        if not ok:
            continue
        items, found = _items(data, spec.config.get("items"))
        if items is None:
            entries = data if isinstance(data, list) else []
            located = [(f"{where}, aide {n}", excerpt_of(entry)) for n, entry in enumerate(entries, start=1)]
            result.reject_document(spec.name, where, f"structure inattendue : {found}", located, excerpt_of(data))
            continue
        for position, item in enumerate(items, start=1):
            ident = lookup(item, id_path) if isinstance(item, dict) else None
            location = with_id(f"{where}, aide {position}", str(ident) if isinstance(ident, (str, int)) else None)
            sink.add(location, item, lambda row: mapper.record(row))
    return result
