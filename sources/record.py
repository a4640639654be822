"""The one record shape every adapter produces.

Adapters transcribe; they do not interpret. Geography stays as the source states it
(a code or a name, with the level the source gives), dates and amounts stay as text,
labels stay in the source's vocabulary. Turning them into COG codes, dates and the
schema's enumerations is normalisation's job, which can then say why it failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Levels a source can name a territory at; None when it does not say.
GEO_LEVELS = ("commune", "epci", "departement", "region", "pays", "code_postal", "territoire")


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


@dataclass
class AidRecord:
    """One aid as one source publishes it."""

    source: str
    native_id: str
    titre: str
    description: str | None = None
    promesse: str | None = None
    eligibilite: str | None = None
    url_information: str | None = None
    url_demarche: str | None = None
    porteurs: list[str] = field(default_factory=list)
    financeurs: list[str] = field(default_factory=list)
    niveau: str | None = None  # level of the publisher as stated (commune, intercommunalité, région…)
    geo_inclusions: list[GeoMention] = field(default_factory=list)
    geo_exclusions: list[GeoMention] = field(default_factory=list)
    date_ouverture: str | None = None
    date_cloture: str | None = None
    date_mise_a_jour: str | None = None
    montants: list[str] = field(default_factory=list)  # amounts as stated: "400 €", "jusqu'à 8 500 €"
    taux: list[str] = field(default_factory=list)  # rates as stated: "50 %", "de 20 à 40 %"
    publics: list[str] = field(default_factory=list)
    types_aide: list[str] = field(default_factory=list)
    thematiques: list[str] = field(default_factory=list)
    programmes: list[str] = field(default_factory=list)
    recurrence: str | None = None
    raw: Any = None  # the record's own piece of the payload, JSON-serialisable

    def __post_init__(self) -> None:
        if not self.native_id or not str(self.native_id).strip():
            raise ValueError("identifiant natif vide")
        if not self.titre or not self.titre.strip():
            raise ValueError("titre vide")

    def to_row(self) -> dict[str, Any]:
        """A flat, JSON-friendly dict for the warehouse."""
        return asdict(self)


@dataclass(frozen=True)
class Rejection:
    """An input item that could not become a record, with where and why."""

    source: str
    location: str  # file / URL and position: "page 2, résultat 7", "ligne 149", "règle 'aides . caen'"
    reason: str
    excerpt: str = ""


@dataclass
class ParseResult:
    """What a parser made of a payload. ``items_seen == len(records) + len(rejections)``."""

    records: list[AidRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def items_seen(self) -> int:
        return len(self.records) + len(self.rejections)

    def reject(self, source: str, location: str, reason: str, excerpt: object = "") -> None:
        text = excerpt if isinstance(excerpt, str) else repr(excerpt)
        self.rejections.append(Rejection(source, location, reason, text[:500]))
