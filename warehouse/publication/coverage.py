"""The coverage of the catalogue: for each collectivité, does the catalogue hold its own aids, and did it check?

Why: the catalogue is blind where no source publishes a collectivité's aids, and nothing said
where. ``couverture.csv`` (a release file) lists every région, département, EPCI and commune of
more than :data:`COMMUNE_THRESHOLD` inhabitants of the COG with:

- its **own aids**: published aids one of whose actors (``aides.acteurs``, the published
  ``porteurs``: ``warehouse/normalise/acteurs.py``) with the role ``porteur`` or ``financeur`` (or
  no role stated) *is* that collectivité. An actor is recognised by its SIREN (the commune's or the
  EPCI's in the COG, the département's or région's in ``warehouse/organisations/collectivites.csv``);
  an actor without a SIREN by its name, through the organisations referential
  (``warehouse.normalise.organisations``: « Département de la Gironde », « Ville d'Angers »), one
  resolution per distinct name. An actor whose SIREN is not a collectivité's is not one, whatever
  its name; titles are never read. So an aid of Angers listed by aides-velo counts for Angers,
  a national aid available in Angers does not.
- the **sources** of those aids and when they were last collected (the latest ``date_collecte``);
- whether its **agents reviewed** what the catalogue says: the latest accepted submission of the
  collectivité (``soumissions``, by SIREN or DEP-/REG- code) or « relu, rien à signaler »
  (``relectures``, ``warehouse.submissions.reviews``), with its date and kind.

Its columns are declared once, in ``schemas/couverture.json``; everything is set-based DuckDB
SQL over the referential and the catalogue, except the resolution of distinct actor names.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from schemas import load_coverage_schema
from warehouse.db import query_frame
from warehouse.normalise.organisations import DATA_DIR, RESOLVED, OrganisationIndex
from warehouse.submissions.reviews import REVIEW_KIND

COMMUNE_THRESHOLD = 10_000
"""Communes are listed when their population is strictly above this."""
OWN_ROLES: tuple[str, ...] = ("porteur", "financeur")
"""Roles that make an aid the actor's own (an instructor or a broadcaster only relays it)."""
OPEN_STATUSES: tuple[str, ...] = ("ouverte", "permanente", "à venir")
SUBMISSION_KIND = "soumission"
LEVELS: tuple[str, ...] = ("region", "departement", "epci", "commune")
_COLLECTIVITY_PREFIXES = ("COM-", "EPCI-", "DEP-", "REG-")


def coverage_schema() -> dict[str, Any]:
    """The Table Schema of ``couverture.csv`` as embedded in ``datapackage.json``."""
    schema = load_coverage_schema()
    keep = ("name", "title", "description", "version", "fields", "primaryKey", "missingValues")
    return {key: schema[key] for key in keep if key in schema}


def coverage_columns() -> list[str]:
    """The columns of ``couverture.csv``, in order (from its schema)."""
    return [field["name"] for field in load_coverage_schema()["fields"]]


TERRITORIES_SQL = f"""
    WITH commune_pop AS (
        SELECT departement, region, sum(population) AS population FROM ref_communes GROUP BY ALL
    ),
    epci_main AS (  -- the département (and its région) where most of the EPCI's population lives
        SELECT m.epci, c.departement, c.region
        FROM ref_epci_membres m JOIN ref_communes c ON c.code = m.commune
        GROUP BY m.epci, c.departement, c.region
        QUALIFY row_number() OVER (
            PARTITION BY m.epci ORDER BY sum(coalesce(c.population, 0)) DESC, count(*) DESC, c.departement
        ) = 1
    )
    SELECT 'REG-' || r.code AS code, 'region' AS niveau, r.nom, NULL::VARCHAR AS departement, r.code AS region,
           (SELECT sum(p.population) FROM commune_pop p WHERE p.region = r.code)::BIGINT AS population, 1 AS rang
    FROM ref_regions r
    UNION ALL
    SELECT 'DEP-' || d.code, 'departement', d.nom, d.code, d.region,
           (SELECT sum(p.population) FROM commune_pop p WHERE p.departement = d.code)::BIGINT, 2
    FROM ref_departements d
    UNION ALL
    SELECT 'EPCI-' || e.siren, 'epci', e.nom, m.departement, m.region, e.population::BIGINT, 3
    FROM ref_epci e LEFT JOIN epci_main m ON m.epci = e.siren
    UNION ALL
    SELECT 'COM-' || c.code, 'commune', c.nom, c.departement, c.region, c.population::BIGINT, 4
    FROM ref_communes c WHERE c.population > {COMMUNE_THRESHOLD}
"""
"""(code, niveau, nom, departement, region, population, rang): the territories ``couverture.csv`` lists."""

_ACTOR_TYPE = '[{"nom": "VARCHAR", "siren": "VARCHAR", "roles": ["VARCHAR"]}]'
_ROLES = ", ".join(f"'{role}'" for role in OWN_ROLES)
ACTORS_SQL = f"""
    SELECT id, statut, sources, date_collecte, trim(actor.nom) AS nom,
           nullif(regexp_replace(coalesce(actor.siren, ''), '\\s', '', 'g'), '') AS siren
    FROM (
        SELECT id, statut, sources, date_collecte,
               unnest(coalesce(
                   from_json(acteurs, '{_ACTOR_TYPE}'),
                   list_transform(coalesce(porteurs, []), lambda p: {{'nom': p, 'siren': NULL::VARCHAR, 'roles': ['porteur']}})
               )) AS actor
        FROM aides WHERE publiable
    )
    WHERE actor.roles IS NULL OR len(actor.roles) = 0 OR list_has_any(actor.roles, [{_ROLES}])
"""
"""(id, statut, sources, date_collecte, nom, siren): each actor of a published aid in a role that makes
the aid its own; an aid built before actors were computed counts its porteurs' names."""


def _council_sirens() -> pl.DataFrame:
    """(code, siren) of the départements and régions whose SIREN the organisations data gives."""
    frame = pl.read_csv(DATA_DIR / "collectivites.csv", infer_schema=False)
    return frame.select("code", pl.col("siren").str.replace_all(r"\s", "")).filter(
        pl.col("siren").str.contains(r"^\d{9}$")
    )


def _name_codes(names: list[str], organisations: OrganisationIndex | None) -> pl.DataFrame:
    """(nom, code): the collectivité each actor name designates without doubt, by the organisations
    referential (one resolution per distinct name, never per aid)."""
    rows: list[tuple[str, str]] = []
    if organisations is not None:
        for name in names:
            for part in organisations.resolve(name).parts:
                if part.status != RESOLVED:
                    continue
                for organisation in part.organisations:
                    codes = organisation.perimetre
                    if (
                        organisation.type == "collectivite"
                        and len(codes) == 1
                        and codes[0].startswith(_COLLECTIVITY_PREFIXES)
                    ):
                        rows.append((name, codes[0]))
    return pl.DataFrame(rows, schema={"nom": pl.Utf8, "code": pl.Utf8}, orient="row").unique()


def _table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
    return bool(row and row[0])


def reviews_sql(conn: duckdb.DuckDBPyConnection) -> str:
    """(code, date_relecture, nature_relecture): the latest review of each territory, a submission or
    « relu, rien à signaler », from the tables this warehouse has (none: no row)."""
    parts = []
    if _table_exists(conn, "relectures"):
        parts.append(f"SELECT territoire AS code, relu_le AS le, '{REVIEW_KIND}' AS nature FROM relectures")
    if _table_exists(conn, "soumissions"):
        parts.append(
            f"""
            SELECT CASE WHEN starts_with(s.siren, 'DEP-') OR starts_with(s.siren, 'REG-') THEN s.siren
                        WHEN e.siren IS NOT NULL THEN 'EPCI-' || e.siren
                        WHEN c.code IS NOT NULL THEN 'COM-' || c.code END,
                   s.received_at, '{SUBMISSION_KIND}'
            FROM soumissions s
            LEFT JOIN ref_epci e ON e.siren = s.siren
            LEFT JOIN ref_communes c ON c.siren = s.siren
            """
        )
    if not parts:
        return "SELECT NULL::VARCHAR AS code, NULL::TIMESTAMPTZ AS date_relecture, NULL::VARCHAR AS nature_relecture LIMIT 0"
    union = " UNION ALL ".join(parts)
    return f"""
        SELECT code, max(le) AS date_relecture, arg_max(nature, le) AS nature_relecture
        FROM ({union}) WHERE code IS NOT NULL GROUP BY code
    """


def _utc_text(column: str) -> str:
    return f"strftime({column} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')"


def latest_reviews(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(code, date_relecture, nature_relecture) of every reviewed territory, dates as ISO UTC text:
    what the web application reads live, as it reads submissions."""
    return query_frame(
        conn,
        f"SELECT code, {_utc_text('date_relecture')} AS date_relecture, nature_relecture "
        f"FROM ({reviews_sql(conn)}) ORDER BY code",
    )


def coverage_frame(conn: duckdb.DuckDBPyConnection, organisations: OrganisationIndex | None = None) -> pl.DataFrame:
    """The rows of ``couverture.csv``: one per listed territory, régions first, then départements,
    EPCI and communes, each level by code. ``organisations`` reads the actors given without a SIREN
    (None: only SIRENs are read)."""
    actors = query_frame(conn, ACTORS_SQL)
    unnamed = actors.filter(pl.col("siren").is_null() & pl.col("nom").is_not_null())["nom"].unique().sort()
    names = _name_codes(unnamed.to_list(), organisations)
    registered = {"_coverage_actors": actors, "_coverage_names": names, "_coverage_councils": _council_sirens()}
    for name, frame in registered.items():
        conn.register(name, frame)
    opened = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    try:
        frame = query_frame(
            conn,
            f"""
            WITH collectivity_sirens AS (
                SELECT siren, 'COM-' || code AS code FROM ref_communes WHERE siren IS NOT NULL
                UNION ALL SELECT siren, 'EPCI-' || siren FROM ref_epci
                UNION ALL SELECT siren, code FROM _coverage_councils
            ),
            own_aids AS (  -- a stated SIREN decides; the name is read only when there is none
                SELECT DISTINCT coalesce(s.code, n.code) AS code, a.id, a.statut, a.sources, a.date_collecte
                FROM _coverage_actors a
                LEFT JOIN collectivity_sirens s ON s.siren = a.siren
                LEFT JOIN _coverage_names n ON a.siren IS NULL AND n.nom = a.nom
                WHERE coalesce(s.code, n.code) IS NOT NULL
            ),
            own AS (
                SELECT code, count(DISTINCT id) AS nb, count(DISTINCT id) FILTER (WHERE statut IN ({opened})) AS ouvertes,
                       array_to_string(list_sort(list_distinct(flatten(list(sources)))), '|') AS sources,
                       max(date_collecte) AS derniere_collecte
                FROM own_aids GROUP BY code
            ),
            reviews AS ({reviews_sql(conn)})
            SELECT t.code, t.niveau, t.nom, t.departement, t.region, t.population,
                   coalesce(o.nb, 0) > 0 AS a_des_aides_propres,
                   coalesce(o.nb, 0)::BIGINT AS nb_aides_propres,
                   coalesce(o.ouvertes, 0)::BIGINT AS nb_aides_propres_ouvertes,
                   nullif(o.sources, '') AS sources,
                   {_utc_text("o.derniere_collecte")} AS derniere_collecte,
                   r.code IS NOT NULL AS relue,
                   {_utc_text("r.date_relecture")} AS date_relecture,
                   r.nature_relecture
            FROM ({TERRITORIES_SQL}) t
            LEFT JOIN own o ON o.code = t.code
            LEFT JOIN reviews r ON r.code = t.code
            ORDER BY t.rang, t.code
            """,
        )
    finally:
        for name in registered:
            conn.unregister(name)
    return frame.select(coverage_columns())
