"""The normalised catalogue and its checks (the blocking schema check, geography and duplicates)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.defs.ingestion.assets import asset_name
from pipelines.metadata import preview
from sources.registry import load_specs
from warehouse.catalogue_state import build_if_changed, check_schema
from warehouse.db import connect_reader, connect_writer

_SPECS = load_specs()


@dg.asset(
    group_name="catalogue",
    kinds={"duckdb", "polars"},
    pool="duckdb",
    deps=["territoires", *[asset_name(spec) for spec in _SPECS]],
)
def aides(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Le catalogue normalisé : une ligne par aide réelle, géographie en codes COG, dates,
    montants et vocabulaires normalisés, doublons fusionnés avec leur provenance, identifiants
    stables d'un run à l'autre. Il n'est reconstruit que si l'une de ses entrées a changé
    (sources, déclarations, référentiel, jour, code des transformations)."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    with connect_writer() as conn:
        summary, rebuilt = build_if_changed(conn, _SPECS, today)
        sample = preview(
            conn,
            "SELECT id, titre, echelle, statut, array_to_string(eligibilite_geographique, '|') AS geo, "
            "array_to_string(sources, '|') AS sources FROM aides WHERE publiable ORDER BY titre",
        )
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
            "apercu": sample,
        }
    )


@dg.asset_check(asset=aides, blocking=True, pool="duckdb")
def aides_conformes_au_schema() -> dg.AssetCheckResult:
    """The published projection of the catalogue satisfies schemas/schema.json, row by row
    (checked once per build of the catalogue)."""
    with connect_writer() as conn:
        result = check_schema(conn)
    return dg.AssetCheckResult(
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


GEO_RESOLVED_MIN = 0.95
DUPLICATE_RATE_MAX = 0.3


@dg.asset_check(asset=aides, description=f"Au moins {GEO_RESOLVED_MIN:.0%} des aides ont une géographie résolue.")
def part_geographie_resolue() -> dg.AssetCheckResult:
    with connect_reader() as conn:
        total, resolved = conn.execute(
            "SELECT count(*), count(*) FILTER (geo_statut = 'resolved') FROM aides"
        ).fetchone()
    share = resolved / total if total else 1.0
    return dg.AssetCheckResult(
        passed=share >= GEO_RESOLVED_MIN,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"aides": total, "geo_resolue": resolved, "part": round(share, 4)},
    )


@dg.asset_check(
    asset=aides, description=f"Au plus {DUPLICATE_RATE_MAX:.0%} des enregistrements fusionnés comme doublons."
)
def taux_de_doublons() -> dg.AssetCheckResult:
    with connect_reader() as conn:
        records, aids, review = conn.execute(
            "SELECT (SELECT count(*) FROM aides_provenance), (SELECT count(*) FROM aides), "
            "(SELECT count(*) FROM doublons_a_revoir)"
        ).fetchone()
    rate = (records - aids) / records if records else 0.0
    return dg.AssetCheckResult(
        passed=rate <= DUPLICATE_RATE_MAX,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"enregistrements": records, "aides": aids, "taux": round(rate, 4), "paires_a_revoir": review},
    )
