"""Normalisation: turn what sources state (text, their own labels) into the schema's values.

Each module has one job and works on whole polars columns, never row by row:

* ``dates``: stated dates → ``pl.Date`` / UTC ``pl.Datetime`` with a French reason when they
  cannot be read, and a day/month swap detector for conflicts between sources;
* ``amounts``: stated amounts and rates → ``montant_max`` (euros) and ``taux_max`` (0–100);
* ``text``: HTML → clean text, broken URLs repaired or rejected with a reason, export truncation;
* ``vocabulary``: sources' audiences, aid types and themes → the schema's enumerations,
  through the CSV tables of ``warehouse/normalise/vocab/``; what does not map is returned, not dropped.
"""

from warehouse.normalise.amounts import amounts_max, normalise_amounts
from warehouse.normalise.dates import (
    normalise_dates,
    normalise_timestamps,
    parse_date,
    parse_timestamp,
    swapped_day_month,
)
from warehouse.normalise.text import html_to_text, repair_url, truncate_for_export
from warehouse.normalise.vocabulary import map_vocabulary

__all__ = [
    "amounts_max",
    "html_to_text",
    "map_vocabulary",
    "normalise_amounts",
    "normalise_dates",
    "normalise_timestamps",
    "parse_date",
    "parse_timestamp",
    "repair_url",
    "swapped_day_month",
    "truncate_for_export",
]
