"""Mission Transition Écologique's programme files: one YAML file per aid, in its GitHub repository.

They are the upstream of the ``dispositif-aide`` CSV export and keep what the export loses
(dates as the editors typed them, DD/MM/YYYY; operator names; amounts), so they are read
directly. Configuration (``spec.config``): ``url``, the GitHub contents API listing of the
programmes folder (``https://api.github.com/repos/<owner>/<repo>/contents/<folder>``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import PurePosixPath
from typing import Any

import yaml

from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.record import AidRecord, GeoMention, ParseResult, acteurs_by_role
from sources.text_files import decode

YAML_SUFFIXES = (".yaml", ".yml")

# The eligibility conditions a programme states besides its territory.
STATED_CONDITIONS = ("taille de l'entreprise", "secteur d'activité", "nombre d'années d'activité")
# Top-level keys whose values are amounts or costs as stated, in this order; any other key
# starting with "montant" or "coût" is added after them.
AMOUNT_KEYS = (
    "montant du financement",
    "coût de l'accompagnement",
    "montant du prêt",
    "montant de l'avantage fiscal",
)
_AMOUNT_PREFIXES = ("montant", "coût", "cout")


# -- collect ---------------------------------------------------------------------------------
class Config(SourceConfig):
    """The repository folder of programme files and the aid pages' URL template."""

    url: str
    page_url_template: str | None = None


def _listed_files(listing: bytes) -> list[tuple[str, str]]:
    """(file name, download URL) of the YAML files of a contents API listing, sorted by name."""
    try:
        entries = json.loads(listing.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return []
    if not isinstance(entries, list):
        return []
    files = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, url = entry.get("name"), entry.get("download_url")
        if isinstance(name, str) and isinstance(url, str) and name.lower().endswith(YAML_SUFFIXES):
            if entry.get("type", "file") == "file":
                files.append((name, url))
    return sorted(files)


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """The folder listing, then every YAML file it names (documents named by file name).

    The listing is kept as the first document (named by its URL) so that an unreadable
    listing shows up as a rejection rather than as an empty source.
    """
    client = ctx.client(spec)
    listing_url = spec.config["url"]
    listing = client.get(listing_url, headers={"Accept": "application/vnd.github+json"})
    parts: list[tuple[str, bytes, str]] = [(listing_url, listing.content, "application/json")]
    for name, download_url in _listed_files(listing.content):
        parts.append((name, client.get(download_url).content, "application/yaml"))
    return Payload.build(parts)


# -- helpers ---------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """The loaded YAML as JSON-serialisable data (dates as ISO text, other scalars as text)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(item) for item in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _scalar(value: Any) -> str | None:
    """A scalar as stated text (dates that YAML resolved go back to ISO text); None otherwise."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, float)):
        text = str(value).strip()
        return text or None
    return None


def _texts(value: Any) -> list[str]:
    """A scalar or a list of scalars as a list of stated texts."""
    items = value if isinstance(value, list) else [value]
    return [text for text in (_scalar(item) for item in items) if text]


def flatten(value: Any, indent: str = "") -> str:
    """Readable text of nested YAML: ``clé :`` headings and ``- `` bullets."""
    if isinstance(value, dict):
        blocks = []
        for key, item in value.items():
            inner = flatten(item, indent + "  ")
            if not inner:
                continue
            if "\n" in inner or isinstance(item, (list, dict)):
                blocks.append(f"{indent}{key} :\n{inner}")
            else:
                blocks.append(f"{indent}{key} : {inner.strip()}")
        return "\n".join(blocks)
    if isinstance(value, list):
        lines = []
        for item in value:
            inner = flatten(item, indent + "  ")
            if inner:
                lines.append(f"{indent}- {inner.strip()}")
        return "\n".join(lines)
    return _scalar(value) or ""


def _add(target: list[str], values: list[str]) -> None:
    for value in values:
        if value not in target:
            target.append(value)


def _text_field(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, (list, dict)):
        return flatten(value) or None
    return _scalar(value)


def _conditional(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``champs conditionnels`` variants (per region, per size), when well formed."""
    variants = data.get("champs conditionnels")
    return [v for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []


def to_record(source: str, native_id: str, data: dict[str, Any], page_url: str | None = None) -> AidRecord:
    """One programme as an AidRecord; raises ValueError when it cannot be one."""
    porteurs: list[str] = []
    contacts: list[str] = []
    for part in (data, *_conditional(data)):
        _add(porteurs, _texts(part.get("opérateur de contact")))
        _add(contacts, _texts(part.get("opérateur de contact")))
        _add(porteurs, _texts(part.get("autres opérateurs")))
    # Roles as the Mission's own dispositif-aide export states them: the contact operator
    # instructs and relays, the other operators relay.
    acteurs = acteurs_by_role(("instructeur", contacts), ("diffuseur", porteurs))

    montants: list[str] = []
    amount_keys = [k for k in AMOUNT_KEYS if k in data]
    amount_keys += [k for k in data if str(k).lower().startswith(_AMOUNT_PREFIXES) and k not in amount_keys]
    for key in amount_keys:
        _add(montants, _texts(data[key]))
    for variant in _conditional(data):
        for key, value in variant.items():
            if str(key).lower().startswith(_AMOUNT_PREFIXES):
                _add(montants, _texts(value))

    conditions = data.get("conditions d'éligibilité")
    places = _texts(conditions.get("secteur géographique")) if isinstance(conditions, dict) else []
    # Company size, sector and age, one condition each as written (« taille de l'entreprise :
    # Moins de 250 salariés »), for normalisation to read (vocab/conditions.csv).
    stated = [
        f"{key} : {' '.join(text.split())}"
        for key in STATED_CONDITIONS
        for text in (_texts(conditions.get(key)) if isinstance(conditions, dict) else [])
    ]

    publics = ["entreprises"]
    if _scalar(data.get("ouvert aux administrations publiques")) == "oui":
        publics.append("administrations publiques")

    titre = _scalar(data.get("titre"))
    if titre is None:
        raise ValueError("titre absent, vide ou qui n'est pas un texte")
    return AidRecord(
        source=source,
        native_id=native_id,
        titre=titre,
        description=_text_field(data, "description"),
        promesse=_text_field(data, "promesse"),
        eligibilite=flatten(conditions) or None,
        # The Mission's own page for the programme is its information page (the one the
        # dispositif-aide export links to); the operator's page, if any, is where to apply.
        url_source=page_url.format(id=native_id) if page_url else _text_field(data, "url"),
        url_demarche=_text_field(data, "url") if page_url else None,
        porteurs=porteurs,
        acteurs=acteurs,
        geo_inclusions=[GeoMention(None, nom=place) for place in places],
        date_ouverture=_text_field(data, "début de validité"),
        date_cloture=_text_field(data, "fin de validité"),
        montants=montants,
        cibles=publics,
        conditions=stated,
        types_aides=_texts(data.get("nature de l'aide")),
        raw=jsonable(data),
    )


# -- parse -----------------------------------------------------------------------------------
def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """Each YAML document is one programme: a record, or a rejection naming the file and why."""
    result = ParseResult()
    programmes = [(doc, content) for doc, content in payload.documents if doc.name.lower().endswith(YAML_SUFFIXES)]
    if not programmes:
        for document, content in payload.documents:
            _check_listing(spec, document.name, content, result)
    for document, content in programmes:
        _parse_programme(spec, document.name, content, result)
    return result


def _check_listing(spec: SourceSpec, name: str, content: bytes, result: ParseResult) -> None:
    """A listing that names no YAML file is one rejection unless it is an empty folder listing."""
    excerpt = content[:300].decode("utf-8", "replace")
    try:
        entries = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        result.reject(spec.name, name, f"liste des fichiers illisible (JSON invalide : {exc})", excerpt)
        return
    if isinstance(entries, list):
        return  # a folder without programme files: nothing to read
    message = entries.get("message") if isinstance(entries, dict) else None
    reason = "la liste des fichiers n'est pas une liste"
    if message:
        reason = f"réponse inattendue de l'API GitHub : {message}"
    result.reject(spec.name, name, reason, excerpt)


def _parse_programme(spec: SourceSpec, name: str, content: bytes, result: ParseResult) -> None:
    location = f"fichier {name}"
    text, _encoding = decode(content)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", ligne {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        result.reject(spec.name, location + where, f"YAML invalide : {problem}", text[:300])
        return
    except Exception as exc:  # noqa: BLE001 - e.g. ``!!timestamp 2020-99-99``: any failure is this file's
        result.reject(spec.name, location, f"YAML illisible : {exc}", text[:300])
        return
    if not isinstance(data, dict):
        kind = "vide" if data is None else f"un {type(data).__name__}"
        result.reject(spec.name, location, f"le programme n'est pas un dictionnaire YAML ({kind})", text[:300])
        return
    if _scalar(data.get("titre")) is None:
        state = "absent" if "titre" not in data else "vide ou qui n'est pas un texte"
        result.reject(spec.name, location, f"titre {state}", text[:300])
        return
    native_id = PurePosixPath(name).stem
    try:
        record = to_record(spec.name, native_id, data, spec.config.get("page_url_template"))
    except (ValueError, TypeError, RecursionError) as exc:  # recursion: self-referencing YAML anchors
        result.reject(spec.name, location, f"programme inutilisable ({exc})", text[:300])
        return
    result.records.append(record)
