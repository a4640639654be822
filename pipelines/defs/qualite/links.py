"""The link check of the open aids (``liens``) and its non-blocking share-of-broken-links check."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.automation import ON_INPUT_CHANGE
from pipelines.metadata import OWNERS, code_version
from sources.context import link_transport, pipeline_policy
from warehouse.db import connect_reader, connect_writer
from warehouse.quality.links import broken_links, check_urls, link_state, record_checks, urls_to_check
from warehouse.settings import link_check_settings

MAX_BROKEN_SHARE = 0.10


@dg.asset(
    group_name="qualite",
    kinds={"duckdb"},
    pool="duckdb",
    owners=OWNERS,
    code_version=code_version("warehouse/quality/links.py", "sources/fetch/client.py"),
    automation_condition=ON_INPUT_CHANGE,
    deps=["aides"],
)
def liens(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """La vérification des liens des aides ouvertes, permanentes ou à venir (page d'information
    et page de démarche) : HEAD puis GET, en respectant robots.txt et l'espacement des requêtes
    par site. Un lien n'est dit « cassé » que sur une réponse définitive du serveur (404, 410,
    autre 4xx) ; sans réseau, rien n'est déclaré cassé : les liens sont « non vérifiés », avec
    la raison. Chaque vérification est ajoutée à l'historique de la table ``liens``.

    La vérification est incrémentale : un lien n'est revérifié qu'une fois l'intervalle passé
    (`AIDES_LIENS_INTERVALLE_JOURS`, 7 jours par défaut), les liens jamais vérifiés d'abord, puis
    les vérifications les plus anciennes, au plus `AIDES_LIENS_PAR_RUN` liens (100) et
    `AIDES_LIENS_DUREE_MAX_S` secondes (300) par run. Les autres gardent le verdict de leur
    dernière vérification."""
    settings = link_check_settings()
    now = datetime.now(UTC)
    with connect_writer() as conn:
        urls = urls_to_check(conn, settings.per_run, now, settings.interval)
    # the network part runs without holding the warehouse's writer lock
    checks = check_urls(urls, link_transport(), pipeline_policy(), max_seconds=settings.max_seconds)
    with connect_writer() as conn:
        summary = record_checks(conn, checks, now)
        state = link_state(conn, now, settings.interval)
        broken = broken_links(conn)
    context.log.info(
        f"liens : {summary.checked} vérifiés ce run (ok {summary.ok}, cassés {summary.broken}, "
        f"non vérifiés {summary.unchecked}) ; sur {state.total} : {state.fresh} à jour, {state.due} dus "
        f"dont {state.never} jamais vérifiés"
    )
    listed = [f"- {url} ({detail}, vérifié le {checked_at:%Y-%m-%d})" for url, detail, checked_at in broken]
    return dg.MaterializeResult(
        metadata={
            # this run's work, then where every link of the open aids stands
            "nb_verifies": len(checks),
            "nb_a_jour": state.fresh,
            "nb_dus": state.due,
            "nb_jamais_verifies": state.never,
            "nb_ok": state.ok,
            "nb_casses": state.broken,
            "nb_non_verifies": state.unchecked,
            "intervalle_jours": dg.MetadataValue.float(settings.interval.total_seconds() / 86400),
            "dagster/row_count": state.total,
            "liens_casses": dg.MetadataValue.md("\n".join(listed) or "aucun"),
        }
    )


@dg.asset_check(asset=liens, blocking=False)
def liens_casses() -> dg.AssetCheckResult:
    """At most 10 % of the links that got a definitive answer are broken (a warning, not a stop:
    broken links are the publishers' to fix, and the catalogue stays useful meanwhile). Every
    link of the open aids counts with its latest verdict, whichever run gave it."""
    with connect_reader() as conn:
        state = link_state(conn, interval=link_check_settings().interval)
    answered = state.ok + state.broken
    share = state.broken / answered if answered else 0.0
    return dg.AssetCheckResult(
        passed=share <= MAX_BROKEN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "part_casses": dg.MetadataValue.float(round(share, 4)),
            "nb_ok": state.ok,
            "nb_casses": state.broken,
            "nb_non_verifies": state.unchecked,
            "nb_jamais_verifies": state.never,
            "seuil": MAX_BROKEN_SHARE,
        },
    )
