"""Generic adapter for any producer publishing a ``dispositif-aide`` CSV (Etalab schema v0.2.0).

Configuration (``spec.config``): ``url`` (required); ``delimiter`` and ``encoding`` (optional,
otherwise sniffed). Producers differ in delimiter, encoding and BOM, and their files carry
real defects (quoted multi-line cells, broken quoting, pseudo-JSON ``porteurs``); this module
reads them all and transcribes each row as stated: dates, codes and labels are left to
normalisation.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict

import json5

from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.csv_table import TableError, read_table
from sources.record import ELIGIBILITY_FIELDS, LIST_FIELDS, OTHER_FIELDS, Acteur, AidRecord, GeoMention, ParseResult

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


# -- collect ---------------------------------------------------------------------------------
class Config(SourceConfig):
    """The file's URL and, when sniffing would not do, its delimiter and encoding."""

    url: str
    delimiter: str | None = None
    encoding: str | None = None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """One GET of the file the producer publishes."""
    url = spec.config["url"]
    document = ctx.client(spec).get(url)
    media = next((v for k, v in document.headers.items() if k.lower() == "content-type"), "text/csv")
    return Payload.build([(url, document.content, media.split(";")[0].strip() or "text/csv")])


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


def read_acteurs(value: str | None) -> list[Acteur]:
    """The actors of a ``porteurs`` cell with their SIREN and roles, as stated (SIREN may be missing).

    Strict JSON and the schema's pseudo-JSON are read; any other text is taken as names
    separated by pipes, as stated, without roles.
    """
    text = (value or "").strip()
    if not text:
        return []
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
            return [Acteur(name) for name in dict.fromkeys(split_pipes(text))]
        data = _salvage_porteurs(text)
    acteurs: dict[str, Acteur] = {}
    for entry in data:
        if isinstance(entry, str):
            name, siren, roles = entry.strip(), None, list[Any]()
        elif isinstance(entry, dict):
            name = str(entry.get("nom") or "").strip()
            siren = re.sub(r"\s+", "", str(entry.get("siren") or "")) or None
            roles = entry.get("roles") or entry.get("rôles") or []
            roles = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        else:
            continue
        if not name:
            continue
        stated = tuple(dict.fromkeys(str(role).strip().lower() for role in roles if str(role).strip()))
        known = acteurs.get(name)
        if known is not None:
            stated = tuple(dict.fromkeys(known.roles + stated))
            siren = known.siren or siren
        acteurs[name] = Acteur(name, siren, stated)
    return list(acteurs.values())


def read_porteurs(value: str | None) -> tuple[list[str], list[str]]:
    """Names of all porteurs, and of those with the role ``financeur`` (see :func:`read_acteurs`)."""
    acteurs = read_acteurs(value)
    return [a.nom for a in acteurs], [a.nom for a in acteurs if "financeur" in a.roles]


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


def to_record(source: str, row: dict[str, str], raw: dict[str, str] | None = None) -> AidRecord:
    """One row (keys: lower-case column names) as an AidRecord; raises ValueError when it cannot be one."""
    acteurs = read_acteurs(row.get("porteurs"))
    return AidRecord(
        source=source,
        native_id=(row.get("id") or "").strip(),
        titre=(row.get("titre") or "").strip(),
        description=_text(row.get("description")),
        promesse=_text(row.get("promesse")),
        eligibilite=_text(row.get("eligibilite")),
        url_source=_text(row.get("url_source")),
        porteurs=[a.nom for a in acteurs],
        financeurs=[a.nom for a in acteurs if "financeur" in a.roles],
        acteurs=acteurs if any(a.siren or a.roles for a in acteurs) else [],
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


def _parse_document(spec: SourceSpec, name: str, content: bytes, result: ParseResult) -> None:
    try:
        table = read_table(name, content, spec.config.get("encoding"), spec.config.get("delimiter"))
    except TableError as exc:
        result.reject(spec.name, exc.location, exc.reason, exc.excerpt)
        return
    canonical = {column.lower(): column for column in table.header}
    missing = [column for column in REQUIRED_COLUMNS if column not in canonical]
    if missing:
        # Not the declared shape: every row it holds is an aid lost, so each is counted.
        result.reject_document(
            spec.name,
            f"{name}, ligne {table.header_line}",
            f"colonnes obligatoires du schéma dispositif-aide absentes : {', '.join(missing)}",
            table.items(),
            table.header_excerpt,
        )
        return
    seen_ids: dict[str, int] = {}
    reject = functools.partial(result.reject, spec.name)
    for row, location, excerpt, raw in table.readable_rows(reject):
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
