"""Build the normalised catalogue from the parsed source records, set-based.

    source_records ─► text, URLs, dates, amounts, vocabularies (polars expressions)
                   ─► geography (resolver over the distinct mentions)
                   ─► statut ─► deduplication ─► stable ids ─► aides + aides_provenance

Nothing is dropped silently: every value that could not be used goes to
``normalisation_problemes`` with its reason, and an aid that cannot satisfy the
published schema stays in ``aides`` with ``publiable = false`` and its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from schemas import published_fields
from sources.base import SourceSpec
from sources.record import ELIGIBILITY_FIELDS
from warehouse.db import scalar
from warehouse.normalise.acteurs import unknown_organisations, with_acteurs
from warehouse.normalise.amounts import amounts_max, normalise_amounts
from warehouse.normalise.conditions import (
    built_titles,
    composed_descriptions,
    conditional_amounts,
    distinct_titles,
    eligibility_fields,
    map_conditions,
)
from warehouse.normalise.dates import normalise_dates, normalise_timestamps, swapped_day_month
from warehouse.normalise.dedup import find_duplicates
from warehouse.normalise.fields import ONE_LINE_TEXTS, carried_fields
from warehouse.normalise.geo_sets import Territories, exact_geography, expression_place_rows, expression_places
from warehouse.normalise.geography import ORGANISATION, GeoResolver
from warehouse.normalise.identity import assign_ids
from warehouse.normalise.porteurs import collectivity_names, with_porteurs
from warehouse.normalise.statut import recurrence_expr, statut_expr
from warehouse.normalise.text import html_to_text, inline_markdown_to_text, repair_url
from warehouse.normalise.vocabulary import map_vocabulary

PARIS = ZoneInfo("Europe/Paris")

# Levels as sources state them (publicodes `remplace`, aides-territoires scales…) → echelle.
_ECHELLE_OF_NIVEAU = {
    "commune": "commune",
    "ville": "commune",
    "intercommunalité": "epci",
    "intercommunalite": "epci",
    "epci": "epci",
    "métropole": "epci",
    "département": "departement",
    "departement": "departement",
    "région": "region",
    "region": "region",
    "état": "national",
    "etat": "national",
    "national": "national",
    "pays": "national",
    "europe": "europe",
    "continent": "europe",
}
_GEO_STRUCT = pl.List(pl.Struct({"niveau": pl.Utf8, "code": pl.Utf8, "nom": pl.Utf8}))


@dataclass
class CatalogueSummary:
    records: int
    aides: int
    publiables: int
    geo_resolues: int
    doublons_fusionnes: int
    a_revoir: int
    problemes: int
    par_statut: dict[str, int] = field(default_factory=dict)


def _sources_frame(specs: list[SourceSpec]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": [s.name for s in specs],
            "precedence": [s.precedence for s in specs],
            "editeur": [s.publisher for s in specs],
            "niveau_source": [s.level for s in specs],
            # a source declared as listing withdrawn aids (``retrait = "motif"`` in its config)
            "motif_retrait": [s.config.get("retrait") for s in specs],
        },
        schema={
            "source": pl.Utf8,
            "precedence": pl.Int64,
            "editeur": pl.Utf8,
            "niveau_source": pl.Utf8,
            "motif_retrait": pl.Utf8,
        },
    )


def load_records(conn: duckdb.DuckDBPyConnection, specs: list[SourceSpec]) -> pl.DataFrame:
    """Every stored source record, with its source's precedence and collection date.

    In a stable order (source, native_id), so that two builds over the same records see
    them alike. The source's original record (``raw``, about half the memory of the frame)
    is not loaded: only what the catalogue reads from it, the ``action`` of a
    collectivité's submission (ajout, correction, retrait).

    Memory: the table is the largest thing the build reads, so it is read once. Through a
    relation on a cursor, DuckDB streams it into Arrow batches instead of materialising its
    result first and copying it (``query_frame``: a cursor has no unfinished result of the
    caller's to collide with, and sees what the connection committed); sorted by polars
    rather than by an ``ORDER BY`` that sorts every column in DuckDB's memory. Measured at
    100,000 records: the process grows by 0.5 GB instead of 0.9 GB for a 0.15 GB frame.
    """
    sql = """
        SELECT r.source || ':' || r.native_id AS record_key, r.* EXCLUDE (raw),
               json_extract_string(r.raw, '$.action') AS action, s.fetched_at
        FROM source_records r LEFT JOIN source_state s USING (source)
    """
    with conn.cursor() as cursor:
        frame = cursor.sql(sql).pl().sort("source", "native_id", maintain_order=True)
    return frame.join(_sources_frame(specs), on="source", how="left", maintain_order="left").with_columns(
        pl.col("precedence").fill_null(50)
    )


# -- geography ------------------------------------------------------------------------


def _mentions(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return (
        frame.select("record_key", "source", pl.col(column).str.json_decode(_GEO_STRUCT).alias("m"))
        .explode("m")
        .drop_nulls("m")
        .unnest("m")
        .with_columns(pl.lit(None, pl.Utf8).alias("ctx_departement"), pl.lit(None, pl.Utf8).alias("ctx_region"))
    )


def resolve_geography(frame: pl.DataFrame, resolver: GeoResolver) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per record: inclusion and exclusion codes and a geo status; plus the problems found."""
    results = {}
    problems = []
    for column, target in (
        ("geo_inclusions", "eligibilite_geographique"),
        ("geo_exclusions", "eligibilite_geographique_exclusions"),
    ):
        mentions = _mentions(frame, column)
        resolved = (
            resolver.resolve_mentions(mentions)
            if mentions.height
            else mentions.with_columns(
                pl.lit(None, pl.Utf8).alias("status"),
                pl.lit(None, pl.List(pl.Utf8)).alias("codes"),
                pl.lit(None, pl.List(pl.Utf8)).alias("candidates"),
                pl.lit(None, pl.Utf8).alias("reason"),
                pl.lit(None, pl.List(pl.Utf8)).alias("flags"),
            )
        )
        problems.append(
            resolved.filter(pl.col("status") != "resolved").select(
                "record_key",
                "source",
                pl.lit(target).alias("champ"),
                pl.coalesce(pl.col("code"), pl.col("nom")).alias("valeur"),
                pl.format("{} : {}", pl.col("status"), pl.col("reason").fill_null("")).alias("probleme"),
            )
        )
        results[target] = resolved.group_by("record_key").agg(
            pl.col("codes")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .drop_nulls()
            .unique()
            .sort()
            .alias(target),
            (pl.col("status") == "resolved").all().alias(f"{target}_ok"),
            (pl.col("status") == "ambiguous").any().alias(f"{target}_ambigu"),
            ((pl.col("niveau") == ORGANISATION) & (pl.col("status") == "resolved")).any().alias(f"{target}_deduite"),
        )
    geo = (
        frame.select("record_key")
        .join(results["eligibilite_geographique"], on="record_key", how="left")
        .join(results["eligibilite_geographique_exclusions"], on="record_key", how="left")
    )
    inclusions_ok = pl.col("eligibilite_geographique_ok").fill_null(False) & (
        pl.col("eligibilite_geographique").list.len().fill_null(0) > 0
    )
    geo = geo.with_columns(
        pl.when(inclusions_ok & pl.col("eligibilite_geographique_exclusions_ok").fill_null(True))
        .then(pl.lit("resolved"))
        .when(
            pl.col("eligibilite_geographique_ambigu").fill_null(False)
            | pl.col("eligibilite_geographique_exclusions_ambigu").fill_null(False)
        )
        .then(pl.lit("ambiguous"))
        .otherwise(pl.lit("unresolved"))
        .alias("geo_statut"),
        pl.col("eligibilite_geographique").fill_null([]),
        pl.col("eligibilite_geographique_exclusions").fill_null([]),
        # the territory was read from the financers' names (the organisations referential)
        pl.col("eligibilite_geographique_deduite").fill_null(False).alias("geo_deduite"),
    ).select(
        "record_key", "eligibilite_geographique", "eligibilite_geographique_exclusions", "geo_statut", "geo_deduite"
    )
    no_geo = frame.filter(pl.col("geo_inclusions").str.json_decode(_GEO_STRUCT).list.len().fill_null(0) == 0).select(
        "record_key",
        "source",
        pl.lit("eligibilite_geographique").alias("champ"),
        pl.lit(None, pl.Utf8).alias("valeur"),
        pl.lit("unresolved : la source n'indique aucun territoire").alias("probleme"),
    )
    return geo, pl.concat([*problems, no_geo], how="vertical_relaxed")


def _with_exact_geography(
    conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, geo: pl.DataFrame, resolver: GeoResolver
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Records that state the structure of their conditions take the exact set it gives
    (``geo_sets.py``) instead of the union of the places they mention, once those resolved;
    a place of the expression that did not resolve (one an inlined condition on another aid
    names, say) keeps the stated places and is reported."""
    with_expression = frame.filter(pl.col("geo_expression").is_not_null())
    if not with_expression.height:
        return geo, pl.DataFrame(schema={name: pl.Utf8 for name in _PROBLEM_COLUMNS})
    places = resolver.resolve_mentions(
        expression_places(with_expression).with_columns(
            pl.lit(None, pl.Utf8).alias("ctx_departement"), pl.lit(None, pl.Utf8).alias("ctx_region")
        )
    )
    exact = exact_geography(with_expression, places, Territories.from_warehouse(conn))
    unresolved = places.filter(pl.col("status") != "resolved")
    named = (
        with_expression.select("record_key", "source", "geo_expression")
        .join(expression_place_rows(with_expression), on="geo_expression")
        .join(unresolved, on=["niveau", "code", "nom"])
    )
    problems = named.select(
        "record_key",
        "source",
        pl.lit("eligibilite_geographique").alias("champ"),
        pl.coalesce("code", "nom").alias("valeur"),
        pl.format("condition géographique, {} : {}", pl.col("status"), pl.col("reason").fill_null("")).alias(
            "probleme"
        ),
    )
    columns = ("eligibilite_geographique", "eligibilite_geographique_exclusions")
    use = pl.col("_exacte") & (pl.col("geo_statut") == "resolved")
    exact_geo = (
        geo.join(exact.with_columns(pl.lit(True).alias("_exacte")), on="record_key", how="left", suffix="_exacte")
        .with_columns(
            pl.when(use).then(pl.col(f"{name}_exacte")).otherwise(pl.col(name)).alias(name) for name in columns
        )
        .select(geo.columns)
    )
    return exact_geo, problems


# -- fields ---------------------------------------------------------------------------

_PROBLEM_COLUMNS = ("record_key", "source", "champ", "valeur", "probleme")
_VOCABULARIES = ("cibles", "types_aides", "thematiques")  # the source's labels → the schema's values
ELIGIBILITE_INCONNUE = "Conditions d'éligibilité non précisées par la source : voir la page de l'aide."


def _problems(frame: pl.DataFrame, champ: str, value: str, issue: str) -> pl.DataFrame:
    return frame.filter(pl.col(issue).is_not_null()).select(
        "record_key",
        "source",
        pl.lit(champ).alias("champ"),
        pl.col(value).cast(pl.Utf8).alias("valeur"),
        pl.col(issue).alias("probleme"),
    )


def normalise_fields(frame: pl.DataFrame, today: date) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Texts, URLs, dates, amounts, vocabularies, statut: one column expression at a time."""
    problems: list[pl.DataFrame] = []
    carried = carried_fields()
    frame = frame.with_columns(
        [html_to_text(pl.col(f.name)).alias(f.name) for f in carried if not f.multi_valued and f.format != "uri"]
        + [
            pl.col("date_ouverture").alias("date_ouverture_brute"),
            pl.col("date_cloture").alias("date_cloture_brute"),
            pl.col("date_mise_a_jour").alias("date_mise_a_jour_brute"),
        ]
    )
    frame = frame.with_columns(inline_markdown_to_text(pl.col(name)).alias(name) for name in ONE_LINE_TEXTS)
    for url in (f.name for f in carried if f.format == "uri"):
        repaired, issue = repair_url(pl.col(url))
        frame = frame.with_columns(
            pl.col(url).alias(f"{url}_brute"), repaired.alias(url), issue.alias(f"{url}_probleme")
        )
        problems.append(_problems(frame, url, f"{url}_brute", f"{url}_probleme"))

    frame = normalise_dates(frame, ["date_ouverture", "date_cloture"])
    frame = normalise_timestamps(frame, ["date_mise_a_jour"])
    for name in ("date_ouverture", "date_cloture", "date_mise_a_jour"):
        problems.append(_problems(frame, name, f"{name}_brute", f"{name}_probleme"))
    frame = frame.with_columns(
        pl.col("fetched_at").str.to_datetime(time_zone="UTC", strict=False).alias("date_collecte")
    ).with_columns(
        # "Champ à remplissage automatique": when the source gives no update date, the
        # date we collected it is the latest date we can vouch for.
        pl.coalesce(pl.col("date_mise_a_jour"), pl.col("date_collecte")).alias("date_mise_a_jour")
    )

    frame = normalise_amounts(frame)
    # the ceiling of the funded expense, read like an amount, with its own problems
    ceilings = amounts_max(frame, ["plafonds_depense"])
    frame = frame.with_columns(
        ceilings.get_column("montant_max").alias("plafond_depense"),
        ceilings.get_column("montant_probleme").alias("plafond_depense_probleme"),
        pl.col("plafonds_depense").list.join(" ; ").alias("plafonds_depense_bruts"),
    )
    problems.append(_problems(frame, "plafond_depense", "plafonds_depense_bruts", "plafond_depense_probleme"))
    problems.append(
        _problems(
            frame.with_columns(
                pl.concat_list(pl.col("montants"), pl.col("taux")).list.join(" ; ").alias("montants_bruts")
            ),
            "montant_max",
            "montants_bruts",
            "montant_probleme",
        )
    )

    # the mapped list takes the schema's name; the source's labels stay beside it
    frame = frame.rename({name: f"{name}_brutes" for name in _VOCABULARIES})
    for name in _VOCABULARIES:
        mapped, unmapped = map_vocabulary(
            frame.select("record_key", "source", pl.col(f"{name}_brutes").alias(name)), name
        )
        frame = frame.join(mapped, on="record_key", how="left").with_columns(pl.col(name).fill_null([]))
        problems.append(
            unmapped.select(
                "record_key",
                "source",
                pl.lit(name).alias("champ"),
                pl.col("valeur"),
                pl.lit("valeur non reconnue par les tables de correspondance").alias("probleme"),
            )
        )

    # A stated amount or rate is money: an aid whose source names no type but states one
    # is a "financement" (documented in README); any other aid without a type stays unpublished.
    frame = frame.with_columns(
        pl.when(
            (pl.col("types_aides").list.len() == 0)
            & (pl.col("montant_max").is_not_null() | pl.col("taux_max").is_not_null())
        )
        .then(pl.lit(["financement"]))
        .otherwise(pl.col("types_aides"))
        .alias("types_aides")
    )
    frame = frame.with_columns(recurrence_expr())
    frame = frame.with_columns(statut_expr(today).alias("statut"))
    return frame, problems


def _echelle() -> pl.Expr:
    stated = pl.col("niveau").str.strip_chars().str.to_lowercase().replace_strict(_ECHELLE_OF_NIVEAU, default=None)
    declared = pl.col("niveau_source").replace_strict(
        {
            "commune": "commune",
            "epci": "epci",
            "departement": "departement",
            "region": "region",
            "national": "national",
            "europe": "europe",
        },
        default=None,
    )
    codes = pl.col("eligibilite_geographique")
    from_codes = (
        pl.when(codes.list.eval(pl.element().str.starts_with("PAYS-99100")).list.any())
        .then(pl.lit("national"))
        .when(codes.list.eval(pl.element().str.starts_with("PAYS-")).list.any())
        .then(pl.lit("europe"))
        .when(codes.list.eval(pl.element().str.starts_with("REG-")).list.any())
        .then(pl.lit("region"))
        .when(codes.list.eval(pl.element().str.starts_with("DEP-")).list.any())
        .then(pl.lit("departement"))
        .when(codes.list.eval(pl.element().str.starts_with("EPCI-")).list.any())
        .then(pl.lit("epci"))
        .when(codes.list.eval(pl.element().str.starts_with("COM-")).list.any())
        .then(pl.lit("commune"))
    )
    return pl.coalesce(stated, declared, from_codes).alias("echelle")


# -- catalogue ------------------------------------------------------------------------

# Per aid, the first value by precedence of these; the union of the lists.
_FIRST = (
    "date_ouverture",
    "date_cloture",
    "date_mise_a_jour",
    "montant_max",
    "taux_max",
    "plafond_depense",
    "montants_conditionnels",
    "recurrence",
    "echelle",
    "date_collecte",
)
_UNION = ("types_aides", "cibles", "thematiques")
# The eligibility read from the conditions: the representative's first, like the texts.
_ELIGIBILITY_FIRST = tuple(f.name for f in published_fields() if f.name in ELIGIBILITY_FIELDS and not f.multi_valued)
_ELIGIBILITY_UNION = tuple(f.name for f in published_fields() if f.name in ELIGIBILITY_FIELDS and f.multi_valued)


def _first_and_union() -> tuple[tuple[str, ...], tuple[str, ...]]:
    carried = carried_fields()
    return (
        (*(f.name for f in carried if not f.multi_valued), *_FIRST, *_ELIGIBILITY_FIRST),
        (*(f.name for f in carried if f.multi_valued), *_UNION, *_ELIGIBILITY_UNION),
    )


def _aggregate(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per aid: the representative's values first, then the other sources' by precedence."""
    first, union = _first_and_union()
    ordered = frame.sort(["aid_id", "representant", "precedence", "record_key"], descending=[False, True, True, False])
    return ordered.group_by("aid_id", maintain_order=True).agg(
        *[pl.col(c).drop_nulls().first().alias(c) for c in first],
        *[
            pl.col(c).list.explode(keep_nulls=False, empty_as_null=False).drop_nulls().unique().sort().alias(c)
            for c in union
        ],
        pl.col("porteurs").filter(pl.col("representant")).first().alias("porteurs"),
        pl.col("financeurs").filter(pl.col("representant")).first().alias("financeurs"),
        pl.col("acteurs").filter(pl.col("representant")).first().alias("acteurs"),
        pl.col("editeur").first().alias("editeur"),
        pl.col("niveau_source").first().alias("niveau_source"),
        pl.col("source").unique(maintain_order=True).alias("sources"),
        pl.col("eligibilite_geographique").first(),
        pl.col("eligibilite_geographique_exclusions").first(),
        pl.col("geo_statut").first(),
        pl.col("geo_deduite").first(),
        pl.col("date_ouverture").drop_nulls().unique().alias("_ouvertures"),
        pl.col("date_cloture").drop_nulls().unique().alias("_clotures"),
        pl.col("eligibilite_texte_absent").all(),
        (pl.col("action") == "retrait").any().alias("retiree"),
        # withdrawn when every source that lists it says its aids are withdrawn
        pl.col("motif_retrait").is_not_null().all().alias("retiree_source"),
        pl.col("motif_retrait").drop_nulls().first().alias("motif_retrait"),
    )


def _conflict(dates: str) -> pl.Expr:
    """Two sources of one aid give dates that differ by a day/month swap."""
    first, last = pl.col(dates).list.first(), pl.col(dates).list.last()
    return (pl.col(dates).list.len() == 2) & swapped_day_month(first, last)


def _publishable(frame: pl.DataFrame, today: date) -> pl.DataFrame:
    reasons = pl.concat_list(
        pl.when(pl.col("geo_statut") != "resolved").then(pl.lit("géographie non résolue")),
        pl.when(pl.col("cibles").list.len() == 0).then(pl.lit("bénéficiaires non reconnus")),
        pl.when(pl.col("types_aides").list.len() == 0).then(pl.lit("type d'aide non indiqué ou non reconnu")),
        pl.when(pl.col("description").is_null()).then(pl.lit("description absente")),
        pl.when(pl.col("echelle").is_null()).then(pl.lit("échelle inconnue")),
        pl.when(pl.col("porteurs").list.len() == 0).then(pl.lit("porteur non indiqué par la source")),
    ).list.drop_nulls()
    flags = pl.concat_list(
        pl.when(_conflict("_ouvertures")).then(pl.lit("dates d'ouverture contradictoires (jour et mois inversés)")),
        pl.when(_conflict("_clotures")).then(pl.lit("dates de clôture contradictoires (jour et mois inversés)")),
        pl.when(pl.col("url_source").is_null()).then(pl.lit("aucun lien")),
        pl.when(pl.col("geo_statut") == "ambiguous").then(pl.lit("géographie ambiguë")),
        pl.when(pl.col("geo_deduite").fill_null(False)).then(
            pl.lit("géographie déduite du financeur : la source n'indique pas de territoire")
        ),
        pl.when(pl.col("eligibilite_texte_absent")).then(pl.lit("éligibilité non précisée par la source")),
        pl.when(pl.col("retiree")).then(pl.lit("retirée par la collectivité : cette aide n'existe plus")),
        pl.when(pl.col("retiree_source")).then(pl.lit("retirée : ") + pl.col("motif_retrait")),
    ).list.drop_nulls()
    return frame.with_columns(
        reasons.alias("motifs_non_publiable"), pl.concat_list("signalements", flags).alias("signalements")
    ).with_columns((pl.col("motifs_non_publiable").list.len() == 0).alias("publiable"))


def _with_conditions(frame: pl.DataFrame, specs: list[SourceSpec]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stated conditions read through ``vocab/conditions.csv``: a beneficiary kind a condition
    states replaces the source's default, titles are built where the source titles its aids by
    their publisher; conditions the table does not cover are problems."""
    mapped, unmapped = map_conditions(frame)
    frame = conditional_amounts(frame)
    eligibility = eligibility_fields(mapped)
    cibles = (
        mapped.filter(pl.col("champ") == "cibles")
        .group_by("record_key")
        .agg(pl.col("valeur").unique().sort().alias("_cibles"))
    )
    titles = built_titles(frame, mapped, specs).rename({"titre": "_titre"})
    frame = (
        frame.join(cibles, on="record_key", how="left")
        .join(eligibility, on="record_key", how="left")
        .join(titles, on="record_key", how="left")
        .with_columns(
            pl.coalesce("_cibles", "cibles").alias("cibles"),
            pl.coalesce("_titre", "titre").alias("titre"),
        )
        .drop("_cibles", "_titre")
    )
    problems = unmapped.select(
        "record_key",
        "source",
        pl.lit("conditions").alias("champ"),
        "valeur",
        pl.lit("condition non reconnue par la table de correspondance (vocab/conditions.csv)").alias("probleme"),
    )
    return frame, problems


def _content_key() -> pl.Expr:
    """What a record states of its aid: two records of one source that differ here are two aids."""
    stated = [
        pl.col(name).cast(pl.Utf8)
        for name in ("titre", "description", "eligibilite", "geo_expression", "date_ouverture", "date_cloture")
    ]
    stated += [pl.col("url_source").cast(pl.Utf8)]
    stated += [
        pl.col(name).fill_null([]).list.sort().list.join("|")
        for name in ("montants", "taux", "plafonds_depense", "cibles", "types_aides", "porteurs", "conditions")
    ]
    stated += [pl.col("montants_variations").fill_null([]).list.join("|")]  # in the source's order
    stated += [
        pl.col("eligibilite_geographique").list.sort().list.join("|"),
        pl.col("eligibilite_geographique_exclusions").list.sort().list.join("|"),
    ]
    return (
        pl.concat_str([c.fill_null("") for c in stated], separator="\x1f")
        .hash(seed=0)
        .cast(pl.Utf8)
        .alias("content_key")
    )


# What the build still reads of the records once they are aggregated: ``_store`` (provenance)
# and ``unknown_organisations`` (the actors they name).
_RECORD_COLUMNS_KEPT = (
    "aid_id",
    "record_key",
    "source",
    "native_id",
    "representant",
    "titre",
    "url_source",
    "porteurs",
    "financeurs",
    "acteurs",
)


def build_catalogue(conn: duckdb.DuckDBPyConnection, specs: list[SourceSpec], today: date) -> CatalogueSummary:
    """Rebuild ``aides``, ``aides_provenance``, ``normalisation_problemes`` and ``doublons_a_revoir``."""
    frame = load_records(conn, specs)
    resolver = GeoResolver.from_warehouse(conn)
    frame, problems = normalise_fields(frame, today)
    frame, condition_problems = _with_conditions(frame, specs)
    problems.append(condition_problems)
    geo, geo_problems = resolve_geography(frame, resolver)
    geo, expression_problems = _with_exact_geography(conn, frame, geo, resolver)
    problems.extend([geo_problems, expression_problems])
    frame = frame.join(geo, on="record_key", how="left").with_columns(_echelle())

    candidates = frame.select(
        "record_key",
        "source",
        "precedence",
        "titre",
        pl.col("porteurs").fill_null([]),
        pl.when(pl.col("geo_statut") == "resolved")
        .then(
            pl.col("eligibilite_geographique").list.sort().list.join("|")
            + pl.lit("/")
            + pl.col("eligibilite_geographique_exclusions").list.sort().list.join("|")
        )
        .alias("geo_key"),
        pl.col("url_source").alias("url"),
        "date_ouverture",
        "date_cloture",
        _content_key(),
    )
    dedup = find_duplicates(candidates)
    clusters = dedup.clusters.join(
        candidates.select("record_key", "source", "titre", "url", "geo_key"), on="record_key"
    )

    conn.execute("BEGIN TRANSACTION")
    try:
        ids = assign_ids(conn, clusters)
        known = {row[0] for row in conn.execute("SELECT DISTINCT aid_id::VARCHAR FROM id_map").fetchall()}
        frame = (
            frame.join(dedup.clusters, on="record_key")
            .join(ids, on="cluster_key")
            .with_columns(
                (pl.col("record_key") == pl.col("cluster_key")).alias("representant"),
                pl.col("eligibilite").is_null().alias("eligibilite_texte_absent"),
            )
            .with_columns(
                # A record that names a catalogue id (a collectivité's correction or withdrawal)
                # belongs to that aid, whatever its title: the link is declared, not guessed.
                pl.when(pl.col("native_id").is_in(list(known)) & pl.col("action").is_in(["correction", "retrait"]))
                .then(pl.col("native_id"))
                .otherwise(pl.col("aid_id"))
                .alias("aid_id")
            )
        )
        aggregated = _aggregate(
            frame.with_columns(
                pl.col("eligibilite").fill_null(ELIGIBILITE_INCONNUE),
                pl.col("description").fill_null(pl.col("promesse")),
            )
        ).with_columns(pl.col("aid_id").alias("id"))
        # Past the aggregation, the records are only read for their provenance and the names
        # of their actors: their texts (most of the frame's memory) are let go here rather
        # than held until the end of the build, beside the aids made from them.
        frame = frame.select(_RECORD_COLUMNS_KEPT)
        aggregated = with_porteurs(aggregated, collectivity_names(conn))
        aggregated = with_acteurs(aggregated, resolver.organisations)
        aides = _publishable(
            composed_descriptions(aggregated.with_columns(signalements=pl.lit([], pl.List(pl.Utf8)))), today
        ).with_columns(
            # a withdrawn aid stays in the catalogue (history) but is never shown as open
            pl.when(pl.col("retiree") | pl.col("retiree_source"))
            .then(pl.lit("clôturée"))
            .otherwise(statut_expr(today))
            .alias("statut"),
        )
        aides = distinct_titles(aides)
        unknown = unknown_organisations(frame, resolver.organisations)
        conn.execute("DELETE FROM organisations_non_reconnues")
        conn.register("new_unknown", unknown)
        conn.execute("INSERT INTO organisations_non_reconnues BY NAME SELECT * FROM new_unknown")
        conn.unregister("new_unknown")
        _store(
            conn,
            frame,
            aides,
            pl.concat([p.select(_PROBLEM_COLUMNS) for p in problems], how="vertical_relaxed"),
            dedup.review,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    by_statut = dict(conn.execute("SELECT statut, count(*) FROM aides GROUP BY 1 ORDER BY 1").fetchall())
    return CatalogueSummary(
        records=frame.height,
        aides=aides.height,
        publiables=int(aides["publiable"].sum()),
        geo_resolues=int((aides["geo_statut"] == "resolved").sum()),
        doublons_fusionnes=frame.height - aides.height,
        a_revoir=dedup.review.height,
        problemes=scalar(conn, "SELECT count(*) FROM normalisation_problemes"),
        par_statut=by_statut,
    )


def _store(
    conn: duckdb.DuckDBPyConnection,
    records: pl.DataFrame,
    aides: pl.DataFrame,
    problems: pl.DataFrame,
    review: pl.DataFrame,
) -> None:
    columns = [row[0] for row in conn.execute("SELECT * FROM aides LIMIT 0").description]
    conn.execute("DELETE FROM aides")
    conn.register("new_aides", aides.select(columns))
    conn.execute("INSERT INTO aides BY NAME SELECT * FROM new_aides")
    conn.unregister("new_aides")
    conn.execute("DELETE FROM aides_provenance")
    conn.register(
        "new_provenance",
        records.select(
            "aid_id", "record_key", "source", "native_id", "representant", "titre", pl.col("url_source").alias("url")
        ),
    )
    conn.execute("INSERT INTO aides_provenance BY NAME SELECT * FROM new_provenance")
    conn.unregister("new_provenance")
    conn.execute("DELETE FROM normalisation_problemes")
    conn.register("new_problems", problems)
    conn.execute("INSERT INTO normalisation_problemes BY NAME SELECT * FROM new_problems")
    conn.unregister("new_problems")
    conn.execute("DELETE FROM doublons_a_revoir")
    conn.register("new_review", review)
    conn.execute(
        "INSERT INTO doublons_a_revoir BY NAME SELECT record_key_a, record_key_b, score, raison FROM new_review"
    )
    conn.unregister("new_review")
