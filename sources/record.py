"""The one record shape every adapter produces.

Adapters transcribe; they do not interpret. Geography stays as the source states it
(a code or a name, with the level the source gives), dates and amounts stay as text,
labels stay in the source's vocabulary. Turning them into COG codes, dates and the
schema's enumerations is normalisation's job, which can then say why it failed.

The record's fields are named as the published schema (``schemas/schema.json``) names
them where they mean the same thing (``cibles``, ``types_aides``, ``url_source``…). A
published field the record has no attribute for, and that the catalogue does not compute
(:data:`CATALOGUE_FIELDS`), goes in ``other_fields`` under its schema name: text, or a
list of texts for a multi-valued field. So a new optional field of the schema is carried
from the adapters that fill it to the releases without a change here.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from schemas import published_fields

# Levels a source can name a territory at; None when it does not say. ``organisme``: the name of
# an organisation (a financer), whose territory the organisations referential gives.
GEO_LEVELS = ("commune", "epci", "departement", "region", "pays", "code_postal", "territoire", "organisme")


@dataclass(frozen=True)
class GeoMention:
    """A territory as the source states it: a code, or a name, at a level if known.

    ``GeoMention("commune", code="75056")``, ``GeoMention("epci", nom="CA Val Parisis")``,
    ``GeoMention(None, nom="Landes, Nouvelle-Aquitaine, Occitanie")``.
    """

    niveau: str | None
    code: str | None = None
    nom: str | None = None

    def __post_init__(self) -> None:
        if self.niveau is not None and self.niveau not in GEO_LEVELS:
            raise ValueError(f"niveau géographique inconnu : {self.niveau!r}")
        if not (self.code or self.nom):
            raise ValueError("une mention géographique a un code ou un nom")


ROLES = ("porteur", "financeur", "instructeur", "diffuseur", "animateur", "operateur")
"""Roles of the actors of an aid, as dispositif-aide's table of roles names them."""


@dataclass(frozen=True)
class Acteur:
    """An actor of an aid as the source states it: its name, its SIREN when stated, its roles.

    ``Acteur("ADEME", "385290309", ("instructeur", "diffuseur"))``. Names alone go in the
    record's ``porteurs`` / ``financeurs``; an adapter states ``acteurs`` when its source says
    more (a SIREN, roles such as instructeur or diffuseur).
    """

    nom: str
    siren: str | None = None
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.nom or not self.nom.strip():
            raise ValueError("acteur sans nom")


def acteurs_by_role(*named: tuple[str, list[str]]) -> list[Acteur]:
    """Actors from lists of names per role, a name in several lists holding each of their roles:
    ``acteurs_by_role(("financeur", ["ADEME"]), ("instructeur", ["ADEME", "DDT du Tarn"]))``."""
    roles: dict[str, list[str]] = {}
    for role, names in named:
        for name in names:
            if name and name.strip() and role not in roles.setdefault(name.strip(), []):
                roles[name.strip()].append(role)
    return [Acteur(name, None, tuple(held)) for name, held in roles.items()]


@dataclass
class AidRecord:
    """One aid as one source publishes it."""

    source: str
    native_id: str
    titre: str
    description: str | None = None
    promesse: str | None = None
    eligibilite: str | None = None
    url_source: str | None = None
    url_demarche: str | None = None
    porteurs: list[str] = field(default_factory=list)
    financeurs: list[str] = field(default_factory=list)
    acteurs: list[Acteur] = field(default_factory=list)  # with SIREN and roles, when the source states them
    niveau: str | None = None  # level of the publisher as stated (commune, intercommunalité, région…)
    geo_inclusions: list[GeoMention] = field(default_factory=list)
    geo_exclusions: list[GeoMention] = field(default_factory=list)
    # The structure of the source's geographic conditions, when it states one (a boolean
    # expression over places, sources/geo_expression.py); its places are also listed in
    # geo_inclusions / geo_exclusions so that each is resolved and reported once.
    geo_expression: Any = None
    date_ouverture: str | None = None
    date_cloture: str | None = None
    date_mise_a_jour: str | None = None
    montants: list[str] = field(default_factory=list)  # amounts as stated: "400 €", "jusqu'à 8 500 €"
    taux: list[str] = field(default_factory=list)  # rates as stated: "50 %", "de 20 à 40 %"
    plafonds_depense: list[str] = field(default_factory=list)  # ceilings of the funded expense: "20000 €"
    # amounts that depend on a condition, as stated: "400 € si vélo . cargo électrique", "300 € sinon"
    montants_variations: list[str] = field(default_factory=list)
    cibles: list[str] = field(default_factory=list)
    types_aides: list[str] = field(default_factory=list)
    thematiques: list[str] = field(default_factory=list)
    programmes_parents: list[str] = field(default_factory=list)
    # Eligibility conditions as the source states them, one per item ("vélo . électrique",
    # "revenu fiscal de référence par part <= 15400 €/an"); mapped by normalisation.
    conditions: list[str] = field(default_factory=list)
    recurrence: str | None = None
    other_fields: dict[str, str | list[str]] = field(default_factory=dict)  # other published fields, by schema name
    raw: Any = None  # the record's own piece of the payload, JSON-serialisable

    def __post_init__(self) -> None:
        if not self.native_id or not str(self.native_id).strip():
            raise ValueError("identifiant natif vide")
        if not self.titre or not self.titre.strip():
            raise ValueError("titre vide")
        for name, value in self.other_fields.items():
            if name not in OTHER_FIELDS:
                raise ValueError(
                    f"champ {name!r} inconnu : ni attribut de l'enregistrement ni champ publié "
                    "que la source peut indiquer (schemas/schema.json)"
                )
            if name in LIST_FIELDS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ValueError(f"champ {name!r} : liste de textes attendue, pas {value!r}")
            if name in TEXT_FIELDS and not isinstance(value, str):
                raise ValueError(f"champ {name!r} : texte attendu, pas {value!r}")
        if self.geo_expression is not None:
            from sources.geo_expression import check  # the grammar names GeoMention, defined here

            check(self.geo_expression)

    @classmethod
    def from_values(cls, source: str, native_id: str, titre: str, raw: Any = None, **values: Any) -> AidRecord:
        """A record from named values: attributes by keyword, other published fields in ``other_fields``."""
        other = {name: values.pop(name) for name in list(values) if name in OTHER_FIELDS}
        return cls(source=source, native_id=native_id, titre=titre, raw=raw, other_fields=other, **values)

    def value(self, name: str) -> Any:
        """The attribute ``name``, or the other published field of that name (None / [] when absent)."""
        if name in OTHER_FIELDS:
            return self.other_fields.get(name, [] if name in LIST_FIELDS else None)
        return getattr(self, name)

    def to_row(self) -> dict[str, Any]:
        """A flat, JSON-friendly dict for the warehouse: one key per stored column."""
        row = asdict(self)
        del row["other_fields"]
        row.update({name: self.value(name) for name in OTHER_FIELDS})
        return row


ELIGIBILITY_FIELDS: tuple[str, ...] = (
    "objets_finances",
    "etat_materiel",
    "age_min",
    "age_max",
    "situations",
    "categories_revenus",
    "plafond_rfr_par_part",
    "plafond_rfr_periode",
    "depense_min",
    "depense_max",
    "effectif_min",
    "effectif_max",
)
"""Published eligibility fields the catalogue reads from the ``conditions`` a record states
(``warehouse/normalise/vocab/conditions.csv``)."""

CATALOGUE_FIELDS: tuple[str, ...] = (
    "id",
    "eligibilite_geographique",
    "eligibilite_geographique_exclusions",
    "echelle",
    "montant_max",
    "taux_max",
    "plafond_depense",
    "montants_conditionnels",
    "statut",
    "sources",
    "date_collecte",
    *ELIGIBILITY_FIELDS,
)
"""Published fields the catalogue computes (from the geography mentions, the publisher's level,
the stated amounts and rates, the provenance, the dates): a record never holds them."""

_NOT_STATED = (
    "source",
    "native_id",
    "acteurs",
    "geo_inclusions",
    "geo_exclusions",
    "geo_expression",
    "other_fields",
    "raw",
)


def _attribute_kinds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    hints = typing.get_type_hints(AidRecord)
    names = [f.name for f in fields(AidRecord) if f.name not in _NOT_STATED]
    return (tuple(n for n in names if hints[n] in (str, str | None)), tuple(n for n in names if hints[n] == list[str]))


_ATTRIBUTES = {f.name for f in fields(AidRecord)}
OTHER_FIELDS: tuple[str, ...] = tuple(
    f.name for f in published_fields() if f.name not in _ATTRIBUTES and f.name not in CATALOGUE_FIELDS
)
"""Published fields without an attribute that a source may state (kept in ``other_fields``)."""

_TEXT_ATTRIBUTES, _LIST_ATTRIBUTES = _attribute_kinds()
_MULTI = {f.name for f in published_fields() if f.multi_valued}
TEXT_FIELDS: tuple[str, ...] = (*_TEXT_ATTRIBUTES, *(n for n in OTHER_FIELDS if n not in _MULTI))
"""What a record states as one text: its text attributes, then the other single-valued published fields."""
LIST_FIELDS: tuple[str, ...] = (*_LIST_ATTRIBUTES, *(n for n in OTHER_FIELDS if n in _MULTI))
"""What a record states as a list of texts."""


@dataclass(frozen=True)
class Rejection:
    """An input item that could not become a record, with where and why."""

    source: str
    location: str  # file / URL and position: "page 2, résultat 7", "ligne 149", "règle 'aides . caen'"
    reason: str
    excerpt: str = ""


@dataclass
class ParseResult:
    """What a parser made of a payload. ``items_seen == len(records) + len(rejections)``.

    ``unreadable`` names the documents that could not be read as the shape the source declares
    (a CSV whose header lacks the required columns…), with why: their items are each rejected
    with that reason, and the source's run is a failure, never a quiet success with no aid.
    """

    records: list[AidRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def items_seen(self) -> int:
        return len(self.records) + len(self.rejections)

    def reject(self, source: str, location: str, reason: str, excerpt: object = "") -> None:
        text = excerpt if isinstance(excerpt, str) else repr(excerpt)
        self.rejections.append(Rejection(source, location, reason, text[:500]))

    def reject_document(
        self, source: str, location: str, reason: str, items: list[tuple[str, str]], excerpt: object = ""
    ) -> None:
        """A document unreadable as its declared shape: each of its ``items`` (location, excerpt)
        is rejected with ``reason``, or the document once when it holds none that can be counted."""
        self.unreadable.append(f"{location} : {reason}")
        if not items:
            self.reject(source, location, reason, excerpt)
        for where, text in items:
            self.reject(source, where, reason, text)
