"""Statut from dates and recurrence: an expired aid is never open."""

from __future__ import annotations

from datetime import date

import polars as pl

from warehouse.normalise.statut import recurrence_expr, statut_expr

TODAY = date(2026, 11, 29)


def test_statut_follows_dates_before_recurrence():
    frame = pl.DataFrame(
        {
            "date_ouverture": [None, date(2027, 1, 1), date(2025, 1, 1), None, None, date(2026, 11, 29)],
            "date_cloture": [date(2026, 11, 28), None, date(2026, 11, 29), None, None, None],
            "recurrence": ["Ongoing", None, None, "permanente", "oneoff", "n'importe quoi"],
        }
    ).with_columns(recurrence_expr())
    statuts = frame.select(statut_expr(TODAY)).to_series().to_list()
    # closed yesterday even though "ongoing"; opens next year; closes today: still open; permanent; plain open.
    assert statuts == ["clôturée", "à venir", "ouverte", "permanente", "ouverte", "ouverte"]
    assert frame["recurrence"].to_list() == ["permanente", None, None, "permanente", "ponctuelle", None]
