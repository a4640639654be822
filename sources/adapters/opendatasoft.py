"""Generic adapter for OpenDataSoft portals (Explore API v2.1), configured per dataset.

A new ODS dataset needs only a declarative entry::

    [source.config]
    portal = "https://data.example.fr"     # portal base URL
    dataset = "dataset-id"
    page_size = 100                        # <= 100 (the API's cap for /records)
    where = "..."                          # optional ODSQL filter
    order_by = "..."                       # optional, for a stable paging order
    split = ";"                            # optional: separator of multi-valued text fields
    [source.config.fields]                 # AidRecord attribute -> the dataset's field(s): sources.mapping
    native_id = "id"
    titre = "nom"
    description = ["objet", "operations"]  # several fields: texts joined by a newline
    montants = ["minimum {mini} €"]        # "{field}" templates, rendered when the field has a value
    [source.config.constants]              # shared by every record (see html.constants)
    porteurs = ["Région X"]
    geo = {niveau = "region", code = "00"}

Every key of the shared mapping layer (``sources.mapping``: per-field dates, value tables,
geography from a field or from the financers' names) applies. Collection pages ``/records?limit=&offset=`` up to ``total_count``; ODS caps
offset + limit at 10 000, so a larger dataset is fetched whole from ``/exports/json``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from sources.adapters.html import excerpt_of
from sources.base import CollectContext, Payload, SourceSpec
from sources.mapping import FieldError, Mapper, MappingConfig
from sources.record import AidRecord, ParseResult
from sources.text_files import strict_utf8

API_PATH = "/api/explore/v2.1/catalog/datasets/"
MAX_PAGE_SIZE = 100
MAX_WINDOW = 10_000  # offset + limit may not exceed this on /records
JSON_MEDIA = "application/json"


class Config(MappingConfig):
    """The portal, the dataset and its paging, and the mapping (``sources.mapping``)."""

    portal: str
    dataset: str
    page_size: int = MAX_PAGE_SIZE
    where: str | None = None
    order_by: str | None = None


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
def record_from_row(spec: SourceSpec, row: dict[str, Any]) -> AidRecord:
    """One dataset row as an AidRecord; FieldError / ValueError say why it cannot be one."""
    return Mapper(spec.name, spec.level, spec.config).record(row)


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
    mapper = Mapper(spec.name, spec.level, spec.config)
    id_spec = mapper.mapping.fields["native_id"]
    id_fields = [id_spec] if isinstance(id_spec, str) else id_spec
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
                result.records.append(mapper.record(row))
            except (FieldError, ValueError) as exc:
                result.reject(spec.name, location, str(exc), json.dumps(row, ensure_ascii=False, default=str))
    return result
