"""The API's answers as pydantic models, so that its OpenAPI document states exactly what it returns
(and ``schemathesis`` can check every answer against it). The aid model follows from the
published schema (``schemas/schema.json``): each field once, there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from schemas import published_fields


class Porteur(BaseModel):
    nom: str
    siren: str | None = None
    roles: list[str] = []


def _annotation(name: str, kind: str, multi: bool) -> Any:
    if name == "porteurs":
        return list[Porteur]
    if multi:
        return list[str]
    return {"number": float, "integer": int}.get(kind, str) | None


_AID_FIELDS: dict[str, Any] = {
    f.name: (
        _annotation(f.name, f.type, f.multi_valued),
        Field(
            default=None,
            description=f.title,
            json_schema_extra={"format": "date-time"} if f.type == "datetime" else None,
        ),
    )
    for f in published_fields()
}
Aide = create_model(  # type: ignore[call-overload]
    "Aide",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Une aide, dans les champs du schéma publié (ceux de `fields=` seulement, quand il est donné).",
    **_AID_FIELDS,
)


class Liens(BaseModel):
    self: str
    premiere: str
    derniere: str
    precedente: str | None = None
    suivante: str | None = None


class ListeAides(BaseModel):
    publication: str
    total: int
    page: int
    par_page: int
    liens: Liens
    aides: list[Aide]  # type: ignore[valid-type]


class AidesCommune(BaseModel):
    publication: str
    commune: str = Field(description="La commune actuelle à laquelle le code demandé correspond.")
    demande: str
    total: int
    page: int
    par_page: int
    liens: Liens
    aides: list[Aide]  # type: ignore[valid-type]


class Territoire(BaseModel):
    code: str
    libelle: str


class Territoires(BaseModel):
    q: str
    statut: str = Field(description="resolved, ambiguous, unresolved ou empty.")
    message: str | None = None
    territoires: list[Territoire]


class Publication(BaseModel):
    version: str
    date: str
    derniere: bool
    aides: int | None = None
    fichiers: dict[str, str]


class Publications(BaseModel):
    publications: list[Publication]


class Changement(BaseModel):
    id: str
    changement: str = Field(description="ajoutée, modifiée ou supprimée.")
    champs: list[str] = Field(description="Les champs modifiés (tous pour une aide ajoutée, aucun pour une supprimée).")
    aide: dict[str, Any] | None = Field(
        description="Les valeurs nouvelles : l'aide entière quand elle est ajoutée, ses champs modifiés sinon."
    )


class Changements(BaseModel):
    publication: str
    depuis: str | None = Field(description="La publication de départ ; null : depuis la première.")
    total: int
    page: int
    par_page: int
    liens: Liens
    changements: list[Changement]


class Probleme(BaseModel):
    """Une erreur, au format application/problem+json (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    parametre: str | None = None
    date: str | None = None


PROBLEM_RESPONSE = {"model": Probleme, "content": {"application/problem+json": {}}}
