"""Dates and timestamps as sources write them → ``pl.Date`` / UTC ``pl.Datetime``, with a reason.

Why: adapters keep dates as the text each source publishes (``sources/record.py``), and
real feeds write them in many ways: ``31/12/2025``, ``2024-01-15``,
``2024-03-01T00:00:00+01:00``, Paris midnight shifted to UTC (``2023-06-01T22:00:00.000Z``
is 2 June), spaces inside the time (``2022-07-28T11: 40: 47+02: 00``), French words
(``1er mars 2024``), RSS ``pubDate`` (``Mon, 13 Jan 25 10:12:44 +0100``), compact
``20230112``. Parsing is a chain of polars expressions run once over the distinct values
of a column (dates repeat a lot) and joined back; ``parse_date`` / ``parse_timestamp`` wrap
it as expressions through ``map_batches``, which hands over the whole column, never a row.

Rules, decided once:

* a date with a UTC designator (``Z``, ``UTC``, ``GMT``, or a zero offset ``+00:00``)
  stands for a Paris local date: the instant is converted to Europe/Paris and its date
  kept (``2023-12-31T23:00:00Z`` is 1 January 2024);
* a date with any other offset, or none, is the local date as written;
* ``parse_timestamp`` keeps the instant, in UTC: an offset is applied, a date or time
  without zone is read as Europe/Paris local time (ambiguous autumn hours take the
  earlier instant; a spring-forward wall time that does not exist keeps the winter offset);
* years outside 1900–2100 (``9999-12-31`` placeholders) are "date impossible";
* an empty value is null without a reason; anything else that fails says why, in French.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from sources.folding import fold_expr

PARIS = "Europe/Paris"
MIN_YEAR, MAX_YEAR = 1900, 2100
_EXCERPT = 100  # characters of the stated value quoted in a reason

_MONTHS = {
    # French, accents already removed by _fold; abbreviations with or without a dot
    "janvier": 1,
    "janv": 1,
    "fevrier": 2,
    "fevr": 2,
    "fev": 2,
    "mars": 3,
    "avril": 4,
    "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "juil": 7,
    "aout": 8,
    "septembre": 9,
    "sept": 9,
    "octobre": 10,
    "oct": 10,
    "novembre": 11,
    "nov": 11,
    "decembre": 12,
    "dec": 12,
    # English, for RSS pubDate (RFC 822)
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
}
_FR_MONTH = (
    r"janvier|janv|fevrier|fevr|fev|mars|avril|avr|mai|juin|juillet|juil|aout|"
    r"septembre|sept|octobre|oct|novembre|nov|decembre|dec"
)
_TZ = r"(?P<tz>z|utc|gmt|ut|[+-]\d{2}(?::?\d{2})?)"

# Each pattern runs on the folded text (lower case, no accents, single spaces, no spaces
# around ':' in times). Named groups: y m d (or mon), H M S F (optional), tz (optional).
_PATTERNS: tuple[str, ...] = (
    # ISO 8601: 2024-01-15, 2024-01-15T10:00, 2023-06-01T22:00:00.000Z, 2024-03-01 00:00:00+01:00
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[t ](?P<H>\d{1,2}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:[.,](?P<F>\d{1,9}))?)?)?"
    r" ?" + _TZ + r"?$",
    # ISO basic: 20230112
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$",
    # French numeric: 31/12/2025, 1/3/2024, 31-12-2025, 31.12.2025, optionally "à 14h30"
    r"^(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"
    r"(?: (?:a )?(?P<H>\d{1,2})[:h](?P<M>\d{2})(?::(?P<S>\d{2}))?)?$",
    # French words: 31 décembre 2025, 1er mars 2024, lundi 3 mars 2025, 3 janv. 2025
    r"^(?:(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche),? )?"
    r"(?P<d>\d{1,2})(?:er|e)? (?P<mon>" + _FR_MONTH + r")\.? (?P<y>\d{4})$",
    # RFC 822 (RSS pubDate): Mon, 13 Jan 25 10:12:44 +0100 / Tue, 04 Feb 2025 09:00:00 GMT
    r"^(?:[a-z]{3},? )?(?P<d>\d{1,2}) (?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? "
    r"(?P<y>\d{2}|\d{4})(?: (?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)? ?" + _TZ + r"?$",
)
_FIELDS = ("y", "m", "d", "mon", "H", "M", "S", "F", "tz")


def _fold(stated: pl.Expr) -> pl.Expr:
    """The project's fold (``sources.folding``, punctuation kept), then no space around a time's ':'.

    The last steps repair real feeds: ``2022-07-28T11: 40: 47+02: 00`` (Ministère de la
    Culture), ``2023-08-04T02: 30: 18.000Z`` (Département de la Manche).
    """
    return (
        fold_expr(stated, keep_punctuation=True)
        .str.replace_all(r"(\d) ?: ?(\d)", "${1}:${2}")
        .str.replace_all(r"(\d) ?: ?(\d)", "${1}:${2}")  # overlapping pairs: 11: 40: 47
        .str.replace_all(r"(\d) t (\d)", "${1}t${2}")
    )


def _first_match(name: str) -> pl.Expr:
    """Group ``name`` of the first pattern that matched (columns ``_g{i}`` / ``_hit{i}``)."""
    chain: Any = None  # pl.when(…).then(…), then .when(…).then(…) for each further pattern
    for index, pattern in enumerate(_PATTERNS):
        if f"?P<{name}>" not in pattern:
            continue
        value = pl.col(f"_g{index}").struct.field(name)
        hit = pl.col(f"_hit{index}")
        chain = pl.when(hit).then(value) if chain is None else chain.when(hit).then(value)
    return (chain if chain is not None else pl.lit(None, dtype=pl.String)).alias(name)


def _parse_distinct(values: pl.Series) -> pl.DataFrame:
    """Parse each distinct stated value once: stated, date, instant, probleme.

    Each step is a polars expression over the whole column of distinct values,
    materialised before the next one (a column repeats few dates: parsing the distinct
    values and joining back is much cheaper than parsing every row).
    """
    table = pl.DataFrame({"stated": values.cast(pl.String, strict=False)}).unique()
    table = table.with_columns(pl.col("stated").str.strip_chars().alias("_s")).with_columns(
        pl.when(pl.col("_s").str.len_chars() > 0).then(pl.col("_s")).alias("_s")
    )
    table = table.with_columns(_fold(pl.col("_s")).alias("_f"))
    table = table.with_columns(
        pl.col("_f").str.extract_groups(pattern).alias(f"_g{index}") for index, pattern in enumerate(_PATTERNS)
    )
    # A pattern matched when its day group is set (every pattern has one).
    table = table.with_columns(
        pl.col(f"_g{index}").struct.field("d").is_not_null().alias(f"_hit{index}") for index in range(len(_PATTERNS))
    )
    table = table.with_columns(_first_match(name) for name in _FIELDS).with_columns(
        pl.any_horizontal(f"_hit{index}" for index in range(len(_PATTERNS))).alias("_matched")
    )
    number = {name: pl.col(name).cast(pl.Int64, strict=False) for name in ("y", "m", "d", "H", "M", "S")}
    two_digits = pl.col("y").str.len_chars() == 2  # RFC 822 years: "25" is 2025, "99" is 1999
    tz = pl.col("tz")
    table = table.with_columns(
        pl.when(two_digits & (number["y"] < 70))
        .then(number["y"] + 2000)
        .when(two_digits)
        .then(number["y"] + 1900)
        .otherwise(number["y"])
        .alias("_year"),
        pl.coalesce(number["m"], pl.col("mon").replace_strict(_MONTHS, default=None, return_dtype=pl.Int64)).alias(
            "_month"
        ),
        number["d"].alias("_day"),
        number["H"].fill_null(0).alias("_hour"),
        number["M"].fill_null(0).alias("_minute"),
        number["S"].fill_null(0).alias("_second"),
        # fraction of a second in microseconds: ".5" → 500000, ".599" → 599000
        pl.col("F").str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False).fill_null(0).alias("_micro"),
        pl.when(tz.str.starts_with("-")).then(-1).otherwise(1).alias("_sign"),
        tz.str.extract(r"^[+-](\d{2})").cast(pl.Int64, strict=False).alias("_off_h"),
        tz.str.extract(r"^[+-]\d{2}:?(\d{2})$").cast(pl.Int64, strict=False).fill_null(0).alias("_off_m"),
    )
    has_offset = pl.col("_off_h").is_not_null()
    table = table.with_columns(
        (tz.is_in(["z", "utc", "gmt", "ut"]) | (has_offset & (pl.col("_off_h") == 0) & (pl.col("_off_m") == 0)))
        .fill_null(False)
        .alias("_utc"),
        has_offset.alias("_has_offset"),
        (pl.col("_off_h").is_null() | ((pl.col("_off_h") <= 14) & (pl.col("_off_m") <= 59))).alias("_off_ok"),
        (pl.col("_sign") * (pl.col("_off_h") * 60 + pl.col("_off_m"))).alias("_off_minutes"),
    )
    wall_text = pl.format(
        "{}-{}-{}T{}:{}:{}",
        *(
            pl.col(name).cast(pl.String).str.zfill(width)
            for name, width in (("_year", 4), ("_month", 2), ("_day", 2), ("_hour", 2), ("_minute", 2), ("_second", 2))
        ),
    )
    wall = wall_text.str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", strict=False) + pl.duration(
        microseconds=pl.col("_micro")
    )
    table = table.with_columns(
        pl.when(pl.col("_matched") & pl.col("_year").is_between(MIN_YEAR, MAX_YEAR) & pl.col("_off_ok"))
        .then(wall)
        .alias("_wall")
    )
    wall = pl.col("_wall")
    # A wall time skipped by the spring change (02:30 on the last Sunday of March) is read
    # with the winter offset, as clocks that were not yet changed would show it.
    paris_local = pl.coalesce(
        wall.dt.replace_time_zone(PARIS, ambiguous="earliest", non_existent="null"),
        (wall + pl.duration(hours=1)).dt.replace_time_zone(PARIS, ambiguous="earliest", non_existent="null"),
    ).dt.convert_time_zone("UTC")
    from_utc = wall.dt.replace_time_zone("UTC")
    table = table.with_columns(
        pl.when(pl.col("_utc"))
        .then(from_utc.dt.convert_time_zone(PARIS).dt.date())
        .otherwise(wall.dt.date())
        .alias("date"),
        pl.when(pl.col("_utc"))
        .then(from_utc)
        .when(pl.col("_has_offset"))
        .then((wall - pl.duration(minutes=pl.col("_off_minutes"))).dt.replace_time_zone("UTC"))
        .otherwise(paris_local)
        .alias("instant"),
    )
    excerpt = pl.col("_s").str.slice(0, _EXCERPT)
    return table.select(
        "stated",
        "date",
        "instant",
        pl.when(pl.col("_s").is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(~pl.col("_matched"))
        .then(pl.format("date illisible : {}", excerpt))
        .when(pl.col("date").is_null())
        .then(pl.format("date impossible : {}", excerpt))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("probleme_date"),
        pl.when(pl.col("_s").is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(~pl.col("_matched"))
        .then(pl.format("date illisible : {}", excerpt))
        .when(pl.col("instant").is_null())
        .then(pl.format("date impossible : {}", excerpt))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("probleme_instant"),
    )


def _parse(values: pl.Series) -> pl.DataFrame:
    """The parse of every value of ``values``, row for row."""
    stated = values.cast(pl.String, strict=False).rename("stated")
    table = _parse_distinct(stated)
    return stated.to_frame().join(table, on="stated", how="left", nulls_equal=True, maintain_order="left")


def _column_expr(column: str | pl.Expr, output: str, dtype: pl.DataType) -> pl.Expr:
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.map_batches(lambda values: _parse(values).get_column(output), return_dtype=dtype, is_elementwise=True)


def _named(value: pl.Expr, issue: pl.Expr, column: str | pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Name the pair after the column (``col``, ``col_probleme``) when it is given by name."""
    if isinstance(column, str):
        return value.alias(column), issue.alias(f"{column}_probleme")
    return value, issue


def parse_date(column: str | pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``(date, probleme)``: the stated date as ``pl.Date`` and a French reason, or null.

    UTC instants become the Paris date; other offsets keep the date as written.
    """
    return _named(_column_expr(column, "date", pl.Date()), _column_expr(column, "probleme_date", pl.String()), column)


def parse_timestamp(column: str | pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``(instant, probleme)``: the stated instant as ``pl.Datetime("us", "UTC")``.

    A zone-less value (date only, French date, time without offset) is Paris local time.
    """
    return _named(
        _column_expr(column, "instant", pl.Datetime("us", "UTC")),
        _column_expr(column, "probleme_instant", pl.String()),
        column,
    )


def normalise_dates(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """Replace each text column by its ``pl.Date`` and add ``<col>_probleme`` next to it."""
    for name in columns:
        parsed = _parse(frame.get_column(name))
        frame = frame.with_columns(
            parsed.get_column("date").alias(name), parsed.get_column("probleme_date").alias(f"{name}_probleme")
        )
    return frame


def normalise_timestamps(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """Replace each text column by its UTC ``pl.Datetime`` and add ``<col>_probleme``."""
    for name in columns:
        parsed = _parse(frame.get_column(name))
        frame = frame.with_columns(
            parsed.get_column("instant").alias(name), parsed.get_column("probleme_instant").alias(f"{name}_probleme")
        )
    return frame


def swapped_day_month(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """True when two dates differ but are equal once day and month are exchanged.

    ``2023-06-02`` vs ``2023-02-06``: one of the two sources read DD/MM as MM/DD. False
    (never null) when either date is missing, so it can flag conflicts directly.
    """
    return (
        (a != b) & (a.dt.year() == b.dt.year()) & (a.dt.month() == b.dt.day()) & (a.dt.day() == b.dt.month())
    ).fill_null(False)
