"""Porteurs: who grants an aid, never the web site that lists or models it.

A collectivité's own feed grants its aids: when a record names no porteur, its source's
publisher does (« Département de la Gironde »). An aggregator or a simulator (a source
declared ``level = "multi"``: aides-territoires, aides-velo, Mes Aides Réno…) grants
nothing: a local aid it lists without naming its porteur is the collectivité of the
aid's territory, at the aid's level, named from the COG (« Département de la
Charente-Maritime », « Angers Loire Métropole »); when no single collectivité can be read
from the territory, the aid has no porteur and is not published (a reason says so).
"""

from __future__ import annotations

import duckdb
import polars as pl

from warehouse.db import query_frame

# The COG's typeLiaison (TNCC): how a name is linked to what precedes it.
_LIAISON = {0: "de ", 1: "d'", 2: "du ", 3: "de la ", 4: "des ", 5: "de l'", 6: "des ", 7: "de las ", 8: "de los "}
_PREFIX_OF_ECHELLE = {"commune": "COM-", "epci": "EPCI-", "departement": "DEP-", "region": "REG-"}
MULTI = "multi"


def _linked(nom: pl.Expr, liaison: pl.Expr) -> pl.Expr:
    """« de la Charente-Maritime », « du Doubs », « de l'Essonne » (« de » when the COG says nothing)."""
    return liaison.replace_strict(_LIAISON, default="de ", return_dtype=pl.Utf8) + nom


def collectivity_names(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(code, nom_collectivite) for every commune, EPCI, département and région of the referential."""
    frame = query_frame(
        conn,
        """
        SELECT 'DEP-' || code AS code, nom, type_liaison, 'departement' AS niveau FROM ref_departements
        UNION ALL SELECT 'REG-' || code, nom, type_liaison, 'region' FROM ref_regions
        UNION ALL SELECT 'EPCI-' || siren, nom, NULL, 'epci' FROM ref_epci
        UNION ALL SELECT 'COM-' || code, nom, NULL, 'commune' FROM ref_communes
        """,
    )
    liaison = pl.col("type_liaison").cast(pl.Int64)
    name = (
        pl.when(pl.col("niveau") == "departement")
        .then(pl.lit("Département ") + _linked(pl.col("nom"), liaison))
        .when(pl.col("niveau") == "region")
        .then(pl.lit("Région ") + pl.col("nom"))
        .otherwise(pl.col("nom"))
    )
    return frame.select("code", name.alias("nom_collectivite"))


def with_porteurs(aides: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """``porteurs`` as stated, else the collectivité of the territory for an aggregator's local
    aid, else the publisher of a collectivité's own source; an aggregator's aid with none of
    these keeps an empty list. Needs ``porteurs``, ``editeur``, ``niveau_source``, ``echelle``,
    ``eligibilite_geographique``."""
    prefix = pl.col("echelle").replace_strict(_PREFIX_OF_ECHELLE, default=None, return_dtype=pl.Utf8)
    territory = (
        aides.select(
            "id",
            pl.col("eligibilite_geographique").alias("codes"),
            prefix.alias("prefix"),
        )
        .explode("codes")
        .filter(pl.col("prefix").is_not_null() & pl.col("codes").str.starts_with(pl.col("prefix")))
        .group_by("id")
        .agg(pl.col("codes").unique())
        .filter(pl.col("codes").list.len() == 1)
        .select("id", pl.col("codes").list.first().alias("code"))
        .join(names, on="code")
        .select("id", "nom_collectivite")
    )
    stated = pl.col("porteurs").fill_null([]).list.len() > 0
    return (
        aides.join(territory, on="id", how="left")
        .with_columns(
            pl.when(stated)
            .then(pl.col("porteurs"))
            .when(pl.col("niveau_source") == MULTI)
            .then(
                pl.when(pl.col("nom_collectivite").is_not_null())
                .then(pl.concat_list(pl.col("nom_collectivite")))
                .otherwise(pl.lit([], dtype=pl.List(pl.Utf8)))
            )
            .otherwise(pl.concat_list(pl.col("editeur")))
            .alias("porteurs")
        )
        .drop("nom_collectivite")
    )
