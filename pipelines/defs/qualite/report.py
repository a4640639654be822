"""The quality report of the catalogue, by source and by scale."""

import dagster as dg

from pipelines.metadata import preview
from warehouse.db import connect_writer
from warehouse.quality.report import build_quality_report


@dg.asset(group_name="qualite", kinds={"duckdb"}, pool="duckdb", deps=["aides"])
def rapport_qualite(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Le rapport de qualité, par source et par échelle : lignes, part de géographie résolue,
    valeurs non résolues, doublons fusionnés, aides expirées, vocabulaire non reconnu, et les
    financeurs, porteurs et instructeurs que le référentiel des organisations ne reconnaît pas."""
    with connect_writer() as conn:
        rows = build_quality_report(conn)
        table = preview(
            conn,
            "SELECT * EXCLUDE (geo_non_resolue_valeurs_source, organisations_non_reconnues_valeurs_source) "
            "FROM rapport_qualite",
            limit=200,
        )
        unknown = preview(
            conn, "SELECT source, nom, statut, nb_aides, raison FROM organisations_non_reconnues", limit=100
        )
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "rapport": table, "organisations_non_reconnues": unknown}
    )
