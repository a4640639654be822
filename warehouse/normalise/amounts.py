"""Stated amounts and rates → ``montant_max`` (euros) and ``taux_max`` (0–100), with reasons.

Why: adapters keep amounts as the sentences sources write (``"jusqu'à 8 500 €"``,
``"21 667,00 €"``, ``"de 20 à 40 %"``, ``"De 50 000 € à 5 M€"``, ``"Min. 3.000 €"``),
in two list columns (``montants``, ``taux``) whose contents overlap: a "montant" often
states a rate too (``"Jusqu'à 80% du coût de l'étude, dans un maximum de 30 000 €"``).
So the values of all the given list columns are joined into one text per row and read
with polars string expressions (``str.extract_all``, ``list.eval`` to parse), once per
distinct text, then joined back to the rows.

Decisions (documented in the report and the tests):

* ``montant_max`` is the largest euro amount stated, after removing what is not a
  ceiling of the aid: minima (``minimum``, ``min.``, ``au moins``, ``à partir de``,
  ``dès``, ``plancher``), the beneficiary's remaining cost (``reste à charge``,
  ``… € HT après subvention``), income thresholds (``revenu``, ``ressources``, ``RFR``,
  ``quotient``), and amounts per period or per unit (``€/an``, ``par mois``, ``€/m²``, ``par kWc``…: a rate, not a total; they
  are listed in ``montant_probleme``). Zero is no amount (publicodes' "sinon 0 €").
  Numbers take spaces (also non-breaking and narrow non-breaking) or dots as thousands
  separators and a decimal comma; ``k€``, ``M€``, ``Md€``, ``millions d'euros`` scale.
* ``taux_max`` is the largest percentage stated, both bounds of ranges included
  (``de 20 à 40 %``); loan interest rates (``3,3 % TEG``) are not aid rates and are
  skipped; a percentage above 100 is rejected and listed in ``montant_probleme``.
* A row without any usable value gets nulls, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

SEPARATOR = " ¦ "  # joins a row's stated values; no pattern below crosses it

_NUM = r"\b(?:\d{1,3}(?:[ .]\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?)"
_SCALE = r"(?:(?:k|md|mds|milliards?|m|millions?)\s*(?:d'\s*)?)"
_EURO = r"(?:€|euros?\b|eur\b)"
_AMOUNT = _NUM + r"\s*" + _SCALE + r"?" + _EURO
_TAX = r"(?:\s*(?:ht|ttc|net))?"
_PERCENT = r"(?:\s*%|\s*pour\s*cents?\b|\s*pourcents?\b)"
_RATE = r"\b\d+(?:[.,]\d+)?" + _PERCENT

# Per period or per unit: "10000 €/an", "500 € par mois", "30 €/m²", "0,5 € par kWc".
_PER_UNIT = (
    _AMOUNT + _TAX + r"\s*(?:/|par\b|chaque\b)\s*(?:m²|m³|(?:an|année|annee|mois|semaine|jour|heure|h|"
    r"m2|m3|ml|m|km|ha|hectares?|kwc|kw|kwh|mwh|tonnes?|t|litres?|l|mètres?|metres?|"
    r"tep|teq\s*co2|tco2|trajet|passager)\b)(?:\s*(?:ht|ttc)\b)?|" + _AMOUNT + _TAX + r"\s*(?:annuels?|mensuels?)\b"
)
_NOT_CEILING = (
    # minima: "montant minimum : 1000 €", "Min. 3.000 €", "au moins 500 €", "5 000 € minimum"
    r"(?:\bminimum|\bmin\.|\bmin\b|\bau moins|\bà partir de|\ba partir de|\bdès|\bplancher)"
    r"\s*:?\s*(?:de\s+|d'\s*)?"
    + _AMOUNT
    + "|"
    + _AMOUNT
    + _TAX
    + r"\s*(?:minimum|min\b|min\.)"
    # what is left to pay ("13 000 € HT après subvention de 50%"), and income thresholds
    + r"|(?:reste|restant)s? à charge[^€¦]{0,40}?"
    + _AMOUNT
    + r"|"
    + _AMOUNT
    + _TAX
    + r"\s*(?:après|apres)\s+(?:subvention|aide|prise en charge|financement)"
    + r"|(?:\brevenus?\b|\bressources\b|\brfr\b|\bquotient\b)[^€¦]{0,60}?"
    + _AMOUNT
)
_LOAN_RATE = (
    r"(?:\btaux d'intérêts?|\btaux d'interets?|\bteg\b|\btaeg\b)\s*(?:de\s+|:\s*)?"
    + _RATE
    + "|"
    + _RATE
    + r"\s*(?:teg|taeg|tag|d'intérêts?|d'interets?)\b"
)
_RATE_RANGE = r"\b(?:de|entre)\s+(\d+(?:[.,]\d+)?)\s*%?\s*(?:à|a|et|-|–)\s*\d+(?:[.,]\d+)?" + _PERCENT
_I = "(?i)"  # every pattern is case-insensitive: "M€", "HT", "Min.", "TEG"
_SCALES = {
    "k": 1e3,
    "m": 1e6,
    "million": 1e6,
    "millions": 1e6,
    "md": 1e9,
    "mds": 1e9,
    "milliard": 1e9,
    "milliards": 1e9,
}


def _joined(columns: Sequence[str]) -> pl.Expr:
    """All the row's stated values in one string, with plain spaces and apostrophes."""
    lists = [pl.col(name).cast(pl.List(pl.String)).fill_null(pl.lit([], dtype=pl.List(pl.String))) for name in columns]
    combined = pl.concat_list(lists) if len(lists) > 1 else lists[0]
    return (
        # a stated "¦" must not pass for the separator
        combined.list.eval(pl.element().fill_null("").str.replace_all("¦", "|", literal=True))
        .list.join(SEPARATOR)
        .str.replace_all(r"[\u00a0\u202f\u2007\u2009\t\r\n]", " ")
        .str.replace_all(r"[’`´]", "'")
    )


def _number(text: pl.Expr) -> pl.Expr:
    """A number as written ("21 667,00", "2.200.000", "1.5", "3,3") → Float64."""
    digits = text.str.replace_all(" ", "")
    thousands_dots = digits.str.contains(r"^\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
    digits = pl.when(thousands_dots).then(digits.str.replace_all(r"\.", "")).otherwise(digits)
    return digits.str.replace(",", ".").cast(pl.Float64, strict=False)


def _amount_value(match: pl.Expr) -> pl.Expr:
    """One matched amount ("8 500 €", "5 m€", "2 millions d'euros") → euros."""
    number = _number(match.str.extract("(" + _NUM + ")", 1))
    scale = match.str.extract(r"(?i)\d\s*(k|md|mds|milliards?|m|millions?)\s*(?:d'\s*)?(?:€|eur)", 1)
    scale = scale.str.to_lowercase()
    factor = scale.replace_strict(_SCALES, default=1.0, return_dtype=pl.Float64).fill_null(1.0)
    return number * factor


def _rate_value(match: pl.Expr) -> pl.Expr:
    return _number(match.str.extract(r"(\d+(?:[.,]\d+)?)", 1))


def _from_texts(texts: pl.Series) -> pl.DataFrame:
    """``texts`` (one joined string per row) → texte, montant_max, taux_max, montant_probleme.

    Each step is a polars expression over the column of distinct texts, materialised
    before the next one uses it.
    """
    table = pl.DataFrame({"texte": texts}).unique()
    text = pl.col("texte")
    table = table.with_columns(
        text.str.extract_all(_I + _PER_UNIT).alias("_per_unit"),
        text.str.replace_all(_I + _PER_UNIT, " ")
        .str.replace_all(_I + _NOT_CEILING, " ")
        .str.replace_all(_I + _LOAN_RATE, " ")
        .alias("_kept"),
    )
    kept = pl.col("_kept")
    table = table.with_columns(
        kept.str.extract_all(_I + _AMOUNT).list.eval(_amount_value(pl.element())).alias("_amounts"),
        pl.concat_list(
            kept.str.extract_all(_I + _RATE),
            kept.str.extract_all(_I + _RATE_RANGE).list.eval(pl.element().str.extract(_I + _RATE_RANGE, 1) + " %"),
        ).alias("_rate_texts"),
    ).with_columns(pl.col("_rate_texts").list.eval(_rate_value(pl.element())).alias("_rates"))
    positive = pl.element().is_finite() & (pl.element() > 0)
    too_high = pl.col("_rate_texts").list.eval(
        pl.format("taux supérieur à 100 % ignoré : {}", pl.element().str.strip_chars()).filter(
            _rate_value(pl.element()) > 100
        )
    )
    per_unit = pl.col("_per_unit").list.eval(
        pl.format("montant par période ou par unité ignoré : {}", pl.element().str.strip_chars())
    )
    table = table.with_columns(
        pl.col("_amounts").list.eval(pl.element().filter(positive)).list.max().alias("montant_max"),
        pl.col("_rates")
        .list.eval(pl.element().filter(pl.element().is_finite() & (pl.element() <= 100)))
        .list.max()
        .alias("taux_max"),
        pl.concat_list(per_unit, too_high).list.unique(maintain_order=True).alias("_reasons"),
    )
    return table.select(
        "texte",
        "montant_max",
        "taux_max",
        pl.when(pl.col("_reasons").list.len() > 0).then(pl.col("_reasons").list.join(" ; ")).alias("montant_probleme"),
    )


OUTPUT_COLUMNS = ("montant_max", "taux_max", "montant_probleme")


def amounts_max(frame: pl.DataFrame, columns: Sequence[str] = ("montants", "taux")) -> pl.DataFrame:
    """``montant_max``, ``taux_max`` (Float64) and ``montant_probleme`` (French, or null), row
    for row of ``frame``, from the values of all the given list columns together (those of
    ``columns`` that ``frame`` has)."""
    present = [name for name in columns if name in frame.columns]
    if not present:
        raise ValueError(f"aucune des colonnes {list(columns)} n'est dans la table")
    texts = frame.select(_joined(present).alias("texte")).get_column("texte")
    table = _from_texts(texts)
    result = texts.to_frame().join(table, on="texte", how="left", nulls_equal=True, maintain_order="left")
    return result.select(OUTPUT_COLUMNS)


def normalise_amounts(frame: pl.DataFrame, columns: Sequence[str] = ("montants", "taux")) -> pl.DataFrame:
    """``frame`` with ``montant_max``, ``taux_max`` and ``montant_probleme`` added (see amounts_max)."""
    return frame.with_columns(amounts_max(frame, columns).get_columns())
