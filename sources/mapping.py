"""From a row of a table or an object of a JSON feed to an AidRecord, as configuration says.

Shared by the adapters of tabular and JSON sources (``csv``, ``opendatasoft``…), so that a
source of one of these shapes is one declaration, no Python::

    [source.config.fields]             # record field -> the source's column(s), path(s) or templates
    native_id = "Nom"
    titre = "Nom"
    description = ["Descriptif", "Critères"]        # several: texts joined by a newline
    montants = ["jusqu'à {Montant max} €"]          # "{column}" templates, rendered when it has a value
    url_source = "liens.page"                       # JSON: a dotted path into nested objects
    [source.config]
    split = ";"                        # separator of list fields, or a table: { financeurs = ";" }
    [source.config.dates]              # per-field date format (strptime): read to ISO, else kept as stated
    date_cloture = "%d/%m/%Y"
    [source.config.values.cibles]      # per-field value table: the source's label -> the catalogue's
    "Collectivités" = "collectivites"
    [source.config.constants]          # shared by every record (see sources.adapters.html.constants)
    porteurs = ["Région X"]
    [source.config.geo]                # geography from a column: names or codes, at a level
    field = "Territoire"
    level = "departement"
    codes = false
    # or: geo_from_financeurs = true  (the financers' names, resolved through the organisations
    # referential when the source states no other geography)

Adapters transcribe (``sources/record.py``): a value the tables do not know is kept as stated,
for normalisation to map or report; a row that cannot be a record raises :class:`FieldError`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sources.config import AdapterConfig
from sources.folding import fold
from sources.record import LIST_FIELDS, TEXT_FIELDS, AidRecord, GeoMention

FieldSpec = str | list[str]
IDENTITY_FIELDS = ("native_id", "titre")
DATE_FIELDS = ("date_ouverture", "date_cloture", "date_mise_a_jour")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
ORGANISATION_LEVEL = "organisme"


class FieldError(ValueError):
    """A mapped field holds a value the record cannot take (wrong type, missing identity)."""


class GeoColumn(AdapterConfig):
    """Geography stated in a column: names (resolved by normalisation) or codes, at a level."""

    field: FieldSpec
    level: Literal["commune", "epci", "departement", "region", "pays", "code_postal", "territoire"] | None = None
    codes: bool = False


class MappingConfig(AdapterConfig):
    """The configuration keys of the mapping layer, shared by the adapters that use it."""

    fields: dict[str, FieldSpec]
    split: str | dict[str, str] | None = None
    dates: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str | list[str]]] = Field(default_factory=dict)
    constants: dict[str, Any] = Field(default_factory=dict)
    geo: GeoColumn | None = None
    geo_from_financeurs: bool = False

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        unknown = [name for name in fields if name not in (*IDENTITY_FIELDS, *TEXT_FIELDS, *LIST_FIELDS)]
        if unknown:
            raise ValueError(f"champs inconnus de l'enregistrement : {', '.join(unknown)}")
        missing = [name for name in IDENTITY_FIELDS if name not in fields]
        if missing:
            raise ValueError(f"champs obligatoires non configurés : {', '.join(missing)}")
        return fields

    @field_validator("dates")
    @classmethod
    def _date_fields(cls, dates: dict[str, str]) -> dict[str, str]:
        wrong = [name for name in dates if name not in DATE_FIELDS]
        if wrong:
            raise ValueError(f"formats de date pour des champs qui ne sont pas des dates : {', '.join(wrong)}")
        return dates

    @field_validator("constants")
    @classmethod
    def _constant_fields(cls, constants: dict[str, Any]) -> dict[str, Any]:
        unknown = [name for name in constants if name not in ("geo", "niveau", *TEXT_FIELDS, *LIST_FIELDS)]
        if unknown:
            raise ValueError(f"constantes pour des champs inconnus : {', '.join(unknown)}")
        return constants

    @model_validator(mode="after")
    def _tables_name_mapped_fields(self) -> MappingConfig:
        for key, table in (("values", self.values), ("split", self.split if isinstance(self.split, dict) else {})):
            unmapped = [name for name in table if name not in self.fields]
            if unmapped:
                raise ValueError(f"{key} : champs non configurés dans fields : {', '.join(unmapped)}")
        return self


def mapping_of(config: dict[str, Any]) -> MappingConfig:
    """The mapping part of an adapter's configuration (already validated at load time)."""
    return MappingConfig.model_validate({key: config[key] for key in MappingConfig.model_fields if key in config})


# -- reading values ----------------------------------------------------------------------------
def _scalar(value: Any, where: str) -> str | None:
    """A JSON scalar or a cell as the text the source gives; None when empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise FieldError(f"champ {where!r} : type inattendu ({type(value).__name__})")


def lookup(row: dict[str, Any], path: str) -> Any:
    """The value at ``path``: the key itself, else a dotted path into nested objects (a list on the
    way yields the values of each of its elements, as one list)."""
    if path in row:
        return row[path]
    return _walk(row, path.split("."))


def _walk(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    if isinstance(value, list):
        found = [_walk(element, parts) for element in value]
        return [item for each in found if each is not None for item in (each if isinstance(each, list) else [each])]
    if isinstance(value, dict) and parts[0] in value:
        return _walk(value[parts[0]], parts[1:])
    return None


def _texts(row: dict[str, Any], item: str, separator: str | None) -> list[str]:
    """Texts one mapping item yields: a column or path (split on the separator) or a template."""
    if "{" in item:
        rendered: dict[str, str] = {}
        for name in _TEMPLATE.findall(item):
            texts = _texts(row, name, None)
            if not texts:
                return []  # a template renders only when its fields have values
            rendered[name] = ", ".join(texts)
        return [_TEMPLATE.sub(lambda match: rendered[match.group(1)], item)]
    value = lookup(row, item)
    if isinstance(value, list):
        scalars = [_scalar(element, item) for element in value]
        return [text for text in scalars if text]
    text = _scalar(value, item)
    if text is None:
        return []
    if separator:
        return [part.strip() for part in text.split(separator) if part.strip()]
    return [text]


def _items(spec: FieldSpec) -> list[str]:
    return [spec] if isinstance(spec, str) else list(spec)


class Mapper:
    """Applies one source's mapping to its rows."""

    def __init__(self, source: str, level: str, config: dict[str, Any]) -> None:
        from sources.adapters.html import constants  # html imports record helpers; keep this module light

        self.source = source
        self.mapping = mapping_of(config)
        self.constants = constants({"constants": self.mapping.constants}, level)
        self._values = {
            name: {fold(label): target for label, target in table.items()}
            for name, table in self.mapping.values.items()
        }

    def columns(self) -> set[str]:
        """Every column or top-level key the mapping reads (templates' fields included)."""
        names: set[str] = set()
        specs = list(self.mapping.fields.values()) + ([self.mapping.geo.field] if self.mapping.geo else [])
        for spec in specs:
            for item in _items(spec):
                names.update(_TEMPLATE.findall(item) if "{" in item else [item])
        return names

    def _separator(self, name: str) -> str | None:
        split = self.mapping.split
        return split.get(name) if isinstance(split, dict) else split

    def _mapped(self, name: str, texts: list[str]) -> list[str]:
        table = self._values.get(name)
        if table is not None:
            mapped: list[str] = []
            for text in texts:
                target = table.get(fold(text), text)
                mapped.extend([target] if isinstance(target, str) else target)
            texts = mapped
        fmt = self.mapping.dates.get(name)
        if fmt is not None:
            texts = [_iso_date(text, fmt) for text in texts]
        return texts

    def _text(self, row: dict[str, Any], name: str) -> str | None:
        texts = [text for item in _items(self.mapping.fields[name]) for text in _texts(row, item, None)]
        texts = self._mapped(name, texts)
        return "\n".join(texts) if texts else None

    def _list(self, row: dict[str, Any], name: str, spec: FieldSpec) -> list[str]:
        texts = [text for item in _items(spec) for text in _texts(row, item, self._separator(name))]
        return self._mapped(name, texts)

    def _identity(self, row: dict[str, Any], name: str, what: str) -> str:
        for item in _items(self.mapping.fields[name]):
            value = lookup(row, item) if "{" not in item else None
            if isinstance(value, (list, dict)):
                raise FieldError(f"{what} : champ {item!r} de type inattendu ({type(value).__name__})")
        text = self._text(row, name)
        if not text:
            raise FieldError(f"{what} absent ou vide (champ {' + '.join(_items(self.mapping.fields[name]))})")
        return text

    def record(self, row: dict[str, Any], raw: Any = None) -> AidRecord:
        """One row as an AidRecord; FieldError / ValueError say why it cannot be one."""
        values = dict(self.constants)
        native_id = self._identity(row, "native_id", "identifiant")
        titre = self._identity(row, "titre", "titre")
        for name, spec in self.mapping.fields.items():
            if name in IDENTITY_FIELDS:
                continue
            if name in LIST_FIELDS:
                texts = self._list(row, name, spec)
                if texts:
                    values[name] = texts
            else:
                text = self._text(row, name)
                if text is not None:
                    values[name] = text
        geo = self.mapping.geo
        if geo is not None:
            stated = self._list(row, "geo", geo.field)
            if stated:
                values["geo_inclusions"] = [
                    GeoMention(geo.level, code=text) if geo.codes else GeoMention(geo.level, nom=text)
                    for text in stated
                ]
        if self.mapping.geo_from_financeurs and not values.get("geo_inclusions"):
            values["geo_inclusions"] = [
                GeoMention(ORGANISATION_LEVEL, nom=name) for name in values.get("financeurs", [])
            ]
        return AidRecord.from_values(source=self.source, native_id=native_id, titre=titre, raw=raw or row, **values)


def _iso_date(text: str, fmt: str) -> str:
    """``31/12/2026`` read with ``%d/%m/%Y`` as ``2026-12-31``; a text that does not match is kept."""
    try:
        return datetime.strptime(text.strip(), fmt).date().isoformat()
    except ValueError:
        return text
