"""The quality report's detail, section by section, as the team reads it: in the Dagster UI
(the ``rapport_qualite`` asset's metadata) and with ``aides qualite``.

Why: counts say that something is wrong, not what. Each section is one query over the tables
normalisation writes (``normalisation_problemes``, ``doublons_a_revoir``,
``organisations_non_reconnues``, ``source_records``) and the held changes of the sources, with
the most frequent values first, so the team fixes what matters most.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

VOCABULARY_FIELDS = ("cibles", "types_aides", "thematiques")


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    sql: str


SECTIONS: tuple[Section, ...] = (
    Section(
        "valeurs_non_resolues",
        "Géographie non résolue : les valeurs des sources, par fréquence",
        "SELECT source, champ, valeur, count(*) AS nb, any_value(probleme) AS probleme FROM normalisation_problemes "
        "WHERE champ LIKE 'eligibilite_geographique%' GROUP BY ALL ORDER BY nb DESC, source, valeur",
    ),
    Section(
        "vocabulaire_non_reconnu",
        "Vocabulaire sans correspondance (à ajouter dans warehouse/normalise/vocab/)",
        "SELECT source, champ, valeur, count(*) AS nb FROM normalisation_problemes "
        f"WHERE champ IN {VOCABULARY_FIELDS} GROUP BY ALL ORDER BY nb DESC, source, champ, valeur",
    ),
    Section(
        "problemes_normalisation",
        "Autres problèmes de normalisation (dates, liens, montants…)",
        "SELECT source, champ, probleme, count(*) AS nb, min(valeur) AS exemple FROM normalisation_problemes "
        f"WHERE champ NOT LIKE 'eligibilite_geographique%' AND champ NOT IN {VOCABULARY_FIELDS} "
        "GROUP BY ALL ORDER BY nb DESC, source, champ",
    ),
    Section(
        "doublons_a_revoir",
        "Paires qui se ressemblent sans avoir été fusionnées : à trancher",
        "SELECT d.score, d.raison, a.source AS source_a, a.titre AS titre_a, b.source AS source_b, b.titre AS titre_b, "
        "d.record_key_a, d.record_key_b FROM doublons_a_revoir d "
        "LEFT JOIN source_records a ON a.source || ':' || a.native_id = d.record_key_a "
        "LEFT JOIN source_records b ON b.source || ':' || b.native_id = d.record_key_b "
        "ORDER BY d.score DESC NULLS LAST",
    ),
    Section(
        "organisations_non_reconnues",
        "Financeurs, porteurs et instructeurs inconnus du référentiel des organisations",
        "SELECT source, nom, statut, nb_aides, raison FROM organisations_non_reconnues ORDER BY nb_aides DESC, nom",
    ),
)
HOLDS = Section(
    "retenues",
    "Changements de source retenus, en attente d'acquittement (aides holds, aides acknowledge)",
    "",
)


def section(name: str) -> Section:
    for item in (*SECTIONS, HOLDS):
        if item.name == name:
            return item
    raise KeyError(f"section inconnue : {name} ({', '.join(s.name for s in (*SECTIONS, HOLDS))})")


def rows(conn: duckdb.DuckDBPyConnection, item: Section, limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """The section's columns and rows (the first ``limit`` ones)."""
    if item is HOLDS:
        return held_changes(conn, limit)
    cursor = conn.execute(item.sql + (f" LIMIT {int(limit)}" if limit is not None else ""))
    return [column[0] for column in cursor.description], cursor.fetchall()


def held_changes(conn: duckdb.DuckDBPyConnection, limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """The pending holds of the sources, with their evidence."""
    from warehouse.holds import pending_holds

    holds = pending_holds(conn)[:limit] if limit is not None else pending_holds(conn)
    columns = ["id", "source", "avant", "apres", "rejets", "raison", "depuis"]
    return columns, [
        (h.id, h.source, h.records_before, h.records_after, h.rejected, h.reason, str(h.created_at)) for h in holds
    ]
