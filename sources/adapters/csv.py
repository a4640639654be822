"""Generic adapter for any CSV file of aids, whatever its columns: the mapping is configuration.

    [[source]]
    adapter = "csv"
    [source.config]
    url = "https://producteur.example/aides.csv"
    delimiter = ";"          # optional, otherwise sniffed
    encoding = "cp1252"      # optional, otherwise detected
    split = ";"
    [source.config.fields]   # see sources.mapping
    native_id = "Nom"
    titre = "Nom"

The file is read by ``sources.csv_table`` (any delimiter, encoding, BOM, broken quoting), each
row by ``sources.mapping``. A header that lacks a column the mapping reads is not the declared
shape (a renamed column would otherwise empty a field of every aid without a word): every row
is rejected with that reason and the source's run fails.
"""

from __future__ import annotations

import functools

from sources.adapters.dispositif_aide_csv import collect as collect_file
from sources.base import CollectContext, Payload, SourceSpec
from sources.csv_table import TableError, read_table
from sources.mapping import FieldError, Mapper, MappingConfig
from sources.record import ParseResult


class Config(MappingConfig):
    """``url`` of the file, its optional dialect, and the mapping (``sources.mapping``)."""

    url: str
    delimiter: str | None = None
    encoding: str | None = None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """One GET of the file."""
    return collect_file(spec, ctx)


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """Every non-blank row of every document becomes a record or a rejection ("ligne N")."""
    result = ParseResult()
    mapper = Mapper(spec.name, spec.level, spec.config)
    for document, content in payload.documents:
        _parse_document(spec, mapper, document.name, content, result)
    return result


def _parse_document(spec: SourceSpec, mapper: Mapper, name: str, content: bytes, result: ParseResult) -> None:
    try:
        table = read_table(name, content, spec.config.get("encoding"), spec.config.get("delimiter"))
    except TableError as exc:
        result.reject_document(spec.name, exc.location, exc.reason, [], exc.excerpt)
        return
    columns = set(table.header)
    missing = sorted(name for name in mapper.columns() if name not in columns)
    if missing:
        result.reject_document(
            spec.name,
            f"{name}, ligne {table.header_line}",
            f"colonnes absentes de l'en-tête : {', '.join(missing)} (en-tête lu : {', '.join(table.header)})",
            table.items(),
            table.header_excerpt,
        )
        return
    seen: dict[str, int] = {}
    reject = functools.partial(result.reject, spec.name)
    for row, location, excerpt, cells in table.readable_rows(reject):
        try:
            record = mapper.record(cells)
        except (FieldError, ValueError) as exc:
            result.reject(spec.name, location, str(exc), excerpt)
            continue
        if record.native_id in seen:
            result.reject(
                spec.name, location, f"identifiant {record.native_id!r} déjà vu ligne {seen[record.native_id]}", excerpt
            )
            continue
        seen[record.native_id] = row.start
        result.records.append(record)
