"""The official geography referential, and the checks that it is complete."""

import dagster as dg

from pipelines.metadata import OWNERS, code_version, preview
from sources import npm
from sources.packages import referential_pin
from warehouse.db import connect_reader, connect_writer
from warehouse.referential import ARRONDISSEMENTS_MUNICIPAUX, load_referential
from warehouse.settings import warehouse_paths


@dg.asset(
    group_name="referentiel",
    kinds={"duckdb", "npm"},
    pool="duckdb",
    owners=OWNERS,
    code_version=code_version("warehouse/referential.py", "sources/packages.py", "sources/npm.py"),
)
def territoires(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Le Code officiel géographique (COG) : régions, départements, EPCI, communes,
    codes postaux, arrondissements municipaux et communes déléguées ou associées,
    chargés depuis le paquet npm ``@etalab/decoupage-administratif`` (version épinglée,
    intégrité vérifiée). Une version inchangée n'est ni retéléchargée ni rechargée."""
    pin = referential_pin()
    paths = warehouse_paths()
    package = npm.fetch(pin.name, pin.version, pin.integrity, paths.cache_dir)
    with connect_writer(paths) as conn:
        summary = load_referential(conn, package)
        sample = preview(
            conn,
            "SELECT * FROM v_communes_territoires WHERE commune IN "
            "('75056', '69123', '13055', '2A004', '2B033', '97411', '97608', '22016', '14118', '49007')",
        )
    context.log.info(
        "référentiel %s %s : %s, %s",
        pin.name,
        pin.version,
        "téléchargé" if package.downloaded else "pris dans le cache",
        "chargé" if summary.loaded else "déjà chargé",
    )
    return dg.MaterializeResult(
        metadata={
            "paquet": pin.name,
            "version": pin.version,
            "integrite": pin.integrity,
            "telecharge": package.downloaded,
            "recharge": summary.loaded,
            **{f"nb_{name}": count for name, count in summary.counts.items()},
            "dagster/row_count": summary.counts["communes"],
            "apercu": sample,
        },
        data_version=dg.DataVersion(f"{pin.version}:{pin.integrity}"),
    )


@dg.asset_check(asset=territoires, blocking=True)
def territoires_complets() -> dg.AssetCheckResult:
    """Every level of the referential is there: 2A and 2B, the five DROM, the 45
    arrondissements municipaux, and every current commune in the territory view."""
    with connect_reader() as conn:
        missing_deps = conn.execute(
            "SELECT list(code) FROM (VALUES ('2A'), ('2B'), ('971'), ('972'), ('973'), ('974'), ('976')) v(code) "
            "WHERE code NOT IN (SELECT code FROM ref_departements)"
        ).fetchone()[0]
        arrondissements = conn.execute(
            "SELECT count(*) FROM ref_communes_rattachees WHERE type = 'arrondissement-municipal'"
        ).fetchone()[0]
        communes, in_view, without_departement = conn.execute(
            "SELECT (SELECT count(*) FROM ref_communes), count(DISTINCT commune), count(*) FILTER (departement_nom IS NULL) "
            "FROM v_communes_territoires"
        ).fetchone()
    passed = (
        not missing_deps
        and arrondissements == ARRONDISSEMENTS_MUNICIPAUX
        and communes == in_view
        and not without_departement
    )
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "departements_manquants": str(missing_deps or []),
            "arrondissements_municipaux": arrondissements,
            "communes": communes,
            "communes_dans_la_vue": in_view,
            "communes_sans_departement": without_departement,
        },
    )
