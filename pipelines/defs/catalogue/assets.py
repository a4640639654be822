"""The normalised catalogue and its checks (the blocking schema check, geography and duplicates),
computed in the asset's own step on what it has just built."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from pipelines.automation import ON_INPUT_CHANGE
from pipelines.defs.ingestion.assets import asset_name
from pipelines.metadata import OWNERS, code_version, preview, published_column_schema
from sources.registry import load_specs
from warehouse.catalogue_state import build_if_changed, check_schema
from warehouse.db import connect_writer

_SPECS = load_specs()


GEO_RESOLVED_MIN = 0.95
DUPLICATE_RATE_MAX = 0.3
CATALOGUE_CHECKS = [
    dg.AssetCheckSpec(
        "aides_conformes_au_schema",
        asset="aides",
        blocking=True,
        description="La projection publiée du catalogue respecte schemas/schema.json, ligne par ligne "
        "(vérifiée une fois par construction) : sinon rien n'est publié.",
    ),
    dg.AssetCheckSpec(
        "part_geographie_resolue",
        asset="aides",
        description=f"Au moins {GEO_RESOLVED_MIN:.0%} des aides ont une géographie résolue.",
    ),
    dg.AssetCheckSpec(
        "taux_de_doublons",
        asset="aides",
        description=f"Au plus {DUPLICATE_RATE_MAX:.0%} des enregistrements fusionnés comme doublons.",
    ),
]


@dg.asset(
    group_name="catalogue",
    kinds={"duckdb", "polars"},
    pool="duckdb",
    owners=OWNERS,
    code_version=code_version(
        "warehouse/normalise/**/*.py",
        "warehouse/normalise/vocab/*.csv",
        "warehouse/organisations/*.csv",
        "warehouse/catalogue_state.py",
        "schemas/schema.json",
    ),
    automation_condition=ON_INPUT_CHANGE,
    check_specs=CATALOGUE_CHECKS,
    deps=["territoires", *[asset_name(spec) for spec in _SPECS]],
)
def aides(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Le catalogue normalisé : une ligne par aide réelle, géographie en codes COG, dates,
    montants et vocabulaires normalisés, doublons fusionnés avec leur provenance, identifiants
    stables d'un run à l'autre. Il n'est reconstruit que si l'une de ses entrées a changé
    (sources, déclarations, référentiel, jour, code des transformations). Ses contrôles sont
    calculés dans la même étape, sur ce qu'elle vient de construire."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    with connect_writer() as conn:
        summary, rebuilt = build_if_changed(conn, _SPECS, today)
        sample = preview(
            conn,
            "SELECT id, titre, echelle, statut, array_to_string(eligibilite_geographique, '|') AS geo, "
            "array_to_string(sources, '|') AS sources FROM aides WHERE publiable ORDER BY titre",
        )
        [(fingerprint,)] = conn.execute("SELECT max(fingerprint) FROM catalogue_builds").fetchall()
        checks = [_schema_check(conn), _geography_check(conn), _duplicates_check(conn)]
    context.log.info(f"catalogue {'reconstruit' if rebuilt else 'inchangé (entrées identiques)'} : {summary}")
    return dg.MaterializeResult(
        metadata={
            "reconstruit": rebuilt,
            "nb_enregistrements": summary.records,
            "nb_aides": summary.aides,
            "nb_publiables": summary.publiables,
            "nb_geo_resolue": summary.geo_resolues,
            "nb_doublons_fusionnes": summary.doublons_fusionnes,
            "nb_a_revoir": summary.a_revoir,
            "nb_problemes": summary.problemes,
            "par_statut": dg.MetadataValue.json(summary.par_statut),
            "dagster/row_count": summary.aides,
            "dagster/column_schema": published_column_schema(),
            "apercu": sample,
        },
        check_results=checks,
        data_version=dg.DataVersion(fingerprint) if fingerprint else None,
    )


def _schema_check(conn: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    result = check_schema(conn)
    return dg.AssetCheckResult(
        check_name="aides_conformes_au_schema",
        passed=not result.violations,
        metadata={
            "lignes": result.rows,
            "resultat_reutilise": result.reused,
            "violations": dg.MetadataValue.md(
                "\n".join(
                    f"- ligne {v['ligne']}, {v['champ']} : {v['message']} ({v['valeur']!r})" for v in result.violations
                )
                or "aucune"
            ),
        },
    )


def _geography_check(conn: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    total, resolved = conn.execute("SELECT count(*), count(*) FILTER (geo_statut = 'resolved') FROM aides").fetchone()
    share = resolved / total if total else 1.0
    return dg.AssetCheckResult(
        check_name="part_geographie_resolue",
        passed=share >= GEO_RESOLVED_MIN,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"aides": total, "geo_resolue": resolved, "part": round(share, 4)},
    )


def _duplicates_check(conn: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    records, aids, review = conn.execute(
        "SELECT (SELECT count(*) FROM aides_provenance), (SELECT count(*) FROM aides), "
        "(SELECT count(*) FROM doublons_a_revoir)"
    ).fetchone()
    rate = (records - aids) / records if records else 0.0
    return dg.AssetCheckResult(
        check_name="taux_de_doublons",
        passed=rate <= DUPLICATE_RATE_MAX,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"enregistrements": records, "aides": aids, "taux": round(rate, 4), "paires_a_revoir": review},
    )
