"""Published Table Schema of the catalogue and the vocabularies it fixes.

``schemas/schema.json`` is the single source of truth for the published
table (``aides-transition-ecologique`` v0.2.0): the 15 fields of Etalab's
``dispositif-aide`` v0.2.0 in their official order, then the catalogue's own
fields. Everything else reads the fields from it: :func:`published_fields` gives
each field's name, type, whether it is required, multi-valued, its maximum length
and its allowed values, and the vocabularies below (``THEMATIQUES``, ``STATUTS``…)
are derived from the file, not repeated.

Multi-valued cells (``cibles``, ``types_aides``, ``eligibilite_geographique``,
``thematiques``, ``sources``…) join their values with ``|`` and no spaces; the
schema says so in the field's description (« séparées par des pipes ») or by a
pattern that repeats its item after a pipe.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH: Path = Path(__file__).with_name("schema.json")
"""Path of the published Table Schema."""

COVERAGE_SCHEMA_PATH: Path = Path(__file__).with_name("couverture.json")
"""Path of the Table Schema of ``couverture.csv``, the catalogue's coverage by collectivité
(``warehouse.publication.coverage``): its fields are declared there only."""

MULTI_VALUE_SEPARATOR: str = "|"
"""Separator of the values of a multi-valued cell (no surrounding spaces)."""

OFFICIAL_FIELDS: tuple[str, ...] = (
    "id",
    "titre",
    "promesse",
    "description",
    "eligibilite",
    "types_aides",
    "porteurs",
    "programmes_parents",
    "url_source",
    "cibles",
    "eligibilite_geographique",
    "eligibilite_geographique_exclusions",
    "date_ouverture",
    "date_cloture",
    "date_mise_a_jour",
)
"""The 15 fields of dispositif-aide v0.2.0, in the official order.

They are also the first 15 fields of our schema, and the columns of the
``dispositif-aide.csv`` export.
"""

GEO_CODE_PATTERN: str = (
    r"(PAYS-\d{5}"
    r"|REG-\d{2,3}"
    r"|DEP-(\d{2}|2A|2B|\d{3})"
    r"|EPCI-\d{9}"
    r"|COM-(\d{5}|2A\d{3}|2B\d{3}))"
)
"""Regex of ONE geographic code ``NIVEAU-CODE``, without anchors.

Levels: ``PAYS-99100`` (COG country code), ``REG-84`` (region, 2 or 3
digits), ``DEP-69`` / ``DEP-974`` / ``DEP-2A`` / ``DEP-2B`` (département),
``EPCI-200046977`` (SIREN of the EPCI), ``COM-75056`` / ``COM-2A004``
(INSEE commune code). Upper case only. Use it with ``re.fullmatch``.
"""

GEO_CODES_PATTERN: str = rf"^{GEO_CODE_PATTERN}(\|{GEO_CODE_PATTERN})*$"
"""Pattern of ``eligibilite_geographique`` and its exclusions in our schema:
one or more codes joined by ``|``."""

OFFICIAL_GEO_CODES_PATTERN: str = r"^[A-Z]+-\d+(\|[A-Z]+-\d+)*$"
"""Pattern of the same two fields in dispositif-aide v0.2.0.

It rejects Corsican codes (``DEP-2A``, ``COM-2B033``); an EPCI code passes it
syntactically, but ``EPCI`` is not a level the official schema defines, so the
``dispositif-aide.csv`` export writes an EPCI as the ``COM-`` codes of its member
communes. Rows of that export must match it, or be left out and listed in the
release notes.
"""


def load_schema() -> dict[str, Any]:
    """Return the published Table Schema as a new dict (safe to mutate)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def load_coverage_schema() -> dict[str, Any]:
    """Return the Table Schema of ``couverture.csv`` as a new dict (safe to mutate)."""
    return json.loads(COVERAGE_SCHEMA_PATH.read_text(encoding="utf-8"))


def field_names() -> list[str]:
    """Return the field names of the published schema, in column order."""
    return [field["name"] for field in load_schema()["fields"]]


@dataclass(frozen=True)
class PublishedField:
    """One field of the published schema, as the rest of the project needs it."""

    name: str
    type: str  # Table Schema type: string, number, datetime…
    format: str | None  # uuid, uri… (Table Schema ``format``)
    required: bool
    multi_valued: bool  # values joined by MULTI_VALUE_SEPARATOR in a cell
    max_length: int | None
    values: tuple[str, ...] | None  # the allowed values (of each item when multi-valued)
    title: str


_PIPES_DOCUMENTED = re.compile(r"séparée?s par des pipes")
_REPEATED_ITEM = re.compile(r"\(\\\|")  # a pattern of the form ^(item)(\|(item))*$


def _allowed(field: dict[str, Any]) -> tuple[str, ...] | None:
    constraints = field.get("constraints", {})
    if "enum" in constraints:
        return tuple(constraints["enum"])
    match = re.fullmatch(r"\^\(([^()]*)\)\(\\\|\(\1\)\)\*\$", constraints.get("pattern", ""))
    if match and re.fullmatch(r"[^\\^$.*+?\[\]{}]+", match.group(1)):  # plain alternatives, no regex syntax
        return tuple(match.group(1).split("|"))
    return None


@cache
def published_fields() -> tuple[PublishedField, ...]:
    """Every field of ``schemas/schema.json``, in column order."""
    fields = []
    for field in load_schema()["fields"]:
        constraints = field.get("constraints", {})
        fields.append(
            PublishedField(
                name=field["name"],
                type=field.get("type", "string"),
                format=field.get("format"),
                required=bool(constraints.get("required", False)),
                multi_valued=bool(
                    _PIPES_DOCUMENTED.search(field.get("description", ""))
                    or _REPEATED_ITEM.search(constraints.get("pattern", ""))
                ),
                max_length=constraints.get("maxLength"),
                values=_allowed(field),
                title=field.get("title", field["name"]),
            )
        )
    return tuple(fields)


def published_field(name: str) -> PublishedField:
    """The field ``name`` of the published schema; ``KeyError`` naming it when it has none."""
    for field in published_fields():
        if field.name == name:
            return field
    raise KeyError(f"schemas/schema.json n'a pas de champ {name!r}")


def allowed_values(name: str) -> tuple[str, ...]:
    """The values the schema allows for ``name`` (an enumeration, or the items of a pattern)."""
    values = published_field(name).values
    if values is None:
        raise ValueError(f"schemas/schema.json : le champ {name!r} n'a pas de liste de valeurs")
    return values


THEMATIQUES: tuple[str, ...] = allowed_values("thematiques")
"""Allowed values of ``thematiques`` (pipe-separated in a cell)."""

CIBLES: tuple[str, ...] = allowed_values("cibles")
"""Allowed values of ``cibles`` (pipe-separated in a cell)."""

STATUTS: tuple[str, ...] = allowed_values("statut")
"""Allowed values of ``statut``."""

ECHELLES: tuple[str, ...] = allowed_values("echelle")
"""Allowed values of ``echelle``."""

RECURRENCES: tuple[str, ...] = allowed_values("recurrence")
"""Allowed values of ``recurrence``."""
