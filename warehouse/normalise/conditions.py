"""A source's eligibility conditions → eligibility values, and the titles built from them.

Publicodes models state each aid's conditions (``vélo . électrique``, ``demandeur . âge .
de 18 à 25 ans``, ``revenu fiscal de référence par part <= 15400 €/an``) but title every
aid by its publisher ("Ville de Caen"), so that three different Caen aids read alike. The
table ``vocab/conditions.csv`` (data, not code) says what each condition means: a value
of an eligibility field (what is funded, its state, age range, situation, beneficiary
kind, income ceiling, price range) and the phrase it contributes to a title.

A source that titles its aids by their publisher declares a title template in its entry
(``[source.config.titre]``: ``modele`` with ``{objet}``, ``{etat}``, ``{public}``,
``{porteur}``, and ``objet_par_defaut``); its records whose title is a publisher's name
get a title built from their conditions, e.g. « Aide à l'achat d'un vélo d'occasion pour
les 18-25 ans — Ville de Caen ». Titles are deterministic; two aids that would share a
title within one territory are told apart by the amount they state, then by the order of
their ids. Conditions no row covers are listed per source, never dropped.
"""

from __future__ import annotations

import re
from functools import cache

import polars as pl

from schemas import published_fields
from sources.adapters.publicodes import ALTERNATIVE, EXCLUSION
from sources.base import SourceSpec
from sources.record import ELIGIBILITY_FIELDS
from warehouse.normalise.vocabulary import VOCAB_DIR

MAPPED_FIELDS: tuple[str, ...] = (*ELIGIBILITY_FIELDS, "cibles", "aucun")
"""What a row of the table may fill: a published eligibility field, the aid's ``cibles``, or
nothing (``aucun``: a known condition that says nothing publishable)."""
_LOWEST = ("age_max", "plafond_rfr_par_part", "depense_max", "effectif_max")  # the tightest bound wins
_HIGHEST = ("age_min", "depense_min", "effectif_min")
# Conditions as adapters prefix them (sources/adapters/publicodes.py).
VARIANT = "montant si : "  # a condition an amount of the aid depends on (``montants_variations``)
_MODES = ((ALTERNATIVE, "alternative"), (EXCLUSION, "exclusion"), (VARIANT, "variante"))
# What kind of thing a condition says, to tell a list of options from unrelated alternatives.
_KIND = {
    "etat_materiel": "objets_finances",
    "cibles": "situations",
    "age_max": "age_min",
    "effectif_max": "effectif_min",
}
_GROUP = re.compile(r"\{(\d+)\}")
_PUBLIC = ("age_min", "age_max", "situations", "cibles")
_FUNDED = ("objets_finances", "etat_materiel")


@cache
def condition_table() -> tuple[tuple[str, re.Pattern[str], str, str, str], ...]:
    """The rows of ``vocab/conditions.csv``: (source, motif, champ, valeur, phrase), checked.

    A row naming an unknown field, a motif that does not compile or, for a field with a
    vocabulary, a value outside it (not counting ``{n}`` substitutions) is an error naming
    the file and line.
    """
    path = VOCAB_DIR / "conditions.csv"
    table = pl.read_csv(path, comment_prefix="#", infer_schema=False).fill_null("")
    fields = {f.name: f for f in published_fields()}
    rows = []
    for line, (source, motif, champ, valeur, phrase) in enumerate(table.iter_rows(), start=2):
        where = f"{path.name}, ligne {line}"
        if champ not in MAPPED_FIELDS:
            raise ValueError(f"{where} : champ {champ!r} inconnu ({', '.join(MAPPED_FIELDS)})")
        allowed = fields[champ].values if champ in fields else None
        if allowed is not None and not _GROUP.search(valeur) and valeur not in allowed:
            raise ValueError(f"{where} : valeur {valeur!r} hors du vocabulaire de {champ} ({', '.join(allowed)})")
        try:
            pattern = re.compile(motif)
        except re.error as exc:
            raise ValueError(f"{where} : motif illisible {motif!r} ({exc})") from exc
        rows.append((source, pattern, champ, valeur, phrase))
    return tuple(rows)


def _fill(template: str, match: re.Match[str]) -> str:
    return _GROUP.sub(lambda g: match.group(int(g.group(1))) or "", template)


def map_conditions(records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(mapped, unmapped) for the ``conditions`` of ``records`` (record_key, source, conditions).

    ``mapped``: record_key, position (of the condition in the record), mode (``requise``,
    ``alternative``), champ, valeur, phrase. ``unmapped``: record_key, source, valeur (the
    condition as stated). An exclusion (``non applicable si``) is matched with its prefix, so
    that only a row written for it reads it. Each distinct (source, condition) is matched once against the table.
    """
    # The conditions of amounts that vary count as alternatives too: « 600 € si vélo cargo »
    # says the aid funds a cargo bike.
    variations = (
        pl.col("montants_variations")
        .fill_null([])
        .list.eval(pl.element().str.extract(r" si (.+)$", 1))
        .list.drop_nulls()
        if "montants_variations" in records.columns
        else pl.lit([], pl.List(pl.Utf8))
    )
    stated = (
        records.select(
            "record_key",
            "source",
            pl.concat_list(
                pl.col("conditions").fill_null([]), variations.list.eval(pl.lit(VARIANT) + pl.element())
            ).alias("stated"),
        )
        .explode("stated")
        .drop_nulls("stated")
        .with_columns(position=pl.int_range(pl.len()).over("record_key"))
    )
    mode = pl.lit("requise")
    condition = pl.col("stated")
    for prefix, name in _MODES:
        mode = pl.when(pl.col("stated").str.starts_with(prefix)).then(pl.lit(name)).otherwise(mode)
        condition = condition.str.strip_prefix(prefix)
    stated = stated.with_columns(mode=mode, condition=condition)
    # an exclusion is matched as stated, prefix included: only a row written for it reads it
    stated = stated.with_columns(
        pl.when(pl.col("mode") == "exclusion").then(pl.col("stated")).otherwise(pl.col("condition")).alias("condition")
    )
    rows = []
    allowed = {f.name: f.values for f in published_fields() if f.values is not None}
    for source, text in stated.select("source", "condition").unique().iter_rows():
        for row_source, pattern, champ, valeur, phrase in condition_table():
            if row_source not in (source, "*"):
                continue
            match = pattern.fullmatch(text)
            if match is None:
                continue
            value = _fill(valeur, match)
            if champ in allowed and value not in allowed[champ]:
                continue  # a value a source wrote outside the field's vocabulary: not read, listed
            rows.append((source, text, champ, value, _fill(phrase, match)))
    meanings = pl.DataFrame(
        rows,
        schema={"source": pl.Utf8, "condition": pl.Utf8, "champ": pl.Utf8, "valeur": pl.Utf8, "phrase": pl.Utf8},
        orient="row",
    )
    mapped = stated.join(meanings, on=["source", "condition"]).select(
        "record_key", "position", "mode", "champ", "valeur", "phrase"
    )
    # An amount that varies by bike says what the aid funds; by income or status it says only
    # how much each gets (« 900 € si minima sociaux, 450 € sinon » is for everyone).
    mapped = mapped.filter((pl.col("mode") != "variante") | pl.col("champ").is_in(_FUNDED))
    unmapped = stated.join(meanings, on=["source", "condition"], how="anti")
    # Alternatives of different kinds (« income under X, or an adapted bike ») say no more than
    # that one of them holds: none of them is kept. Alternatives of one kind (« an electric bike
    # or a kit », « modest or very modest incomes ») list what the aid is for.
    kinds = pl.concat(
        [
            mapped.filter(pl.col("mode") == "alternative").select(
                "record_key", pl.col("champ").replace_strict(_KIND, default=pl.col("champ")).alias("kind")
            ),
            unmapped.filter(pl.col("mode") == "alternative").select("record_key", pl.lit("autre").alias("kind")),
        ]
    )
    mixed = kinds.group_by("record_key").agg(pl.col("kind").n_unique().alias("n")).filter(pl.col("n") > 1)
    mapped = mapped.join(mixed, on="record_key", how="anti").vstack(
        mapped.join(mixed, on="record_key", how="semi").filter(pl.col("mode") != "alternative")
    )
    return mapped.sort("record_key", "position"), unmapped.filter(pl.col("mode") != "variante").select(
        "record_key", "source", pl.col("stated").alias("valeur")
    )


def eligibility_fields(mapped: pl.DataFrame) -> pl.DataFrame:
    """record_key and one column per published eligibility field, from the mapped conditions.

    Multi-valued fields take every value, required or among alternatives (an aid for an
    electric bike or a kit finances both). Bounds come from required conditions only (an
    income ceiling that a disability waives is no ceiling): the highest minimum, the lowest
    maximum, and the period of the income ceiling kept.
    """
    published = {f.name: f for f in published_fields()}
    columns: list[pl.Expr] = []
    for name in ELIGIBILITY_FIELDS:
        field = published[name]
        values = pl.col("valeur").filter(pl.col("champ") == name)
        required = pl.col("valeur").filter((pl.col("champ") == name) & (pl.col("mode") == "requise"))
        if field.multi_valued:
            columns.append(values.unique().sort().alias(name))
        elif field.type in ("integer", "number"):
            dtype = pl.Int64 if field.type == "integer" else pl.Float64
            numbers = required.cast(dtype, strict=False)
            columns.append(
                (numbers.min() if name in _LOWEST else numbers.max() if name in _HIGHEST else numbers.first()).alias(
                    name
                )
            )
        else:
            columns.append(required.first().alias(name))
    fields = mapped.group_by("record_key").agg(columns)
    # the period of the ceiling kept (the lowest), not of another one
    ceilings = (
        mapped.filter((pl.col("champ") == "plafond_rfr_par_part") & (pl.col("mode") == "requise"))
        .with_columns(pl.col("valeur").cast(pl.Float64, strict=False).alias("_plafond"))
        .sort("record_key", "_plafond", "position")
        .unique("record_key", keep="first")
        .select("record_key", "position")
        .join(
            mapped.filter(pl.col("champ") == "plafond_rfr_periode").select(
                "record_key", "position", pl.col("valeur").alias("_periode")
            ),
            on=["record_key", "position"],
            how="left",
        )
    )
    return (
        fields.join(ceilings.select("record_key", "_periode"), on="record_key", how="left")
        .with_columns(
            # a period stated apart from its ceiling (a file in the schema's format) still counts
            pl.when(pl.col("plafond_rfr_par_part").is_not_null())
            .then(pl.coalesce("_periode", "plafond_rfr_periode"))
            .alias("plafond_rfr_periode")
        )
        .drop("_periode")
    )


def _templates(specs: list[SourceSpec]) -> pl.DataFrame:
    rows = []
    for spec in specs:
        titre = spec.config.get("titre")
        if isinstance(titre, dict) and titre.get("modele"):
            rows.append((spec.name, str(titre["modele"]), str(titre.get("objet_par_defaut", ""))))
    return pl.DataFrame(rows, schema={"source": pl.Utf8, "modele": pl.Utf8, "objet_par_defaut": pl.Utf8}, orient="row")


def _phrases(mapped: pl.DataFrame, champs: tuple[str, ...], name: str, separator: str) -> pl.DataFrame:
    """record_key, ``name``: the distinct phrases of ``champs``, in the order the source states them."""
    return (
        mapped.filter(pl.col("champ").is_in(champs) & (pl.col("phrase") != ""))
        .sort("record_key", "position")
        .unique(["record_key", "phrase"], keep="first", maintain_order=True)
        .group_by("record_key", maintain_order=True)
        .agg(pl.col("phrase").str.join(separator).alias(name))
    )


def built_titles(frame: pl.DataFrame, mapped: pl.DataFrame, specs: list[SourceSpec]) -> pl.DataFrame:
    """record_key, titre: the built title of each record whose source declares a template
    and whose stated title is its publisher's name (one of its ``porteurs``)."""
    templates = _templates(specs)
    candidates = frame.join(templates, on="source").filter(
        pl.col("porteurs").fill_null([]).list.contains(pl.col("titre"))
    )
    if not candidates.height:
        return pl.DataFrame(schema={"record_key": pl.Utf8, "titre": pl.Utf8})
    parts = (
        candidates.select("record_key", "titre", "modele", "objet_par_defaut")
        .join(_phrases(mapped, ("objets_finances",), "objet", " ou "), on="record_key", how="left")
        .join(_phrases(mapped, ("etat_materiel",), "etat", " ou "), on="record_key", how="left")
        .join(
            _phrases(mapped.filter(pl.col("mode") == "requise"), _PUBLIC, "public", " et "),
            on="record_key",
            how="left",
        )
    )
    built = [
        (key, _render(modele, objet or defaut, etat, public, titre))
        for key, titre, modele, defaut, objet, etat, public in parts.select(
            "record_key", "titre", "modele", "objet_par_defaut", "objet", "etat", "public"
        ).iter_rows()
    ]
    return pl.DataFrame(built, schema={"record_key": pl.Utf8, "titre": pl.Utf8}, orient="row")


def _render(modele: str, objet: str, etat: str | None, public: str | None, porteur: str) -> str:
    text = modele.format(
        objet=objet, etat=f" {etat}" if etat else "", public=f" {public}" if public else "", porteur=porteur
    )
    return " ".join(text.split())


def distinct_titles(aides: pl.DataFrame) -> pl.DataFrame:
    """Titles unique within a territory, whatever their sources: aids of one geography that
    share a title are told apart by their amount or rate (« — 50 € »), then by the order of
    their ids (« — variante 2 »), which never change."""
    geo = pl.col("eligibilite_geographique").list.sort().list.join("|")
    ranked = aides.with_columns(_geo=geo).with_columns(
        _shared=pl.len().over("_geo", "titre") > 1,
        _amount=pl.when(pl.col("montant_max").is_not_null())
        .then(pl.format("{} €", pl.col("montant_max").round(0).cast(pl.Int64)))
        .when(pl.col("taux_max").is_not_null())
        .then(pl.format("{} %", pl.col("taux_max").round(0).cast(pl.Int64))),
    )
    ranked = ranked.with_columns(
        pl.when(pl.col("_shared") & pl.col("_amount").is_not_null())
        .then(pl.format("{} — {}", pl.col("titre"), pl.col("_amount")))
        .otherwise(pl.col("titre"))
        .alias("titre")
    )
    ranked = ranked.with_columns(
        _rank=pl.col("id").rank("ordinal").over("_geo", "titre"), _still=pl.len().over("_geo", "titre") > 1
    ).with_columns(
        pl.when(pl.col("_still") & (pl.col("_rank") > 1))
        .then(pl.format("{} — variante {}", pl.col("titre"), pl.col("_rank")))
        .otherwise(pl.col("titre"))
        .alias("titre")
    )
    return ranked.drop("_geo", "_shared", "_amount", "_rank", "_still")


COMPOSED_DESCRIPTION = "description composée par le catalogue à partir des données de la source, qui n'en donne pas"


def _euros(column: str) -> pl.Expr:
    return pl.col(column).round(0).cast(pl.Int64).cast(pl.Utf8) + pl.lit(" €")


def composed_descriptions(aides: pl.DataFrame) -> pl.DataFrame:
    """A description for the aids whose sources state none but state what it grants: its
    amount or rate, the expense it applies to, whom it is for. Flagged as composed (in
    ``signalements``), never passed off as the source's words; an aid that states nothing of
    the kind keeps no description (and stays unpublished)."""
    grants = pl.concat_list(
        pl.when(pl.col("montant_max").is_not_null()).then(pl.lit("jusqu'à ") + _euros("montant_max")),
        pl.when(pl.col("taux_max").is_not_null()).then(
            pl.lit("jusqu'à ")
            + pl.col("taux_max").round(0).cast(pl.Int64).cast(pl.Utf8)
            + pl.lit(" % de la dépense")
            + pl.when(pl.col("plafond_depense").is_not_null())
            .then(pl.lit(", plafonnée à ") + _euros("plafond_depense"))
            .otherwise(pl.lit(""))
        ),
    ).list.drop_nulls()
    whom = pl.concat_list(
        pl.when(pl.col("categories_revenus").list.len() > 0).then(
            pl.lit("ménages aux revenus ") + pl.col("categories_revenus").list.join(", ")
        ),
        pl.when(pl.col("situations").list.len() > 0).then(pl.col("situations").list.join(", ")),
    ).list.drop_nulls()
    text = (
        pl.col("titre")
        + pl.lit(". Aide de ")
        + pl.col("porteurs").list.join(", ")
        + pl.lit(" : ")
        + grants.list.join(" ; ")
        + pl.when(whom.list.len() > 0).then(pl.lit(". Pour : ") + whom.list.join(" ; ")).otherwise(pl.lit(""))
        + pl.lit(".")
    )
    compose = pl.col("description").is_null() & (grants.list.len() > 0) & (pl.col("porteurs").list.len() > 0)
    return aides.with_columns(
        pl.when(compose).then(text).otherwise(pl.col("description")).alias("description"),
        pl.when(compose)
        .then(pl.concat_list(pl.col("signalements"), pl.lit([COMPOSED_DESCRIPTION])))
        .otherwise(pl.col("signalements"))
        .alias("signalements"),
    )


_VARIATION = re.compile(r"^(?P<amount>.+?) si (?P<condition>.+)$")
_CONDITION_LABEL = {
    "objets_finances": "{}",
    "etat_materiel": "{}",
    "situations": "{}",
    "cibles": "{}",
    "categories_revenus": "revenus {}",
    "age_min": "{} ans ou plus",
    "age_max": "{} ans ou moins",
    "depense_min": "dépense d'au moins {} €",
    "depense_max": "dépense d'au plus {} €",
}
"""How a condition reads in ``montants_conditionnels``, by the field it fills; a condition whose
field has no label here (an income ceiling: its period matters) stays as the source wrote it."""


def _condition_label(source: str, condition: str) -> str:
    """A stated condition in the published vocabulary, when a row of the table reads it."""
    for row_source, pattern, champ, valeur, _phrase in condition_table():
        if row_source in (source, "*") and champ in _CONDITION_LABEL:
            match = pattern.fullmatch(condition)
            if match is not None and _fill(valeur, match):
                return _CONDITION_LABEL[champ].format(_fill(valeur, match))
    return condition


def conditional_amounts(frame: pl.DataFrame) -> pl.DataFrame:
    """``montants_conditionnels`` from the ``montants_variations`` a record states, in its order:
    « 400 € si vélo . cargo électrique » becomes « 400 € si vélo cargo électrique »; a condition
    the table does not read stays as stated. Each distinct (source, text) is read once."""
    stated = (
        frame.select("record_key", "source", pl.col("montants_variations").fill_null([]))
        .with_row_index("_row")
        .explode("montants_variations")
        .drop_nulls("montants_variations")
    )
    labels = {}
    for source, text in stated.select("source", "montants_variations").unique().iter_rows():
        match = _VARIATION.match(text)
        labels[(source, text)] = (
            f"{match.group('amount')} si {_condition_label(source, match.group('condition'))}" if match else text
        )
    read = pl.DataFrame(
        [(s, t, label) for (s, t), label in labels.items()],
        schema={"source": pl.Utf8, "montants_variations": pl.Utf8, "montants_conditionnels": pl.Utf8},
        orient="row",
    )
    published = (
        stated.join(read, on=["source", "montants_variations"], how="left", maintain_order="left")
        .group_by("_row", maintain_order=True)
        .agg(pl.col("record_key").first(), pl.col("montants_conditionnels"))
        .select("record_key", "montants_conditionnels")
    )
    return frame.join(published, on="record_key", how="left").with_columns(
        pl.col("montants_conditionnels").fill_null([])
    )
