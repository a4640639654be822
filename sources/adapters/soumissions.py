"""What collectivités submitted, as a source of the catalogue (the highest precedence).

Every file accepted into the append-only store (``warehouse/submissions/store.py``) is a
submission file as ``warehouse/submissions/checks.py`` describes it: the published schema's columns
(minus the computed ones) plus ``action`` (``ajout``, ``correction``, ``retrait``). Only valid
files reach the store, so this adapter transcribes without re-validating; it still rejects,
with their location, the rows it cannot use (a file put there by hand, say).

Configuration (``spec.config``): ``folder``, the store folder relative to the warehouse root
(``submissions`` by default; it must stay inside the warehouse).

- ``collect``: every ``*.csv`` of the folder, in name order — names start with the UTC time of
  arrival, so this is the order of arrival; an empty or missing folder is an empty payload (0
  records), not an unavailable source.
- ``parse``: one AidRecord per row; ``native_id`` = the catalogue id for ``correction`` /
  ``retrait``, the row's id for an ``ajout`` that has one, otherwise a stable derivation
  ``uuid5(collectivité SIREN + normalised title)`` (so that re-submitting the same new aid
  replaces it instead of adding it twice). Geography as ``NIVEAU-CODE`` mentions, like the
  dispositif-aide adapter; ``montant_max`` / ``taux_max`` as stated amounts (``"600 €"``,
  ``"33 %"``); ``echelle`` as the record's ``niveau``.
- The same aid in several submissions: the LAST one wins (later file, then later line). Each
  earlier row is listed among the rejections as « remplacée par <file>, ligne N » — history, not
  an error — so that items seen = records + rejections still holds.
- ``retrait`` ("cette aide n'existe plus"): a record with ``raw["action"] == "retrait"`` (the
  title defaults to « Aide retirée <id> » when the row left it empty). The catalogue does not act
  on it yet; it is meant to withdraw the aid from publication. Every record's ``raw`` carries
  ``action``, ``siren`` (the submitting collectivité), ``soumission`` (file name) and ``ligne``.
- A leading quote that neutralises a formula (``'=…``, ``'-…``) is removed, as the validator
  reads it.
"""

from __future__ import annotations

import csv
import re
import uuid
from pathlib import Path

from schemas.formulas import without_neutralising_quote
from sources.adapters.dispositif_aide_csv import (
    eligibility_of,
    geo_mentions,
    other_fields_of,
    read_acteurs,
    split_pipes,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.record import AidRecord, ParseResult
from sources.text_files import physical_lines, strict_utf8

ACTIONS = ("ajout", "correction", "retrait")
DEFAULT_FOLDER = "submissions"
# Namespace of the ids derived for additions without an id (uuid5 of "siren|normalised title").
NAMESPACE = uuid.UUID("9c1f7f4e-5d0a-4b8e-9a53-6f2a1c7e0b11")
_STORED_NAME = re.compile(r"\d{8}T\d{6,12}Z-(?P<siren>[0-9A-Za-z-]+?)-[0-9a-f]{12}(-\d+)?\.csv")


# -- collect ---------------------------------------------------------------------------------
class Config(SourceConfig):
    """The warehouse folder the collectivités' files are accepted into."""

    folder: str = DEFAULT_FOLDER


def store_folder(spec: SourceSpec) -> Path:
    """The store folder: ``spec.config["folder"]`` under the warehouse root (never outside it)."""
    from warehouse.settings import warehouse_paths

    root = warehouse_paths().root.resolve()
    folder = (root / str(spec.config.get("folder", DEFAULT_FOLDER))).resolve()
    if folder != root and root not in folder.parents:
        raise ValueError(f"dossier des soumissions hors de l'entrepôt : {folder}")
    return folder


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """Every stored submission file, in order of arrival; none is an empty payload."""
    folder = store_folder(spec)
    files = sorted(path for path in folder.glob("*.csv") if path.is_file()) if folder.is_dir() else []
    return Payload.build([(path.name, path.read_bytes(), "text/csv") for path in files])


# -- parse -----------------------------------------------------------------------------------
def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = without_neutralising_quote(value.strip())
    return value or None


def _title_key(titre: str) -> str:
    return " ".join(titre.lower().split())


def native_id(action: str, row_id: str | None, siren: str, titre: str) -> str:
    """The record's id: the row's id when it has one, else uuid5 of the collectivité and title."""
    if row_id:
        return row_id.lower()
    return str(uuid.uuid5(NAMESPACE, f"{siren}|{_title_key(titre)}"))


def siren_of(document_name: str) -> str:
    """The collectivité of a stored file, from its name (``<time>-<siren>-<sha>.csv``); the stem otherwise."""
    match = _STORED_NAME.fullmatch(document_name)
    return match.group("siren") if match else Path(document_name).stem


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """Every row of every file, later rows replacing earlier ones of the same aid.

    A replaced row is listed as a rejection « remplacée par <file>, ligne N » so that items
    seen = records + rejections still holds (it is history, not an error).
    """
    result = ParseResult()
    latest: dict[str, AidRecord] = {}
    for document, content in payload.documents:
        for record in _parse_document(spec, document.name, content, result):
            earlier = latest.pop(record.native_id, None)  # re-inserted last: order of the latest statement
            if earlier is not None:
                result.reject(
                    spec.name,
                    f"{earlier.raw['soumission']}, ligne {earlier.raw['ligne']}",
                    f"remplacée par {record.raw['soumission']}, ligne {record.raw['ligne']} "
                    f"(même aide {record.native_id})",
                )
            latest[record.native_id] = record
    result.records = list(latest.values())
    return result


def _parse_document(spec: SourceSpec, name: str, content: bytes, result: ParseResult) -> list[AidRecord]:
    try:
        text = strict_utf8(content)
    except UnicodeDecodeError as exc:
        result.reject(spec.name, name, f"fichier non UTF-8 ({exc.reason} à l'octet {exc.start})")
        return []
    lines = physical_lines(text)
    reader = csv.reader(iter(lines))
    try:
        header = [cell.strip() for cell in next(reader)]
    except (StopIteration, csv.Error) as exc:
        result.reject(spec.name, name, f"en-tête illisible ({exc})" if str(exc) else "fichier vide")
        return []
    if "action" not in header or "titre" not in header or "id" not in header:
        result.reject(
            spec.name, f"{name}, ligne 1", "colonnes action, id et titre attendues", lines[0] if lines else ""
        )
        return []
    siren = siren_of(name)
    records: list[AidRecord] = []
    consumed = 1
    while True:
        start = consumed + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.reject(spec.name, f"{name}, ligne {start}", f"CSV illisible ({exc})")
            break
        consumed = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        location = f"{name}, ligne {start}"
        if len(cells) != len(header):
            result.reject(spec.name, location, f"{len(cells)} cellules au lieu de {len(header)}", ",".join(cells))
            continue
        row = {column: _text(cell) for column, cell in zip(header, cells, strict=False)}
        record = _record(spec, row, siren, name, start, result, location)
        if record is not None:
            records.append(record)
    return records


def _record(
    spec: SourceSpec, row: dict[str, str | None], siren: str, name: str, line: int, result: ParseResult, location: str
) -> AidRecord | None:
    action = row.get("action")
    if action not in ACTIONS:
        result.reject(spec.name, location, f"action {action!r} inconnue (ajout, correction, retrait)")
        return None
    row_id = row.get("id")
    if action != "ajout" and not row_id:
        result.reject(spec.name, location, f"{action} sans identifiant")
        return None
    titre = row.get("titre") or (f"Aide retirée {row_id}" if action == "retrait" else None)
    if not titre:
        result.reject(spec.name, location, "titre vide")
        return None
    acteurs = read_acteurs(row.get("porteurs"))
    porteurs, financeurs = [a.nom for a in acteurs], [a.nom for a in acteurs if "financeur" in a.roles]
    montant, taux = row.get("montant_max"), row.get("taux_max")
    raw: dict[str, str | int] = {key: value for key, value in row.items() if value is not None}
    raw.update({"action": action, "siren": siren, "soumission": name, "ligne": line})
    try:
        return AidRecord(
            source=spec.name,
            native_id=native_id(action, row_id, siren, titre),
            titre=titre,
            description=row.get("description"),
            promesse=row.get("promesse"),
            eligibilite=row.get("eligibilite"),
            url_source=row.get("url_source"),
            url_demarche=row.get("url_demarche"),
            porteurs=porteurs,
            acteurs=acteurs if any(a.siren or a.roles for a in acteurs) else [],
            financeurs=financeurs,
            niveau=row.get("echelle"),
            geo_inclusions=geo_mentions(row.get("eligibilite_geographique")),
            geo_exclusions=geo_mentions(row.get("eligibilite_geographique_exclusions")),
            date_ouverture=row.get("date_ouverture"),
            date_cloture=row.get("date_cloture"),
            date_mise_a_jour=row.get("date_mise_a_jour"),
            montants=[f"{montant} €"] if montant else [],
            taux=[f"{taux} %"] if taux else [],
            cibles=split_pipes(row.get("cibles")),
            types_aides=split_pipes(row.get("types_aides")),
            thematiques=split_pipes(row.get("thematiques")),
            programmes_parents=split_pipes(row.get("programmes_parents")),
            recurrence=row.get("recurrence"),
            other_fields=other_fields_of(row),
            **eligibility_of(row),
            raw=raw,
        )
    except ValueError as exc:
        result.reject(spec.name, location, f"ligne inutilisable ({exc})")
        return None
