"""The link check of the open aids (``liens``) and its non-blocking share-of-broken-links check."""

from datetime import UTC, datetime

import dagster as dg

from sources.context import link_transport, pipeline_policy
from warehouse.db import connect_reader, connect_writer
from warehouse.quality.links import BROKEN, OK, UNCHECKED, check_urls, latest_summary, record_checks, urls_to_check

MAX_BROKEN_SHARE = 0.10


@dg.asset(group_name="qualite", kinds={"duckdb"}, pool="duckdb", deps=["aides"])
def liens(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """La vérification des liens des aides ouvertes, permanentes ou à venir (page d'information
    et page de démarche) : HEAD puis GET, en respectant robots.txt et l'espacement des requêtes
    par site. Un lien n'est dit « cassé » que sur une réponse définitive du serveur (404, 410,
    autre 4xx) ; sans réseau, rien n'est déclaré cassé : les liens sont « non vérifiés », avec
    la raison. Chaque vérification est ajoutée à l'historique de la table ``liens``."""
    now = datetime.now(UTC)
    with connect_writer() as conn:
        urls = urls_to_check(conn)
    # the network part runs without holding the warehouse's writer lock
    checks = check_urls(urls, link_transport(), pipeline_policy())
    with connect_writer() as conn:
        summary = record_checks(conn, checks, now)
    context.log.info(f"liens : {summary}")
    broken = [f"- {c.url} ({c.detail})" for c in checks if c.statut == BROKEN][:50]
    return dg.MaterializeResult(
        metadata={
            "nb_verifies": summary.checked,
            "nb_ok": summary.ok,
            "nb_casses": summary.broken,
            "nb_non_verifies": summary.unchecked,
            "dagster/row_count": summary.checked,
            "liens_casses": dg.MetadataValue.md("\n".join(broken) or "aucun"),
        }
    )


@dg.asset_check(asset=liens, blocking=False)
def liens_casses() -> dg.AssetCheckResult:
    """At most 10 % of the links that got a definitive answer are broken (a warning, not a stop:
    broken links are the publishers' to fix, and the catalogue stays useful meanwhile)."""
    with connect_reader() as conn:
        counts = latest_summary(conn)
    answered = counts[OK] + counts[BROKEN]
    share = counts[BROKEN] / answered if answered else 0.0
    return dg.AssetCheckResult(
        passed=share <= MAX_BROKEN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "part_casses": dg.MetadataValue.float(round(share, 4)),
            "nb_ok": counts[OK],
            "nb_casses": counts[BROKEN],
            "nb_non_verifies": counts[UNCHECKED],
            "seuil": MAX_BROKEN_SHARE,
        },
    )
