"""Published Table Schema of the catalogue and the vocabularies it fixes.

``schemas/schema.json`` is the single source of truth for the published
table (``aides-transition-ecologique`` v0.1.0): the 15 fields of Etalab's
``dispositif-aide`` v0.2.0 in their official order, then the catalogue's own
fields. The constants below repeat the vocabularies written in that file so
that the rest of the project can use them without parsing JSON;
``tests/test_schema.py`` checks that both stay identical.

Multi-valued cells (``cibles``, ``types_aides``, ``eligibilite_geographique``,
``thematiques``, ``sources``…) join their values with ``|`` and no spaces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH: Path = Path(__file__).with_name("schema.json")
"""Path of the published Table Schema."""

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
syntactically, but ``EPCI`` is not a level the official schema defines. Rows
of the ``dispositif-aide.csv`` export must match it, or be left out and listed
in the release notes.
"""

THEMATIQUES: tuple[str, ...] = (
    "alimentation",
    "agriculture",
    "biodiversite",
    "climat",
    "consommation",
    "dechet",
    "eau",
    "energie",
    "logement",
    "transport",
    "loisir",
    "numerique",
    "urbanisme",
    "entreprise",
)
"""Allowed values of ``thematiques`` (pipe-separated in a cell)."""

STATUTS: tuple[str, ...] = ("ouverte", "à venir", "clôturée", "permanente")
"""Allowed values of ``statut``."""

ECHELLES: tuple[str, ...] = (
    "commune",
    "epci",
    "departement",
    "region",
    "national",
    "europe",
)
"""Allowed values of ``echelle``."""

RECURRENCES: tuple[str, ...] = ("ponctuelle", "récurrente", "permanente")
"""Allowed values of ``recurrence``."""


def load_schema() -> dict[str, Any]:
    """Return the published Table Schema as a new dict (safe to mutate)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def field_names() -> list[str]:
    """Return the field names of the published schema, in column order."""
    return [field["name"] for field in load_schema()["fields"]]
