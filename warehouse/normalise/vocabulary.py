"""Sources' labels (cibles, types d'aides, thématiques) → the schema's enumerations.

Why: every source has its own words ("Intercommunalités / Pays", "SCA2", "Énergies /
Déchets|Réseaux de chaleur", "prime à l'achat"); the published table only allows a few
values per field. The correspondence is data, kept in ``warehouse/normalise/vocab/*.csv`` (one line
per source label and target), so that it is reviewed and extended without code.

Matching rules:

* labels are compared after trimming, lower-casing, removing accents, turning "œ" into
  "oe", typographic apostrophes into "'", and collapsing spaces (``normalise_key``);
* a line of the record's own source wins over a ``*`` line for the same label;
* a value "Thème|Catégorie" (aides-territoires' categories) is looked up whole, then
  each part from the last (the category) to the first (the theme);
* a known label whose ``valeur_cible`` is empty maps to nothing on purpose (culture,
  santé…): it is neither a target nor "unmapped";
* any other value is returned in ``unmapped`` (record_key, source, field, valeur):
  counted and listed, never dropped silently.

Everything is set-based: explode, join on the normalised key, group back.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import polars as pl

import schemas
from sources.folding import fold_expr

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"

# field of source_records → (field of the published schema, mapping file)
FIELDS: dict[str, tuple[str, str]] = {
    "cibles": ("cibles", "cibles.csv"),
    "types_aides": ("types_aides", "types_aides.csv"),
    "thematiques": ("thematiques", "thematiques.csv"),
}
ANY_SOURCE = "*"
_VALUES_LINE = re.compile(r"^#\s*valeurs\s*:\s*(.+)$")


def normalise_key(expr: pl.Expr) -> pl.Expr:
    """The comparison key of a label: the project's fold (``sources.folding``), punctuation kept.

    Punctuation is kept because the mapping files are keyed with it ("Collectivités -
    Institutions", "Collectivités d'outre-mer à statuts particuliers"): case, accents,
    ligatures, apostrophes and spaces are what differs between sources.
    """
    return fold_expr(expr.cast(pl.String, strict=False), keep_punctuation=True)


def _declared_values(path: Path) -> tuple[str, ...]:
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _VALUES_LINE.match(line.strip())
        if match:
            return tuple(value.strip() for value in match.group(1).split("|") if value.strip())
    raise ValueError(f"{path.name} : ligne « # valeurs : a|b|… » absente de l'en-tête")


def allowed_values(field: str) -> tuple[str, ...]:
    """The enumeration a field maps to: cibles and thematiques from the schema, types from their CSV."""
    target, filename = _spec(field)
    if schemas.published_field(target).values is not None:
        return schemas.allowed_values(target)
    return _declared_values(VOCAB_DIR / filename)


def _spec(field: str) -> tuple[str, str]:
    try:
        return FIELDS[field]
    except KeyError:
        raise ValueError(f"champ sans vocabulaire : {field!r} (attendu : {', '.join(FIELDS)})") from None


@cache
def _load(field: str) -> pl.DataFrame:
    target, filename = _spec(field)
    path = VOCAB_DIR / filename
    table = pl.read_csv(path, comment_prefix="#", infer_schema=False)
    if table.columns != ["source", "valeur_source", "valeur_cible"]:
        raise ValueError(f"{path.name} : colonnes {table.columns}, attendu source, valeur_source, valeur_cible")
    table = table.with_columns(pl.col(c).str.strip_chars() for c in table.columns).with_columns(
        pl.when(pl.col(c).str.len_chars() > 0).then(pl.col(c)).alias(c) for c in table.columns
    )
    missing = table.filter(pl.col("source").is_null() | pl.col("valeur_source").is_null())
    if missing.height:
        raise ValueError(f"{path.name} : {missing.height} ligne(s) sans source ou sans valeur_source")
    allowed = allowed_values(field)
    unknown = table.filter(pl.col("valeur_cible").is_not_null() & ~pl.col("valeur_cible").is_in(allowed))
    if unknown.height:
        raise ValueError(f"{path.name} : valeurs hors du vocabulaire {target} : {sorted(set(unknown['valeur_cible']))}")
    return table.with_columns(normalise_key(pl.col("valeur_source")).alias("cle")).unique(
        ["source", "cle", "valeur_cible"], maintain_order=True
    )


def load_vocabulary(field: str) -> pl.DataFrame:
    """The mapping table of a field: source, valeur_source, valeur_cible (null = no target), cle."""
    return _load(field).clone()


def map_vocabulary(frame: pl.DataFrame, field: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map the list column ``field`` of ``frame`` (record_key, source, field) to the schema.

    Returns ``(mapped, unmapped)``: ``mapped`` has one row per record_key with the target
    list column (``cibles``, ``types_aides`` or ``thematiques``; deduplicated, sorted,
    empty when nothing maps); ``unmapped`` has record_key, source, field, valeur for each
    stated value no line of the mapping knows.
    """
    target, _ = _spec(field)
    vocabulary = _load(field).select("source", "cle", "valeur_cible")
    values = (
        frame.select(
            pl.col("record_key").cast(pl.String),
            pl.col("source").cast(pl.String),
            pl.col(field).cast(pl.List(pl.String)).alias("valeur"),
        )
        .explode("valeur")
        .with_columns(pl.col("valeur").str.strip_chars())
        .filter(pl.col("valeur").str.len_chars() > 0)
        .with_row_index("_valeur_id")
    )
    # Candidates: the whole value (rank 0), then its "|" parts from the last one (rank 1, 2…).
    parts = (
        values.filter(pl.col("valeur").str.contains("|", literal=True))
        .select("_valeur_id", "source", pl.col("valeur").str.split("|").list.reverse().alias("candidat"))
        .with_columns(pl.int_ranges(1, pl.col("candidat").list.len() + 1).alias("rang"))
        .explode("candidat", "rang")
    )
    candidates = pl.concat(
        [
            values.select(
                "_valeur_id", "source", pl.col("valeur").alias("candidat"), pl.lit(0, pl.Int64).alias("rang")
            ),
            parts.with_columns(pl.col("rang").cast(pl.Int64)),
        ],
        how="vertical",
    ).with_columns(normalise_key(pl.col("candidat")).alias("cle"))

    own = candidates.join(vocabulary, on=["source", "cle"], how="inner").with_columns(
        (pl.col("rang") * 2).alias("priorite")
    )
    generic = candidates.join(
        vocabulary.filter(pl.col("source") == ANY_SOURCE).drop("source"), on="cle", how="inner"
    ).with_columns((pl.col("rang") * 2 + 1).alias("priorite"))
    matches = pl.concat(
        [
            own.select("_valeur_id", "valeur_cible", "priorite"),
            generic.select("_valeur_id", "valeur_cible", "priorite"),
        ],
        how="vertical",
    )
    best = matches.filter(pl.col("priorite") == pl.col("priorite").min().over("_valeur_id"))

    targets = (
        values.select("_valeur_id", "record_key")
        .join(best.filter(pl.col("valeur_cible").is_not_null()), on="_valeur_id", how="inner")
        .group_by("record_key")
        .agg(pl.col("valeur_cible").unique().sort().alias(target))
    )
    keys = frame.select(pl.col("record_key").cast(pl.String)).unique(maintain_order=True)
    mapped = keys.join(targets, on="record_key", how="left").with_columns(
        pl.col(target).fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )
    unmapped = (
        values.join(best.select("_valeur_id").unique(), on="_valeur_id", how="anti")
        .sort("_valeur_id")
        .select("record_key", "source", pl.lit(field).alias("field"), "valeur")
    )
    return mapped, unmapped
