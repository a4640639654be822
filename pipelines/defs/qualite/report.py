"""The quality report of the catalogue, by source and by scale."""

import dagster as dg

from pipelines.automation import ON_INPUT_CHANGE
from pipelines.metadata import OWNERS, code_version, md_table, preview
from warehouse.db import connect_writer
from warehouse.quality.report import build_quality_report
from warehouse.quality.sections import HOLDS, SECTIONS
from warehouse.quality.sections import rows as section_rows

SHOWN = 50  # rows of each section shown in the UI; `aides qualite SECTION` gives them all


@dg.asset(
    group_name="qualite",
    kinds={"duckdb"},
    pool="duckdb",
    owners=OWNERS,
    code_version=code_version("warehouse/quality/report.py"),
    automation_condition=ON_INPUT_CHANGE,
    deps=["aides"],
)
def rapport_qualite(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Le rapport de qualité, par source et par échelle : lignes, part de géographie résolue,
    valeurs non résolues, doublons fusionnés, aides expirées, vocabulaire non reconnu, et les
    financeurs, porteurs et instructeurs que le référentiel des organisations ne reconnaît pas ;
    puis le détail, section par section (valeurs non résolues, vocabulaire sans correspondance,
    problèmes de normalisation, paires de doublons à revoir, organisations inconnues, changements
    retenus), les plus fréquents d'abord. En ligne de commande : `aides qualite`."""
    with connect_writer() as conn:
        rows = build_quality_report(conn)
        table = preview(
            conn,
            "SELECT * EXCLUDE (geo_non_resolue_valeurs_source, organisations_non_reconnues_valeurs_source) "
            "FROM rapport_qualite",
            limit=200,
        )
        details = {}
        for item in (*SECTIONS, HOLDS):
            columns, found = section_rows(conn, item, limit=SHOWN)
            total = len(section_rows(conn, item)[1]) if len(found) == SHOWN else len(found)
            details[item.name] = md_table(columns, found, empty="aucune")
            details[f"nb_{item.name}"] = total
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "rapport": table, **details})
