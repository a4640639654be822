"""Generic adapter for OpenDataSoft portals (Explore API v2.1), configured per dataset.

A new ODS dataset needs only a declarative entry::

    [source.config]
    portal = "https://data.example.fr"     # portal base URL
    dataset = "dataset-id"
    page_size = 100                        # <= 100 (the API's cap for /records)
    where = "..."                          # optional ODSQL filter
    order_by = "..."                       # optional, for a stable paging order
    split = ";"                            # optional: separator of multi-valued text fields
    geo_niveau = "departement"             # optional: level of the names in fields.geo
    [source.config.fields]                 # AidRecord attribute -> the dataset's field(s)
    native_id = "id"
    titre = "nom"
    description = ["objet", "operations"]  # several fields: texts joined by a newline
    montants = ["minimum {mini} €"]        # "{field}" templates, rendered when the field has a value
    [source.config.constants]              # shared by every record (see html.constants)
    porteurs = ["Région X"]
    geo = {niveau = "region", code = "00"}

Collection pages ``/records?limit=&offset=`` up to ``total_count``; ODS caps
offset + limit at 10 000, so a larger dataset is fetched whole from ``/exports/json``.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote, urlencode

from sources.adapters.html import constants, excerpt_of
from sources.base import CollectContext, Payload, SourceSpec
from sources.record import LIST_FIELDS, TEXT_FIELDS, AidRecord, GeoMention, ParseResult
from sources.text_files import strict_utf8

API_PATH = "/api/explore/v2.1/catalog/datasets/"
MAX_PAGE_SIZE = 100
MAX_WINDOW = 10_000  # offset + limit may not exceed this on /records
JSON_MEDIA = "application/json"


class FieldError(Exception):
    """A mapped field holds a value of a type the record cannot take."""


# -- collect ----------------------------------------------------------------------------
def _dataset_url(config: dict[str, Any]) -> str:
    return config["portal"].rstrip("/") + API_PATH + quote(str(config["dataset"]), safe="@")


def _filters(config: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, str(config[key])) for key in ("where", "order_by") if config.get(key)]


def page_size(config: dict[str, Any]) -> int:
    """The configured page size, kept within the API's bounds."""
    try:
        size = int(config.get("page_size", MAX_PAGE_SIZE))
    except (TypeError, ValueError):
        size = MAX_PAGE_SIZE
    return max(1, min(size, MAX_PAGE_SIZE))


def records_url(config: dict[str, Any], offset: int) -> str:
    """URL of the page starting at ``offset`` (its limit shrinks so as not to pass 10 000)."""
    limit = min(page_size(config), MAX_WINDOW - offset)
    return _dataset_url(config) + "/records?" + urlencode([("limit", limit), ("offset", offset), *_filters(config)])


def export_url(config: dict[str, Any]) -> str:
    filters = _filters(config)
    return _dataset_url(config) + "/exports/json" + ("?" + urlencode(filters) if filters else "")


def _total_count(content: bytes) -> int | None:
    try:
        data = json.loads(strict_utf8(content))
    except (UnicodeDecodeError, ValueError):
        return None
    total = data.get("total_count") if isinstance(data, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """Every page of the dataset, or its JSON export when it is beyond the paging window."""
    config = spec.config
    client = ctx.client(spec)
    first_url = records_url(config, 0)
    first = client.get(first_url)
    total = _total_count(first.content)
    if total is None:  # unreadable first page: parse will say so
        return Payload.build([(first_url, first.content, JSON_MEDIA)])
    if total > MAX_WINDOW:
        url = export_url(config)
        return Payload.build([(url, client.get(url).content, JSON_MEDIA)])
    parts = [(first_url, first.content, JSON_MEDIA)]
    for offset in range(page_size(config), total, page_size(config)):
        url = records_url(config, offset)
        parts.append((url, client.get(url).content, JSON_MEDIA))
    return Payload.build(parts)


# -- parse ------------------------------------------------------------------------------
def _scalar(value: Any, field: str) -> str | None:
    """A JSON scalar as the text the dataset gives; None when empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise FieldError(f"champ '{field}' : type inattendu ({type(value).__name__})")


def _values(row: dict[str, Any], item: str, separator: str | None) -> list[str]:
    """Texts one mapping item yields: a field (split on the separator) or a "{field}" template."""
    if "{" in item:
        names = [name for _, name, _, _ in string.Formatter().parse(item) if name]
        rendered: dict[str, str] = {}
        for name in names:
            texts = _values(row, name, None)
            if not texts:
                return []  # a template renders only when its fields have values
            rendered[name] = ", ".join(texts)
        try:
            return [item.format(**rendered)]
        except (ValueError, IndexError, KeyError) as exc:
            raise FieldError(f"gabarit {item!r} inutilisable ({exc})") from exc
    value = row.get(item)
    if isinstance(value, list):
        scalars = [_scalar(element, item) for element in value]
        return [text for text in scalars if text]
    text = _scalar(value, item)
    if text is None:
        return []
    if separator:
        return [part.strip() for part in text.split(separator) if part.strip()]
    return [text]


def _mapping(spec_value: Any) -> list[str]:
    if isinstance(spec_value, str):
        return [spec_value]
    if isinstance(spec_value, list):
        return [item for item in spec_value if isinstance(item, str)]
    return []


def _text(row: dict[str, Any], spec_value: Any) -> str | None:
    texts = [text for item in _mapping(spec_value) for text in _values(row, item, None)]
    return "\n".join(texts) if texts else None


def _list(row: dict[str, Any], spec_value: Any, separator: str | None) -> list[str]:
    return [text for item in _mapping(spec_value) for text in _values(row, item, separator)]


def _identity(row: dict[str, Any], spec_value: Any, what: str) -> str:
    """native_id or titre: a single text or number, required."""
    for item in _mapping(spec_value):
        value = row.get(item) if "{" not in item else None
        if isinstance(value, (list, dict)):
            raise FieldError(f"{what} : champ '{item}' de type inattendu ({type(value).__name__})")
    text = _text(row, spec_value)
    if not text:
        raise FieldError(f"{what} absent ou vide (champ {' + '.join(_mapping(spec_value)) or 'non configuré'})")
    return text


def record_from_row(spec: SourceSpec, row: dict[str, Any]) -> AidRecord:
    """One dataset row as an AidRecord; FieldError / ValueError say why it cannot be one."""
    config = spec.config
    fields: dict[str, Any] = config.get("fields") or {}
    separator = config.get("split") or None
    values = constants(config, spec.level)
    native_id = _identity(row, fields.get("native_id"), "identifiant")
    titre = _identity(row, fields.get("titre"), "titre")
    for attribute in TEXT_FIELDS:
        if attribute != "titre" and attribute in fields:
            text = _text(row, fields[attribute])
            if text is not None:
                values[attribute] = text
    for attribute in LIST_FIELDS:
        if attribute in fields:
            texts = _list(row, fields[attribute], separator)
            if texts:
                values[attribute] = texts
    if "geo" in fields:
        names = _list(row, fields["geo"], separator)
        if names:
            values["geo_inclusions"] = [GeoMention(config.get("geo_niveau"), nom=name) for name in names]
    return AidRecord.from_values(source=spec.name, native_id=native_id, titre=titre, raw=row, **values)


def _rows(data: Any) -> tuple[list[Any] | None, str]:
    """The rows of a /records page or of a JSON export, and what the document is."""
    if isinstance(data, list):
        return data, "export"
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"], "page"
    return None, ""


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """Rows of every page as records; an unreadable page is one rejection, a bad row another."""
    result = ParseResult()
    id_fields = _mapping((spec.config.get("fields") or {}).get("native_id"))
    for number, (document, content) in enumerate(payload.documents, start=1):
        where = f"{document.name} (page {number})"
        try:
            data = json.loads(strict_utf8(content))
        except UnicodeDecodeError as exc:
            result.reject(spec.name, where, f"page illisible : encodage non UTF-8 ({exc.reason})", excerpt_of(content))
            continue
        except ValueError as exc:
            result.reject(spec.name, where, f"page illisible : JSON invalide ({exc})", excerpt_of(content))
            continue
        rows, kind = _rows(data)
        if rows is None:
            result.reject(
                spec.name, where, "réponse inattendue : ni liste « results » ni export JSON", excerpt_of(content)
            )
            continue
        for position, row in enumerate(rows, start=1):
            location = f"{document.name} : {'export' if kind == 'export' else f'page {number}'}, résultat {position}"
            if not isinstance(row, dict):
                result.reject(spec.name, location, f"résultat qui n'est pas un objet JSON ({type(row).__name__})", row)
                continue
            known_id = next((row.get(name) for name in id_fields if isinstance(row.get(name), (str, int))), None)
            if known_id is not None:
                location += f" (id {known_id})"
            try:
                result.records.append(record_from_row(spec, row))
            except (FieldError, ValueError) as exc:
                result.reject(spec.name, location, str(exc), json.dumps(row, ensure_ascii=False, default=str))
    return result
