"""Generic adapter for any producer publishing a ``dispositif-aide`` CSV (Etalab schema v0.2.0).

Configuration (``spec.config``): ``url`` (required); ``delimiter`` and ``encoding`` (optional,
otherwise sniffed). Producers differ in delimiter, encoding and BOM, and their files carry
real defects (quoted multi-line cells, broken quoting, pseudo-JSON ``porteurs``); this module
reads them all and transcribes each row as stated: dates, codes and labels are left to
normalisation.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypedDict

import json5

from sources.base import CollectContext, Payload, SourceSpec
from sources.record import ELIGIBILITY_FIELDS, LIST_FIELDS, OTHER_FIELDS, AidRecord, GeoMention, ParseResult
from sources.text_files import decode, physical_lines, sniff_delimiter

# Columns the schema marks as required; a file without one of them is not a dispositif-aide file.
REQUIRED_COLUMNS = (
    "id",
    "titre",
    "description",
    "eligibilite",
    "types_aides",
    "porteurs",
    "cibles",
    "eligibilite_geographique",
    "date_mise_a_jour",
)

# The schema's ``NIVEAU-CODE`` prefixes, as levels of GeoMention.
GEO_PREFIXES = {"COM": "commune", "EPCI": "epci", "DEP": "departement", "REG": "region", "PAYS": "pays"}

_GEO_CODE = re.compile(r"([A-Za-z]+)-(\S+)")
_SEP_LINE = re.compile(r"sep=(.)")


# -- collect ---------------------------------------------------------------------------------
def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """One GET of the file the producer publishes."""
    url = spec.config["url"]
    document = ctx.client(spec).get(url)
    media = next((v for k, v in document.headers.items() if k.lower() == "content-type"), "text/csv")
    return Payload.build([(url, document.content, media.split(";")[0].strip() or "text/csv")])


# -- reading (decoding and dialect: sources.text_files) -----------------------------------------
class _Row:
    """One CSV record: its cells and the physical lines it spans (1-based)."""

    __slots__ = ("cells", "start", "end", "error")

    def __init__(self, cells: list[str] | None, start: int, end: int, error: str | None = None) -> None:
        self.cells, self.start, self.end, self.error = cells, start, end, error


def _lines_from(lines: list[str], index: int) -> Iterator[str]:
    return (lines[position] for position in range(index, len(lines)))


def _starts_row(lines: list[str], index: int, delimiter: str, width: int, like: int | None = None) -> bool:
    """Whether line ``index`` starts a row rather than continuing a broken one.

    A row starts where a record of the right width begins, or, after a broken single-line
    row of ``like`` cells, a single-line record of the same shape (a file whose rows all
    have a cell too many gives one rejection per row, not one for the whole file).
    """
    reader = csv.reader(_lines_from(lines, index), delimiter=delimiter)
    try:
        cells = next(reader)
    except (StopIteration, csv.Error):
        return False
    return len(cells) == width or (like is not None and reader.line_num == 1 and len(cells) == like)


def _unclosed_at_end(record_lines: list[str], delimiter: str) -> bool:
    """Whether the file's last record ends inside a quoted cell (a truncated download)."""
    try:
        for _ in csv.reader(iter(record_lines), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _records(lines: list[str], first: int, delimiter: str, width: int) -> Iterator[_Row]:
    """Records from line index ``first`` on, resynchronising after a broken quote.

    A record of the wrong width is a broken item. When a quote was not closed it swallowed
    its neighbours; when a stray quote closed a cell early, the cell's tail is left behind
    as orphan lines. Either way the broken item runs to the next line where a row starts
    (see ``_starts_row``), reading resumes there so that the following rows are not lost,
    and the broken item is one rejection.
    """
    position = first
    while position < len(lines):
        reader = csv.reader(_lines_from(lines, position), delimiter=delimiter)
        consumed = 0
        restart: int | None = None
        while True:
            start = position + consumed + 1  # 1-based line number of the record's first line
            try:
                cells: list[str] | None = next(reader)
                error = None
            except StopIteration:
                break
            except csv.Error as exc:
                cells, error = None, f"CSV illisible ({exc})"
            consumed = reader.line_num
            end = position + consumed
            if error is None and end == len(lines) and _unclosed_at_end(lines[start - 1 : end], delimiter):
                error = "fichier tronqué : guillemet non fermé en fin de fichier"
                if len(cells or []) == width:  # cut inside its last cell: nothing follows
                    yield _Row(cells, start, end, error)
                    return
            blank = cells is not None and end == start and not any(cell.strip() for cell in cells)
            if error is None and (len(cells or []) == width or blank):
                yield _Row(cells, start, end)
                continue
            # A broken item: it runs from its first line to the next line where a row starts
            # (a stray quote may have swallowed the following rows, or left their tails behind).
            like = len(cells) if cells is not None and end == start else None
            resume = next(
                (i for i in range(start, len(lines)) if _starts_row(lines, i, delimiter, width, like)), len(lines)
            )
            quoting = "guillemets mal fermés" if resume != end else None
            yield _Row(cells, start, max(resume, start), error or quoting)
            if resume != end or error is not None:
                restart = resume
                break
        if restart is None:
            return
        position = restart


# -- mapping ---------------------------------------------------------------------------------
def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def split_pipes(value: str | None) -> list[str]:
    """``a|b|`` → ``["a", "b"]``, as stated."""
    return [part.strip() for part in (value or "").split("|") if part.strip()]


def other_fields_of(row: Mapping[str, str | None]) -> dict[str, str | list[str]]:
    """The published fields of a row in the schema's format that the record has no attribute for
    (``sources.record.OTHER_FIELDS``), as stated: a text, or the ``|``-separated values."""
    found: dict[str, str | list[str]] = {}
    for name in OTHER_FIELDS:
        value = (row.get(name) or "").strip()
        if value:
            found[name] = split_pipes(value) if name in LIST_FIELDS else value
    return found


class StatedEligibility(TypedDict):
    conditions: list[str]
    plafonds_depense: list[str]
    montants_variations: list[str]


def eligibility_of(row: Mapping[str, str | None]) -> StatedEligibility:
    """What a row in the schema's format states of the fields the catalogue reads from conditions:
    ``conditions`` as « champ : valeur » (one per value, read by ``vocab/conditions.csv``), the
    expense ceiling, and the amounts that vary, as stated."""
    conditions = [
        f"{name} : {value}" for name in ELIGIBILITY_FIELDS for value in split_pipes(row.get(name)) if value.strip()
    ]
    ceiling = (row.get("plafond_depense") or "").strip()
    return StatedEligibility(
        conditions=conditions,
        plafonds_depense=[f"{ceiling} €"] if ceiling else [],
        montants_variations=split_pipes(row.get("montants_conditionnels")),
    )


def geo_mentions(value: str | None) -> list[GeoMention]:
    """``REG-93|COM-987`` → GeoMentions with the level the prefix states; other forms kept as given."""
    mentions = []
    for part in split_pipes(value):
        match = _GEO_CODE.fullmatch(part)
        if match and match.group(1).upper() in GEO_PREFIXES:
            mentions.append(GeoMention(GEO_PREFIXES[match.group(1).upper()], code=match.group(2)))
        elif match:
            mentions.append(GeoMention(None, code=part))
        else:
            mentions.append(GeoMention(None, nom=part))
    return mentions


def read_porteurs(value: str | None) -> tuple[list[str], list[str]]:
    """Names of all porteurs, and of those with the role ``financeur``; SIREN may be missing.

    Strict JSON and the schema's pseudo-JSON are read; any other text is taken as names
    separated by pipes, as stated.
    """
    text = (value or "").strip()
    if not text:
        return [], []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        try:
            data = json5.loads(text)  # the schema's example notation: bare keys, single quotes
        except (ValueError, RecursionError):
            data = None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        if text[0] not in "[{":
            return split_pipes(text), []
        data = _salvage_porteurs(text)
    porteurs: list[str] = []
    financeurs: list[str] = []
    for entry in data:
        if isinstance(entry, str):
            name, roles = entry.strip(), list[Any]()
        elif isinstance(entry, dict):
            name = str(entry.get("nom") or "").strip()
            roles = entry.get("roles") or entry.get("rôles") or []
            roles = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        else:
            continue
        if not name:
            continue
        if name not in porteurs:
            porteurs.append(name)
        if any(str(role).strip().lower() == "financeur" for role in roles) and name not in financeurs:
            financeurs.append(name)
    return porteurs, financeurs


# ``nom: 'ADEME'`` or ``nom: "ADEME"``, or a bare ``nom: ADEME`` (up to the next , } or ]).
_NOM = re.compile(r"""["']?nom["']?\s*:\s*(?:(["'])(?P<quoted>.*?)\1|(?P<bare>[^\s,}\]'"][^,}\]]*))""", re.DOTALL)


def _salvage_porteurs(text: str) -> list[dict[str, Any]]:
    """Names (and the financeur role) from a list that is neither JSON nor JSON5 (the schema's
    example notation), e.g. with bare names."""
    salvaged = []
    for chunk in text.split("}"):
        match = _NOM.search(chunk)
        if match:
            roles = ["financeur"] if re.search(r"\bfinanceur\b", chunk, re.IGNORECASE) else []
            salvaged.append({"nom": (match.group("quoted") or match.group("bare")).strip(), "roles": roles})
    return salvaged


def _unique_header(names: list[str]) -> list[str]:
    """Column names stripped; empty or repeated ones made unique so that raw keeps every cell."""
    seen: set[str] = set()
    header = []
    for position, name in enumerate(names, start=1):
        name = name.strip().lstrip("\ufeff").strip()
        if not name or name in seen:
            name = f"{name or 'colonne'} ({position})"
        seen.add(name)
        header.append(name)
    return header


def to_record(source: str, row: dict[str, str], raw: dict[str, str] | None = None) -> AidRecord:
    """One row (keys: lower-case column names) as an AidRecord; raises ValueError when it cannot be one."""
    porteurs, financeurs = read_porteurs(row.get("porteurs"))
    return AidRecord(
        source=source,
        native_id=(row.get("id") or "").strip(),
        titre=(row.get("titre") or "").strip(),
        description=_text(row.get("description")),
        promesse=_text(row.get("promesse")),
        eligibilite=_text(row.get("eligibilite")),
        url_source=_text(row.get("url_source")),
        porteurs=porteurs,
        financeurs=financeurs,
        geo_inclusions=geo_mentions(row.get("eligibilite_geographique")),
        geo_exclusions=geo_mentions(row.get("eligibilite_geographique_exclusions")),
        date_ouverture=_text(row.get("date_ouverture")),
        date_cloture=_text(row.get("date_cloture")),
        date_mise_a_jour=_text(row.get("date_mise_a_jour")),
        cibles=split_pipes(row.get("cibles")),
        types_aides=split_pipes(row.get("types_aides")),
        programmes_parents=split_pipes(row.get("programmes_parents")),
        other_fields=other_fields_of(row),
        **eligibility_of(row),
        raw=dict(raw if raw is not None else row),
    )


# -- parse -----------------------------------------------------------------------------------
def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """Every non-blank row of every document becomes a record or a rejection ("ligne N")."""
    result = ParseResult()
    for document, content in payload.documents:
        _parse_document(spec, document.name, content, result)
    return result


def _broken_reason(row: _Row, width: int) -> str:
    """Why a broken item is rejected: its cell count, the lines it spans, the quoting problem."""
    details = []
    if row.cells is not None and len(row.cells) != width:
        details.append(f"{len(row.cells)} cellules au lieu de {width}")
    if row.end > row.start:
        details.append(f"lignes {row.start} à {row.end}")
    if not row.error:
        return ", ".join(details)
    return f"{row.error} ({', '.join(details)})" if details else row.error


def _parse_document(spec: SourceSpec, name: str, content: bytes, result: ParseResult) -> None:
    text, _encoding = decode(content, spec.config.get("encoding"))
    lines = physical_lines(text)
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is None:
        result.reject(spec.name, name, "document vide", text[:200])
        return
    delimiter = spec.config.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        result.reject(spec.name, name, f"délimiteur configuré invalide : {delimiter!r} (un seul caractère)")
        return
    sep_line = _SEP_LINE.fullmatch(lines[first].rstrip("\r\n"))
    if sep_line:  # Excel's "sep=;" hint before the header
        delimiter = delimiter or sep_line.group(1)
        first += 1
    if first >= len(lines):
        result.reject(spec.name, name, "document sans en-tête", text[:200])
        return
    delimiter = delimiter or sniff_delimiter(lines[first])
    header_line = first + 1
    try:
        reader = csv.reader(iter(lines[first:]), delimiter=delimiter)
        header = _unique_header(next(reader))
        header_end = first + reader.line_num
    except (csv.Error, StopIteration) as exc:
        result.reject(spec.name, f"{name}, ligne {header_line}", f"en-tête CSV illisible ({exc})", lines[first])
        return
    canonical = {column.lower(): column for column in header}
    missing = [column for column in REQUIRED_COLUMNS if column not in canonical]
    width = len(header)
    if missing:
        # Not the declared shape: every row it holds is an aid lost, so each is counted.
        rows = [
            (f"{name}, ligne {row.start}", "".join(lines[row.start - 1 : row.end]))
            for row in _records(lines, header_end, delimiter, width)
            if row.cells is None or any(cell.strip() for cell in row.cells)
        ]
        result.reject_document(
            spec.name,
            f"{name}, ligne {header_line}",
            f"colonnes obligatoires du schéma dispositif-aide absentes : {', '.join(missing)}",
            rows,
            "".join(lines[first:header_end]),
        )
        return
    seen_ids: dict[str, int] = {}
    for row in _records(lines, header_end, delimiter, width):
        location = f"{name}, ligne {row.start}"
        excerpt = "".join(lines[row.start - 1 : row.end])
        if row.cells is not None and not any(cell.strip() for cell in row.cells):
            continue  # blank line or a row of empty cells: not an item
        if row.cells is None or row.error or len(row.cells) != width:
            result.reject(spec.name, location, _broken_reason(row, width), excerpt)
            continue
        raw = dict(zip(header, row.cells, strict=False))
        fields = {column: raw[original] for column, original in canonical.items()}
        native_id, titre = fields["id"].strip(), fields["titre"].strip()
        if not native_id:
            result.reject(spec.name, location, "identifiant (id) vide", excerpt)
            continue
        if not titre:
            result.reject(spec.name, location, f"titre vide (id {native_id!r})", excerpt)
            continue
        if native_id in seen_ids:
            reason = f"identifiant {native_id!r} déjà utilisé ligne {seen_ids[native_id]}"
            result.reject(spec.name, location, reason, excerpt)
            continue
        try:
            record = to_record(spec.name, fields, raw)
        except (ValueError, TypeError) as exc:
            result.reject(spec.name, location, f"ligne inutilisable ({exc})", excerpt)
            continue
        seen_ids[native_id] = row.start
        result.records.append(record)
