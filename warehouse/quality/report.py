"""The quality report: per source and level, how well normalisation went; the names of
organisations the referential does not know are in ``organisations_non_reconnues`` (per source,
with their number of aids), counted and listed here."""

from __future__ import annotations

import duckdb

from warehouse.db import scalar

REPORT_SQL = """
CREATE OR REPLACE TABLE rapport_qualite AS
WITH prov AS (
    SELECT p.source, p.record_key, p.aid_id, a.echelle, a.geo_statut, a.statut,
           count(*) OVER (PARTITION BY p.aid_id) AS membres
    FROM aides_provenance p JOIN aides a ON a.id = p.aid_id
),
problems AS (
    SELECT source, count(*) FILTER (champ IN ('cibles', 'types_aides', 'thematiques')) AS vocabulaire_non_reconnu,
           count(*) FILTER (champ LIKE 'date%') AS dates_rejetees,
           count(*) FILTER (champ LIKE 'url%') AS urls_rejetees
    FROM normalisation_problemes GROUP BY source
),
unresolved AS (
    SELECT source, list(DISTINCT valeur ORDER BY valeur) FILTER (valeur IS NOT NULL) AS geo_non_resolue
    FROM normalisation_problemes WHERE champ LIKE 'eligibilite_geographique%' GROUP BY source
),
organisations AS (
    SELECT source, count(*) AS organisations_non_reconnues,
           list(nom || ' (' || nb_aides || ')' ORDER BY nb_aides DESC, nom) AS organisations_non_reconnues_valeurs
    FROM organisations_non_reconnues GROUP BY source
)
SELECT prov.source, prov.echelle,
       count(*) AS enregistrements,
       round(avg(CASE WHEN geo_statut = 'resolved' THEN 1 ELSE 0 END), 4) AS part_geo_resolue,
       count(*) FILTER (geo_statut = 'ambiguous') AS geo_ambigue,
       count(*) FILTER (geo_statut = 'unresolved') AS geo_non_resolue_nb,
       count(*) FILTER (membres > 1) AS doublons_fusionnes,
       count(*) FILTER (statut = 'clôturée') AS expirees,
       any_value(coalesce(problems.vocabulaire_non_reconnu, 0)) AS vocabulaire_non_reconnu_source,
       any_value(coalesce(problems.dates_rejetees, 0)) AS dates_rejetees_source,
       any_value(unresolved.geo_non_resolue) AS geo_non_resolue_valeurs_source,
       any_value(coalesce(organisations.organisations_non_reconnues, 0)) AS organisations_non_reconnues_source,
       any_value(organisations.organisations_non_reconnues_valeurs) AS organisations_non_reconnues_valeurs_source
FROM prov
LEFT JOIN problems USING (source)
LEFT JOIN unresolved USING (source)
LEFT JOIN organisations USING (source)
GROUP BY prov.source, prov.echelle
ORDER BY prov.source, prov.echelle
"""


def build_quality_report(conn: duckdb.DuckDBPyConnection) -> int:
    """(Re)build ``rapport_qualite``; return its row count."""
    conn.execute(REPORT_SQL)
    return scalar(conn, "SELECT count(*) FROM rapport_qualite")
