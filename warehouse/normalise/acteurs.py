"""The actors of each aid as published: who grants, funds or instructs it, with SIREN and roles.

dispositif-aide's ``porteurs`` is a list of ``{nom, siren, roles}``. An aid's actors are those its
representative record states with their roles (a dispositif-aide file, aides-territoires'
financers and instructors, the Mission's operators), else its porteurs (role ``porteur``,
including the collectivité or publisher the catalogue names when the source does not) and its
financers (role ``financeur``). A SIREN the source states is kept; otherwise the organisations
referential gives it when the name designates one organisation without doubt.
"""

from __future__ import annotations

import polars as pl

from warehouse.normalise.organisations import RESOLVED, OrganisationIndex

_STATED = pl.List(pl.Struct({"nom": pl.Utf8, "siren": pl.Utf8, "roles": pl.List(pl.Utf8)}))
_ROWS = {"id": pl.Utf8, "position": pl.Int64, "nom": pl.Utf8, "siren": pl.Utf8, "role": pl.Utf8}


def _stated(aides: pl.DataFrame) -> pl.DataFrame:
    """(id, position, nom, siren, role) of the actors the records state, one row per role."""
    return (
        aides.select("id", pl.col("acteurs").str.json_decode(_STATED).alias("a"))
        .drop_nulls("a")
        .with_columns(pl.int_ranges(pl.col("a").list.len()).alias("position"))
        .explode("a", "position")
        .unnest("a")
        .with_columns(pl.col("roles").fill_null([]))
        .with_columns(
            pl.when(pl.col("roles").list.len() == 0).then(pl.lit([None], pl.List(pl.Utf8))).otherwise("roles")
        )
        .explode("roles")
        .select("id", pl.col("position").cast(pl.Int64), "nom", "siren", pl.col("roles").alias("role"))
    )


def _named(aides: pl.DataFrame, column: str, role: str, offset: int) -> pl.DataFrame:
    return (
        aides.select("id", pl.col(column).fill_null([]).alias("nom"))
        .with_columns(pl.int_ranges(pl.col("nom").list.len()).alias("position"))
        .explode("nom", "position")
        .drop_nulls("nom")
        .select(
            "id",
            (pl.col("position").cast(pl.Int64) + offset).alias("position"),
            "nom",
            pl.lit(None, pl.Utf8).alias("siren"),
            pl.lit(role).alias("role"),
        )
    )


def _sirens(names: list[str], index: OrganisationIndex | None) -> pl.DataFrame:
    """(nom, siren_referentiel) for the names the referential knows without doubt."""
    rows: list[tuple[str, str]] = []
    if index is not None:
        for name in names:
            answer = index.resolve(name)
            organisations = answer.organisations
            if answer.status == RESOLVED and len(organisations) == 1 and organisations[0].siren:
                rows.append((name, organisations[0].siren))
    return pl.DataFrame(rows, schema={"nom": pl.Utf8, "siren_referentiel": pl.Utf8}, orient="row")


def with_acteurs(aides: pl.DataFrame, index: OrganisationIndex | None) -> pl.DataFrame:
    """``acteurs``: the published actors of each aid as JSON text (``[{"nom", "siren", "roles"}]``).
    Needs ``id``, ``acteurs`` (stated, JSON or null), ``porteurs``, ``financeurs``."""
    stated = _stated(aides)
    without = aides.join(stated.select("id").unique(), on="id", how="anti")
    rows = pl.concat(
        [stated, _named(without, "porteurs", "porteur", 0), _named(without, "financeurs", "financeur", 10_000)],
        how="vertical_relaxed",
    ).with_columns(pl.col("nom").str.strip_chars())
    rows = rows.filter(pl.col("nom").str.len_chars() > 0)
    missing = rows.filter(pl.col("siren").is_null())["nom"].unique().sort().to_list()
    actors = (
        rows.join(_sirens(missing, index), on="nom", how="left")
        .with_columns(pl.coalesce(pl.col("siren").str.replace_all(r"\s+", ""), "siren_referentiel").alias("siren"))
        .sort("id", "position", maintain_order=True)
        .group_by("id", "nom", maintain_order=True)
        .agg(
            pl.col("position").min(),
            pl.col("siren").drop_nulls().first(),
            pl.col("role").drop_nulls().unique(maintain_order=True).alias("roles"),
        )
        .sort("id", "position")
        .select(
            "id",
            pl.struct(pl.col("nom"), pl.col("siren").replace("", None), pl.col("roles"))
            .struct.json_encode()
            .alias("acteur"),
        )
        .group_by("id", maintain_order=True)
        .agg(pl.col("acteur").str.join(", ").alias("_acteurs"))
        .with_columns((pl.lit("[") + pl.col("_acteurs") + pl.lit("]")).alias("_acteurs"))
    )
    return aides.join(actors, on="id", how="left").with_columns(pl.col("_acteurs").alias("acteurs")).drop("_acteurs")


def unknown_organisations(records: pl.DataFrame, index: OrganisationIndex | None) -> pl.DataFrame:
    """(source, nom, statut, raison, nb_aides): the names of actors the records state that the
    referential does not resolve without doubt, with the number of aids naming each.
    Needs ``source``, ``aid_id``, ``porteurs``, ``financeurs``, ``acteurs``."""
    stated = (
        records.select("source", "aid_id", pl.col("acteurs").str.json_decode(_STATED).alias("a"))
        .explode("a")
        .drop_nulls("a")
        .select("source", "aid_id", pl.col("a").struct.field("nom").alias("nom"))
    )
    named = [
        records.select("source", "aid_id", pl.col(column).fill_null([]).alias("nom")).explode("nom")
        for column in ("porteurs", "financeurs")
    ]
    names = (
        pl.concat([stated, *named], how="vertical_relaxed")
        .drop_nulls("nom")
        .with_columns(pl.col("nom").str.strip_chars())
        .filter(pl.col("nom").str.len_chars() > 0)
        .group_by("source", "nom")
        .agg(pl.col("aid_id").n_unique().cast(pl.Int32).alias("nb_aides"))
    )
    rows = []
    if index is not None:
        for name in names["nom"].unique().to_list():
            answer = index.resolve(name)
            if answer.status != RESOLVED:
                rows.append((name, answer.status, answer.reason))
    verdicts = pl.DataFrame(rows, schema={"nom": pl.Utf8, "statut": pl.Utf8, "raison": pl.Utf8}, orient="row")
    return (
        names.join(verdicts, on="nom")
        .select("source", "nom", "statut", "raison", "nb_aides")
        .sort(["source", "nb_aides", "nom"], descending=[False, True, False])
    )
