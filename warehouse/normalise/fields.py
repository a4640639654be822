"""How each published field is produced: by a stage of its own, or carried from the records.

A field of ``schemas/schema.json`` that no stage computes is *carried*: taken from the
records as the sources state it (HTML turned to text, URLs repaired), the first value by
precedence across the records of an aid (for a multi-valued field, the union), and published
as it is (cut to the schema's ``maxLength``). So an optional field added to the schema reaches
the releases once adapters fill it, with no change to the build. ``tests/test_fields.py``
checks that every published field is one or the other.
"""

from __future__ import annotations

from schemas import PublishedField, published_fields
from sources.record import ELIGIBILITY_FIELDS

COMPUTED_BY_STAGE: dict[str, str] = {
    "id": "warehouse/normalise/identity.py",
    "types_aides": "warehouse/normalise/vocabulary.py",
    "cibles": "warehouse/normalise/vocabulary.py",
    "thematiques": "warehouse/normalise/vocabulary.py",
    "porteurs": "warehouse/normalise/acteurs.py (nom, SIREN, rôles), warehouse/normalise/porteurs.py (l'éditeur à défaut)",
    "eligibilite_geographique": "warehouse/normalise/geography.py",
    "eligibilite_geographique_exclusions": "warehouse/normalise/geography.py",
    "date_ouverture": "warehouse/normalise/dates.py",
    "date_cloture": "warehouse/normalise/dates.py",
    "date_mise_a_jour": "warehouse/normalise/dates.py",
    "echelle": "warehouse/normalise/catalogue.py",
    "montant_max": "warehouse/normalise/amounts.py",
    "taux_max": "warehouse/normalise/amounts.py",
    "plafond_depense": "warehouse/normalise/amounts.py",
    "montants_conditionnels": "warehouse/normalise/conditions.py (montants selon la situation)",
    "statut": "warehouse/normalise/statut.py",
    "recurrence": "warehouse/normalise/statut.py",
    "sources": "warehouse/normalise/catalogue.py (provenance)",
    "date_collecte": "warehouse/normalise/catalogue.py (date de la collecte)",
    **dict.fromkeys(ELIGIBILITY_FIELDS, "warehouse/normalise/conditions.py (vocab/conditions.csv)"),
}
"""Published fields computed by a stage of their own, and where."""


ONE_LINE_TEXTS: tuple[str, ...] = ("titre", "promesse")
"""Carried texts read as one line: inline Markdown a source left in them is removed."""


def carried_fields() -> tuple[PublishedField, ...]:
    """The published fields taken from the records as stated, in column order."""
    carried = tuple(f for f in published_fields() if f.name not in COMPUTED_BY_STAGE)
    for field in carried:
        if field.type != "string":
            raise ValueError(
                f"schemas/schema.json, champ {field.name!r} de type {field.type} : aucune étape ne le "
                "calcule et seul un texte peut être repris tel quel (déclarez son étape dans "
                "warehouse/normalise/fields.py)"
            )
    return carried
