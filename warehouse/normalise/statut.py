"""The statut of an aid (ouverte, à venir, clôturée, permanente) and its recurrence.

An aid whose closing date has passed is ``clôturée`` whatever else a source says:
it stays in the catalogue (consumers need history) but never appears as open.
"""

from __future__ import annotations

from datetime import date

import polars as pl

# Recurrence as sources state it → the schema's vocabulary.
RECURRENCES = {
    "ponctuelle": "ponctuelle",
    "oneoff": "ponctuelle",
    "one-off": "ponctuelle",
    "ponctuel": "ponctuelle",
    "récurrente": "récurrente",
    "recurrente": "récurrente",
    "recurring": "récurrente",
    "annuelle": "récurrente",
    "permanente": "permanente",
    "ongoing": "permanente",
    "permanent": "permanente",
    "continue": "permanente",
}


def recurrence_expr(column: str = "recurrence") -> pl.Expr:
    """The schema's recurrence, or null when the source's wording is unknown."""
    return pl.col(column).str.strip_chars().str.to_lowercase().replace_strict(RECURRENCES, default=None)


def statut_expr(
    today: date, ouverture: str = "date_ouverture", cloture: str = "date_cloture", recurrence: str = "recurrence"
) -> pl.Expr:
    """clôturée if the closing date has passed, à venir if the opening date is ahead,
    permanente if the source says so, ouverte otherwise."""
    return (
        pl.when(pl.col(cloture).is_not_null() & (pl.col(cloture) < pl.lit(today)))
        .then(pl.lit("clôturée"))
        .when(pl.col(ouverture).is_not_null() & (pl.col(ouverture) > pl.lit(today)))
        .then(pl.lit("à venir"))
        .when(pl.col(recurrence) == "permanente")
        .then(pl.lit("permanente"))
        .otherwise(pl.lit("ouverte"))
    )
