"""Deduplication: records that describe the same aid become one catalogue entry.

The same aid reaches us several times: a region's aid in its own feed and again in
aides-territoires, Mission Transition Écologique's CSV export and the programme YAML files
it is generated from, a source that lists one aid twice. We group such records into
clusters, each with one representative, and say why every merge was made; pairs we are
unsure about go to a review list instead of being merged.

Principles, in the order they apply:

* **Geography first, nothing guessed.** Two records are only compared inside one block of
  identical ``geo_key`` (the sorted resolved territory codes). Aids of different territories
  are never merged, whatever their titles ("Aide à l'achat d'un vélo" exists in hundreds of
  communes), and a record whose geography is unresolved (null ``geo_key``) stays alone.
* **Same page, same aid.** Within a block, two records whose normalised URL is the same
  specific page (not a home page, not a page shared by more than ``URL_GROUP_CAP`` records)
  are the same aid unless their titles have little in common (score under
  ``URL_TITLE_FLOOR``: reviewed).
* **Close titles plus one independent clue.** Otherwise, titles must be very close
  (rapidfuzz on normalised titles, see ``title_similarity``) *and* something else must
  agree: a porteur, known dates, or the web site (across sources, when one of them only
  names the site's home page: two different pages of one site are no clue). Close titles
  without a clue, and fairly close titles, go to review. Closing dates far apart and
  different numbers in the titles (yearly editions) lower the score.
* **A source knows its own aids.** When the caller gives each record's ``content_key``
  (what it states of its aid: conditions, amounts, territory, texts), two records of one
  source are the same aid only if their contents are equal (an aggregator's copy of an aid)
  and are otherwise never merged nor reviewed, however alike their titles (the catalogue
  always gives it). Without it (a caller that cannot say), two records of one source pointing
  at two different specific pages are two aids, never merged; without a shared page they
  merge only with nearly identical titles (``SAME_SOURCE_THRESHOLD``).
* **Transitive, but guarded.** Duplicates form connected components (union-find), except
  that a component may not chain two records of one source whose titles differ a lot or
  which point at two different pages: such a chain is a bridge through a vague record.
  Merges are then made best first and the refused ones go to review.

Scalability: candidate pairs are generated set-based in polars. Small blocks compare every
pair; large blocks (the national block has tens of thousands of records) are sub-blocked on
each record's rarest title tokens, and a sub-block that is still large is compared by sorted
neighbourhood; pairs sharing too few word stems are dropped before rapidfuzz scores the
rest. The candidate count grows linearly with the number of records (1,000,000 synthetic
records: about 2.3 million candidates, 10–15 s on 2 cores).

rapidfuzz's ``process.cdist``/``cpdist`` need numpy, which the project does not install; the
scores are computed with rapidfuzz's C scorers mapped over the candidate pairs instead
(``map(fuzz.token_set_ratio, …)``, no Python frame per pair).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist

from sources.folding import fold_expr

DEFAULT_MERGE_THRESHOLD = 88.0
DEFAULT_REVIEW_THRESHOLD = 70.0
# Same specific page: merged when the (penalised) title score reaches this floor, else reviewed.
URL_TITLE_FLOOR = 50.0
# Two records of one source without a shared page: a source rarely lists one aid twice under
# two titles ("Prime rénovation" / "Prime rénovation copropriétés" are two aids), so titles
# must be nearly identical.
SAME_SOURCE_THRESHOLD = 95.0
# Two known dates further apart than this are not "compatible".
DATE_TOLERANCE_DAYS = 31
# Penalties on the title score (points out of 100).
CLOSING_GAP_PENALTY = 10.0  # closing dates more than DATE_TOLERANCE_DAYS apart
CLOSING_FAR_GAP_DAYS = 180
CLOSING_FAR_GAP_PENALTY = 20.0  # more than six months apart: another edition
NUMBERS_PENALTY = 15.0  # "Appel à projets 2023" / "Appel à projets 2024"

# Blocking parameters (see the module docstring).
SMALL_BLOCK = 12  # blocks up to this size compare every pair
RARE_KEYS = 2  # records of larger blocks are indexed by their rarest title tokens
KEY_GROUP_CAP = 60  # a (block, token) group above this is compared by sorted neighbourhood
NEIGHBOURS = 4  # window of the sorted neighbourhood
URL_GROUP_CAP = 20  # a page shared by more records of one block is a list page, not an aid
# Pairs sharing a smaller share of their word stems cannot reach review: not scored (unless
# they share a page). "vélo" / "vélo cargo électrique pliant" (¼) would score about 64.
MIN_STEM_JACCARD = 0.3
STEM_LENGTH = 5  # words compared by their first letters in the stem Jaccard

STOP_WORDS = frozenset(
    """
    a au aux avec ce ces d dans de des du en et l la le les leur leurs ou par pour sa se ses
    son sur un une vos votre nos notre qui que quoi dont y à the of and for
    aide aides dispositif
    """.split()
)

# Words that introduce a publisher's name ("Région Île-de-France", "Ville de Caen"): the rest
# of the name is the publisher's core, which we look for in titles and compare between records.
INSTITUTION_WORDS = frozenset(
    """
    region regional regionale conseil departement departemental departementale ville commune
    mairie communaute agglomeration metropole grand syndicat mixte intercommunal collectivite
    territoriale territorial cc ca cu ccas prefecture etat ministere agence
    """.split()
)

TRACKING_PARAMETER = (
    r"^(utm_|mtm_|pk_|piwik_|matomo_|at_|xtor|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|"
    r"mc_eid|_ga|_gl|yclid|igshid|s_kwcid|campaign|ref_src)"
)
# Paths (after normalisation) that are a site's home page, never an aid's page.
GENERIC_PATHS = ("", "/fr", "/en", "/accueil", "/fr/accueil", "/home", "/index")

INPUT_COLUMNS = pl.Schema(
    {
        "record_key": pl.Utf8(),
        "source": pl.Utf8(),
        "precedence": pl.Int64(),
        "titre": pl.Utf8(),
        "porteurs": pl.List(pl.Utf8()),
        "geo_key": pl.Utf8(),
        "url": pl.Utf8(),
        "date_ouverture": pl.Date(),
        "date_cloture": pl.Date(),
        "content_key": pl.Utf8(),
    }
)
REQUIRED_COLUMNS = ("record_key", "source", "titre", "geo_key")


@dataclass
class DedupResult:
    """Clusters, the merges made and the pairs left for a human to decide."""

    clusters: pl.DataFrame  # record_key, cluster_key (every input record exactly once)
    review: pl.DataFrame  # record_key_a, record_key_b, score, raison: not merged
    merged_pairs: pl.DataFrame  # record_key_a, record_key_b, score, raison: why each merge


# -- normalisation ---------------------------------------------------------------------------
def _clean_text(text: pl.Expr) -> pl.Expr:
    """The project's fold (``sources.folding``: case, accents, punctuation), then plurals folded."""
    return (
        fold_expr(text.fill_null(""))
        # French plurals: "vélos" → "velo", "travaux" → "travau" (on both sides alike).
        .str.replace_all(r"(\S{3})[sx]( |$)", "${1}${2}")
    )


def text_tokens(frame: pl.DataFrame, column: str, stop_words: Iterable[str] = STOP_WORDS) -> pl.Series:
    """Comparable tokens of a text column: lower case, no accents or punctuation, no stop words.

    French plurals are folded (``vélos`` → ``velo``). When only stop words remain
    (``"Aides"``), they are kept rather than leaving nothing to compare. Computed step by
    step on a frame: eager polars does not share sub-expressions, one expression would
    clean every text several times.
    """
    stops = sorted(stop_words)
    return (
        frame.select(cleaned=_clean_text(pl.col(column)))
        .with_columns(
            words=pl.col("cleaned").str.split(" ").list.eval(pl.element().filter(pl.element().str.len_bytes() > 0))
        )
        .with_columns(kept=pl.col("words").list.eval(pl.element().filter(~pl.element().is_in(stops))))
        .select(tokens=pl.when(pl.col("kept").list.len() > 0).then("kept").otherwise("words"))
        .to_series()
    )


def normalise_titles(frame: pl.DataFrame, column: str) -> pl.Series:
    """Titles reduced to their comparable tokens, space separated (no publisher removal)."""
    return text_tokens(frame, column).list.join(" ").alias("titre_norm")


# scheme, "//", "www." dropped; then host, path, query; the fragment dropped.
_URL_PARTS = r"^(?:[a-z][a-z0-9+.\-]*://)?/*(?:www\d*\.)?([^/?#]*)([^?#]*)(?:\?([^#]*))?"


def _url_parts(url: pl.Expr) -> pl.Expr:
    """``struct(host, path, query)`` of a URL, lower case (one regular expression pass)."""
    return (
        url.str.strip_chars()
        .str.to_lowercase()
        .str.extract_groups(_URL_PARTS)
        .struct.rename_fields(["host", "path", "query"])
    )


def _url_host(parts: pl.Expr) -> pl.Expr:
    host = parts.struct.field("host").str.replace(r":\d*$", "").str.replace(r"\.$", "")
    return pl.when(host.str.len_bytes() > 0).then(host)


def _url_path(parts: pl.Expr) -> pl.Expr:
    return parts.struct.field("path").fill_null("").str.replace(r"/index\.(?:html?|php)$", "").str.replace(r"/+$", "")


def _url_query(parts: pl.Expr) -> pl.Expr:
    """The query string without tracking parameters, parameters sorted ("" when none)."""
    return (
        parts.struct.field("query")
        .str.split("&")
        .list.eval(
            pl.element().filter((pl.element().str.len_bytes() > 0) & ~pl.element().str.contains(TRACKING_PARAMETER))
        )
        .list.sort()
        .list.join("&")
        .fill_null("")
    )


def normalise_urls(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Add ``url_norm``, ``url_host`` and ``url_generic`` computed from ``column``.

    ``url_norm`` is what identifies the page, ``host/path?query``: scheme, ``www.``,
    fragment, trailing slash, ``index.html`` and tracking parameters (``utm_*``, ``xtor``,
    ``fbclid``…) dropped, the remaining parameters sorted; null without a host.
    ``url_generic`` is true for a site's home page (or no URL), which names no aid.
    """
    parts = frame.select(_parts=_url_parts(pl.col(column)))
    pieces = parts.select(
        host=_url_host(pl.col("_parts")), path=_url_path(pl.col("_parts")), query=_url_query(pl.col("_parts"))
    )
    with_query = pl.when(pl.col("query").str.len_bytes() > 0).then(pl.lit("?") + pl.col("query")).otherwise(pl.lit(""))
    urls = pieces.select(
        url_norm=pl.when(pl.col("host").is_not_null()).then(pl.col("host") + pl.col("path") + with_query),
        url_host=pl.col("host"),
        url_generic=(
            pl.col("host").is_null()
            | (pl.col("path").is_in(list(GENERIC_PATHS)) & (pl.col("query").str.len_bytes() == 0))
        ),
    )
    return pl.concat([frame, urls], how="horizontal")


def _publisher_free_tokens(frame: pl.DataFrame) -> pl.DataFrame:
    """``idx, tokens, porteur_keys``: title tokens without a publisher's name repeated in them.

    "Région Île-de-France – Chèque vert" and "Chèque vert" are the same title for a record
    carried by the Région Île-de-France: when every token of a porteur's core name
    ("ile france": the name without "région", "ville de"…) appears in the title, the
    porteur's tokens are removed from it, unless nothing would remain. ``porteur_keys`` are
    the porteurs' core names, to compare records; a trailing acronym in parentheses
    ("… de l'énergie (ADEME)") is a second name. Names are normalised once each (porteur
    names repeat a lot), then joined back to the records.
    """
    titles = frame.select("idx").with_columns(tokens=text_tokens(frame, "titre"))
    named = frame.select("idx", raw=pl.col("porteurs")).explode("raw").drop_nulls("raw")
    acronym = r"\(\s*([\p{L}\p{N}&.'’ -]{2,30}?)\s*\)\s*$"
    raw = named.select("raw").unique()
    variants = pl.concat(
        [
            raw.with_columns(name=pl.col("raw").str.replace(acronym, "")),
            raw.with_columns(name=pl.col("raw").str.extract(acronym, 1)).drop_nulls("name"),
        ]
    )
    names = variants.select("name").unique()
    names = (
        names.with_columns(ptokens=text_tokens(names, "name"))
        .with_columns(
            core=pl.col("ptokens").list.eval(pl.element().filter(~pl.element().is_in(sorted(INSTITUTION_WORDS))))
        )
        .with_columns(core=pl.when(pl.col("core").list.len() > 0).then("core").otherwise("ptokens").list.unique())
        .filter(pl.col("core").list.len() > 0)
        .with_columns(key=pl.col("core").list.sort().list.join(" "), n_core=pl.col("core").list.len())
    )
    porteurs = named.join(variants, on="raw").join(names, on="name")
    keys = porteurs.group_by("idx").agg(porteur_keys=pl.col("key").unique().sort())
    removable = (
        porteurs.select("idx", "core", "n_core", "ptokens")
        .join(titles, on="idx")
        .filter(pl.col("tokens").list.set_intersection("core").list.len() == pl.col("n_core"))
        .group_by("idx")
        .agg(removed=pl.col("ptokens").list.explode(keep_nulls=False, empty_as_null=False))
    )
    # Only the titles that repeat a publisher's name are rebuilt, word order kept.
    kept = (
        titles.join(removable, on="idx", how="inner")
        .with_columns(pos=pl.int_ranges(pl.col("tokens").list.len()))
        .explode("tokens", "pos")
        .filter(~pl.col("tokens").is_in(pl.col("removed")))
        .sort("idx", "pos")
        .group_by("idx", maintain_order=True)
        .agg(stripped=pl.col("tokens"))
    )
    return (
        titles.join(kept, on="idx", how="left")
        .with_columns(tokens=pl.when(pl.col("stripped").list.len() > 0).then("stripped").otherwise("tokens"))
        .drop("stripped")
        .join(keys, on="idx", how="left")
        .with_columns(porteur_keys=pl.col("porteur_keys").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
    )


def _validated(records: pl.DataFrame) -> pl.DataFrame:
    """The input columns with their types; optional ones filled; keys checked unique."""
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"colonnes manquantes pour le dédoublonnage : {', '.join(missing)}")
    columns = []
    for name, dtype in INPUT_COLUMNS.items():
        if name in records.columns:
            column = pl.col(name)
            if dtype == pl.Date and records.schema[name] == pl.Utf8:
                column = column.str.to_date(strict=False)
            columns.append(column.cast(dtype, strict=False).alias(name))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
    frame = records.select(columns).with_columns(
        precedence=pl.col("precedence").fill_null(0),
        porteurs=pl.col("porteurs").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))),
        titre=pl.col("titre").fill_null(""),
    )
    if frame["record_key"].null_count():
        raise ValueError("record_key vide dans les enregistrements à dédoublonner")
    duplicated = frame.filter(pl.col("record_key").is_duplicated())["record_key"].unique().sort()
    if duplicated.len():
        raise ValueError(f"record_key en double : {', '.join(duplicated.head(5).to_list())}")
    return frame


def prepare(records: pl.DataFrame) -> pl.DataFrame:
    """One row per record with everything the comparison needs, ``idx`` = rank of ``record_key``.

    Records are numbered in ``record_key`` order, never in input order (which comes from an
    unordered query and joins): every tie-break below (sorted neighbourhood, pair
    orientation, union-find roots, the guarded union's order) uses ``idx``, so the result
    depends only on the records, not on how they were listed.
    """
    frame = _validated(records).sort("record_key").with_row_index("idx")
    tokens = _publisher_free_tokens(frame)
    return normalise_urls(frame.join(tokens, on="idx", how="left").sort("idx"), "url").with_columns(
        titre_norm=pl.col("tokens").list.join(" "),
        stems=_stems(pl.col("tokens")),
        numbers=pl.col("tokens").list.join(" ").str.extract_all(r"\b\d+\b").list.join(" "),
        completeness=(
            pl.col("url").is_not_null().cast(pl.Int32)
            + pl.col("date_ouverture").is_not_null().cast(pl.Int32)
            + pl.col("date_cloture").is_not_null().cast(pl.Int32)
            + (pl.col("porteurs").list.len() > 0).cast(pl.Int32)
            + pl.col("geo_key").is_not_null().cast(pl.Int32)
        ),
    )


# -- candidate pairs -------------------------------------------------------------------------
def _ordered(pairs: pl.DataFrame, left: str, right: str) -> pl.DataFrame:
    return pairs.select(
        idx_a=pl.min_horizontal(left, right).cast(pl.UInt32),
        idx_b=pl.max_horizontal(left, right).cast(pl.UInt32),
    ).filter(pl.col("idx_a") != pl.col("idx_b"))


def _self_pairs(frame: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """Every pair of rows sharing ``on`` (the groups are small by construction)."""
    right = frame.select(*on, idx_r=pl.col("idx"))
    return _ordered(frame.join(right, on=on).filter(pl.col("idx") < pl.col("idx_r")), "idx", "idx_r")


def candidate_pairs(base: pl.DataFrame) -> pl.DataFrame:
    """``idx_a < idx_b, url_match``: the pairs worth scoring, never across geo blocks.

    Small blocks: every pair. Larger blocks: pairs sharing one of their ``RARE_KEYS``
    rarest title tokens (rarity within the block); a token group still larger than
    ``KEY_GROUP_CAP`` is compared by sorted neighbourhood (each record with the next
    ``NEIGHBOURS`` in title order). Plus every pair sharing a specific page
    (``url_match``), unless the page is shared by more than ``URL_GROUP_CAP`` records.
    """
    placed = base.filter(pl.col("geo_key").is_not_null()).with_columns(
        n_block=pl.len().over("geo_key"), block=pl.col("geo_key").rank("dense")
    )
    small = placed.filter(pl.col("n_block") <= SMALL_BLOCK).select("idx", "block")
    everything = _self_pairs(small, ["block"])

    large = placed.filter(pl.col("n_block") > SMALL_BLOCK)
    words = (
        large.select("idx", "block", tok=pl.col("tokens").list.unique())
        .explode("tok")
        .drop_nulls("tok")
        .with_columns(df=pl.len().over("block", "tok"))
    )
    keys = (
        words.sort("idx", "df", "tok")
        .group_by("idx", maintain_order=True)
        .head(RARE_KEYS)
        .with_columns(n_key=pl.len().over("block", "tok"))
    )
    in_groups = _self_pairs(
        keys.filter(pl.col("n_key") <= KEY_GROUP_CAP).select("idx", "block", "tok"), ["block", "tok"]
    )
    crowded = (
        keys.filter(pl.col("n_key") > KEY_GROUP_CAP)
        .join(base.select("idx", "titre_norm"), on="idx")
        .sort("block", "tok", "titre_norm", "idx")
    )
    windows = [
        _ordered(
            crowded.with_columns(idx_r=pl.col("idx").shift(-step).over("block", "tok")).drop_nulls("idx_r"),
            "idx",
            "idx_r",
        )
        for step in range(1, NEIGHBOURS + 1)
    ]

    pages = (
        placed.filter(~pl.col("url_generic"))
        .with_columns(n_page=pl.len().over("block", "url_norm"))
        .filter((pl.col("n_page") > 1) & (pl.col("n_page") <= URL_GROUP_CAP))
        .select("idx", "block", "url_norm")
    )
    same_page = _self_pairs(pages, ["block", "url_norm"]).with_columns(url_match=pl.lit(True))

    return (
        pl.concat([everything, in_groups, *windows, same_page.select("idx_a", "idx_b")])
        .unique()
        .join(same_page, on=["idx_a", "idx_b"], how="left")
        .with_columns(pl.col("url_match").fill_null(False))
        .sort("idx_a", "idx_b")  # unique/join do not keep an order: give one
    )


# -- scoring ---------------------------------------------------------------------------------
_PAIR_COLUMNS = (
    "record_key",
    "source",
    "content_key",
    "titre_norm",
    "numbers",
    "porteur_keys",
    "url_norm",
    "url_host",
    "url_generic",
    "date_ouverture",
    "date_cloture",
)


def title_similarity(norm_a: list[str], norm_b: list[str], stems: list[float] | None = None) -> list[float]:
    """Title score 0–100: ½ token_set_ratio + ¼ token_sort_ratio + ¼ stem Jaccard.

    token_set_ratio (rapidfuzz) forgives word order, extra words and typos, but calls "vélo"
    and "vélo cargo électrique", or "Diagnostic RSE" and "Diagnostic SARE", nearly identical;
    token_sort_ratio keeps extra words in view and the Jaccard index of the words' first
    five letters (``stems``, computed set-based in polars, 0–1) counts the words that really
    differ while forgiving "rénover"/"rénovation". Titles are already normalised.
    """
    if not norm_a:
        return []
    # pair by pair in rapidfuzz's C++ (``cpdist``: the i-th of ``norm_a`` with the i-th of
    # ``norm_b``), in double precision like the scalar scorers: 6 s of Python calls at 1M records
    sets = cpdist(norm_a, norm_b, scorer=fuzz.token_set_ratio, dtype=np.float64, workers=-1)
    sorts = cpdist(norm_a, norm_b, scorer=fuzz.token_sort_ratio, dtype=np.float64, workers=-1)
    if stems is None:
        stems = [_stem_jaccard(a, b) for a, b in zip(norm_a, norm_b, strict=False)]
    return (0.5 * sets + 0.25 * sorts + 25.0 * np.asarray(stems, dtype=np.float64)).tolist()


def _stem_jaccard(a: str, b: str) -> float:
    """Jaccard index of the words' five-letter stems (the scalar twin of ``_stems``)."""
    sa, sb = {w[:STEM_LENGTH] for w in a.split()}, {w[:STEM_LENGTH] for w in b.split()}
    union = sa | sb
    return len(sa & sb) / len(union) if union else 0.0


def _stems(tokens: pl.Expr) -> pl.Expr:
    return tokens.list.eval(pl.element().str.slice(0, STEM_LENGTH)).list.unique()


def _day_gap(column: str) -> pl.Expr:
    return (pl.col(f"{column}_a") - pl.col(f"{column}_b")).dt.total_days().abs()


def score_pairs(
    base: pl.DataFrame, pairs: pl.DataFrame, merge_threshold: float, review_threshold: float
) -> pl.DataFrame:
    """Candidate pairs with ``score``, ``decision`` (``fusion``/``revue``/null) and ``raison``.

    Pairs sharing too few word stems to ever reach the review threshold (and not the same
    page) are dropped set-based before rapidfuzz scores the rest.
    """
    stems = base.select("idx", "stems")
    shared = (
        pairs.join(stems.rename({"stems": "stems_a"}), left_on="idx_a", right_on="idx")
        .join(stems.rename({"stems": "stems_b"}), left_on="idx_b", right_on="idx")
        .with_columns(
            inter=pl.col("stems_a").list.set_intersection("stems_b").list.len(),
            union=pl.col("stems_a").list.set_union("stems_b").list.len(),
        )
        .select(
            "idx_a",
            "idx_b",
            "url_match",
            stem_jaccard=pl.when(pl.col("union") > 0).then(pl.col("inter") / pl.col("union")).otherwise(0.0),
        )
        .filter(pl.col("url_match") | (pl.col("stem_jaccard") >= MIN_STEM_JACCARD))
    )
    attributes = base.select("idx", *_PAIR_COLUMNS)
    joined = shared.join(attributes.rename({c: f"{c}_a" for c in _PAIR_COLUMNS}), left_on="idx_a", right_on="idx").join(
        attributes.rename({c: f"{c}_b" for c in _PAIR_COLUMNS}), left_on="idx_b", right_on="idx"
    )
    title = title_similarity(
        joined["titre_norm_a"].to_list(), joined["titre_norm_b"].to_list(), joined["stem_jaccard"].to_list()
    )
    closing_gap, opening_gap = _day_gap("date_cloture"), _day_gap("date_ouverture")
    numbers_differ = (
        (pl.col("numbers_a").str.len_chars() > 0)
        & (pl.col("numbers_b").str.len_chars() > 0)
        & (pl.col("numbers_a") != pl.col("numbers_b"))
    )
    closing_penalty = (
        pl.when(closing_gap > CLOSING_FAR_GAP_DAYS)
        .then(CLOSING_FAR_GAP_PENALTY)
        .when(closing_gap > DATE_TOLERANCE_DAYS)
        .then(CLOSING_GAP_PENALTY)
        .otherwise(0.0)
    )
    scored = (
        joined.with_columns(title=pl.Series(title, dtype=pl.Float64))
        .with_columns(
            closing_gap=closing_gap,
            numbers_differ=numbers_differ,
            same_porteur=pl.col("porteur_keys_a").list.set_intersection("porteur_keys_b").list.len() > 0,
            same_source=pl.col("source_a") == pl.col("source_b"),
            # What each record states of its aid, when the caller knows it: within one source,
            # equal contents are a copy of one aid, different ones two aids.
            same_content=(pl.col("content_key_a") == pl.col("content_key_b")),
            # One source pointing at two different specific pages: two aids, never merged.
            distinct_pages=(pl.col("source_a") == pl.col("source_b"))
            & ~pl.col("url_generic_a")
            & ~pl.col("url_generic_b")
            & (pl.col("url_norm_a") != pl.col("url_norm_b")).fill_null(False),
            # The same site is a clue only across sources and when at most one side names a
            # specific page (two different pages of one site are not a clue of anything).
            same_host=(pl.col("url_host_a") == pl.col("url_host_b")).fill_null(False)
            & (pl.col("source_a") != pl.col("source_b"))
            & (pl.col("url_generic_a") | pl.col("url_generic_b")),
            dates_known=(pl.col("date_cloture_a").is_not_null() & pl.col("date_cloture_b").is_not_null())
            | (pl.col("date_ouverture_a").is_not_null() & pl.col("date_ouverture_b").is_not_null()),
            dates_apart=(closing_gap > DATE_TOLERANCE_DAYS).fill_null(False)
            | (opening_gap > DATE_TOLERANCE_DAYS).fill_null(False),
            score=(
                pl.col("title")
                - closing_penalty.fill_null(0.0)
                - pl.when(numbers_differ).then(NUMBERS_PENALTY).otherwise(0.0)
            )
            .clip(0.0, 100.0)
            .round(1),
        )
        .with_columns(
            dates_ok=pl.col("dates_known") & ~pl.col("dates_apart"),
        )
        .with_columns(
            evidence=pl.col("same_porteur") | pl.col("same_host") | pl.col("dates_ok"),
        )
    )
    score = pl.col("score")
    known = pl.col("same_source") & pl.col("same_content").is_not_null()
    decision = (
        pl.when(known & pl.col("same_content"))
        .then(pl.lit("fusion"))
        .when(known)
        .then(pl.lit(None, pl.Utf8))
        .when(pl.col("url_match") & (score >= URL_TITLE_FLOOR))
        .then(pl.lit("fusion"))
        .when(pl.col("url_match"))
        .then(pl.lit("revue"))
        .when(
            (score >= merge_threshold)
            & pl.col("evidence")
            & ~pl.col("distinct_pages")
            & (~pl.col("same_source") | (score >= max(merge_threshold, SAME_SOURCE_THRESHOLD)))
        )
        .then(pl.lit("fusion"))
        .when(score >= review_threshold)
        .then(pl.lit("revue"))
    )
    return (
        scored.with_columns(decision=decision)
        .filter(pl.col("decision").is_not_null())
        .with_columns(raison=_reason(merge_threshold))
    )


def _reason(merge_threshold: float) -> pl.Expr:
    """Why a pair is merged or reviewed, in French, from the pair's clues."""

    def text(*parts: str | pl.Expr) -> pl.Expr:
        return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])

    score = pl.col("score").round(1).cast(pl.Utf8)
    very_close = pl.col("score") >= merge_threshold
    head = (
        pl.when(pl.col("url_match") & (pl.col("decision") == "fusion"))
        .then(text("même page (", pl.col("url_norm_a"), "), titres à ", score))
        .when(pl.col("url_match"))
        .then(text("même page (", pl.col("url_norm_a"), ") mais titres différents (", score, ")"))
        .when(pl.col("decision") == "fusion")
        .then(text("titres très proches (", score, ")"))
        .when(very_close & pl.col("distinct_pages"))
        .then(text("titres très proches (", score, ") mais la source donne deux pages différentes"))
        .when(very_close & pl.col("same_source") & pl.col("evidence"))
        .then(text("titres très proches (", score, ") mais dans une même source"))
        .when(very_close)
        .then(text("titres très proches (", score, ") sans porteur, site ni dates en commun"))
        .otherwise(text("titres proches (", score, "), à vérifier"))
    )
    return pl.concat_str(
        [
            head,
            pl.when(pl.col("same_porteur")).then(pl.lit("même porteur")),
            pl.when(pl.col("same_host")).then(text("même site (", pl.col("url_host_a"), ")")),
            pl.when(pl.col("dates_ok")).then(pl.lit("dates compatibles")),
            pl.when(pl.col("closing_gap") > DATE_TOLERANCE_DAYS).then(
                text("dates de clôture éloignées de ", pl.col("closing_gap").cast(pl.Utf8), " jours")
            ),
            pl.when(pl.col("numbers_differ")).then(
                text("nombres différents dans les titres (", pl.col("numbers_a"), " / ", pl.col("numbers_b"), ")")
            ),
        ],
        separator=" ; ",
        ignore_nulls=True,
    )


# -- clustering ------------------------------------------------------------------------------
class _UnionFind:
    """Union-find over integer ids (path halving), only over the ids that appear in edges."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, node: int) -> int:
        parent = self.parent
        root = parent.setdefault(node, node)
        while root != parent[root]:
            parent[root] = parent[parent[root]]
            root = parent[root]
        return root

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            ra, rb = min(ra, rb), max(ra, rb)
            self.parent[rb] = ra
        return ra


def _guarded_union(base: pl.DataFrame, edges: pl.DataFrame, guard: float) -> tuple[dict[int, int], list[int]]:
    """Greedy union of the conflicted components' edges, best first, refusing bad chains.

    Two groups are joined only if every pair of records of one source across them has
    titles scoring at least ``guard`` and does not point at two different specific pages.
    Returns the label of every node and the positions (in ``edges``) of refused edges.
    """
    nodes = pl.concat([edges["idx_a"], edges["idx_b"]]).unique()
    info = base.join(nodes.to_frame("idx"), on="idx", how="semi").select(
        "idx", "source", "titre_norm", page=pl.when(~pl.col("url_generic")).then("url_norm"), content="content_key"
    )
    rows = {row[0]: row[1:] for row in info.iter_rows()}
    members: dict[int, dict[str, list[int]]] = {n: {rows[n][0]: [n]} for n in rows}
    forest = _UnionFind()
    refused = []

    def compatible(xs: list[int], ys: list[int]) -> bool:
        pairs = []
        for x in xs:
            for y in ys:
                page_x, page_y = rows[x][2], rows[y][2]
                if page_x is not None and page_y is not None and page_x != page_y:
                    return False
                content_x, content_y = rows[x][3], rows[y][3]
                if content_x is None or content_y is None:
                    pairs.append((x, y))  # judged by their titles
                elif content_x != content_y:
                    return False  # two aids its source states differently
        if not pairs:
            return True
        scores = title_similarity([rows[x][1] for x, _ in pairs], [rows[y][1] for _, y in pairs])
        return min(scores) >= guard

    # Best first; equal scores in record_key order (a total order: one edge per pair).
    order = edges.with_row_index("pos").sort(
        ["url_match", "score", "record_key_a", "record_key_b"], descending=[True, True, False, False]
    )
    for pos, a, b in zip(order["pos"].to_list(), order["idx_a"].to_list(), order["idx_b"].to_list(), strict=False):
        ra, rb = forest.find(a), forest.find(b)
        if ra == rb:
            continue
        left, right = members[ra], members[rb]
        if not all(compatible(left[src], right[src]) for src in left.keys() & right.keys()):
            refused.append(pos)
            continue
        root = forest.union(ra, rb)
        merged = members.pop(rb if root == ra else ra)
        for src, items in merged.items():
            members[root].setdefault(src, []).extend(items)
    return {n: forest.find(n) for n in rows}, refused


def cluster(base: pl.DataFrame, scored: pl.DataFrame, guard: float) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(labels idx→component, accepted merge edges, refused merge edges)``.

    Plain connected components first; only the components holding two records of one
    source (few) are rebuilt edge by edge with the chain guard.
    """
    edges = scored.filter(pl.col("decision") == "fusion")
    forest = _UnionFind()
    for a, b in zip(edges["idx_a"].to_list(), edges["idx_b"].to_list(), strict=False):
        forest.union(a, b)
    nodes = list(forest.parent)
    labels = pl.DataFrame(
        {"idx": nodes, "component": [forest.find(n) for n in nodes]}, schema={"idx": pl.UInt32, "component": pl.UInt32}
    )
    conflicted = (
        labels.join(base.select("idx", "source"), on="idx")
        .group_by("component", "source")
        .agg(n=pl.len())
        .filter(pl.col("n") > 1)
        .select("component")
        .unique()
    )
    edges = edges.join(labels.rename({"idx": "idx_a"}), on="idx_a")
    accepted = edges.join(conflicted, on="component", how="anti")
    guarded = edges.join(conflicted, on="component", how="semi")
    refused = guarded.clear()
    if guarded.height:
        guarded_labels, refused_positions = _guarded_union(base, guarded, guard)
        fixed = pl.DataFrame(
            {"idx": list(guarded_labels), "component": list(guarded_labels.values())},
            schema={"idx": pl.UInt32, "component": pl.UInt32},
        )
        labels = pl.concat([labels.join(fixed, on="idx", how="anti"), fixed])
        positions = guarded.with_row_index("pos")
        refused_rows = pl.DataFrame({"pos": refused_positions}, schema={"pos": pl.UInt32})
        accepted = pl.concat([accepted, positions.join(refused_rows, on="pos", how="anti").drop("pos")])
        refused = positions.join(refused_rows, on="pos", how="semi").drop("pos")
    all_labels = (
        base.select("idx")
        .join(labels, on="idx", how="left")
        .with_columns(component=pl.col("component").fill_null(pl.col("idx")))
    )
    return all_labels, accepted, refused


def _pairs_out(frame: pl.DataFrame) -> pl.DataFrame:
    """Pairs as record keys, the smaller key first, sorted (one row per pair: the best)."""
    return (
        frame.select(
            record_key_a=pl.min_horizontal("record_key_a", "record_key_b"),
            record_key_b=pl.max_horizontal("record_key_a", "record_key_b"),
            score=pl.col("score").cast(pl.Float64),
            raison=pl.col("raison").cast(pl.Utf8),
        )
        .sort(["record_key_a", "record_key_b", "score", "raison"], descending=[False, False, True, False])
        .unique(["record_key_a", "record_key_b"], keep="first", maintain_order=True)
    )


def find_duplicates(
    records: pl.DataFrame,
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD,
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
) -> DedupResult:
    """Group the records that describe the same aid; see the module docstring for the rules.

    ``records``: record_key (unique), source, precedence, titre, porteurs, geo_key, url,
    date_ouverture, date_cloture. The representative of a cluster (its ``cluster_key``) is the
    record of highest precedence, then the most complete, then the smallest record_key.
    """
    if review_threshold > merge_threshold:
        raise ValueError("le seuil de revue doit être inférieur ou égal au seuil de fusion")
    base = prepare(records)
    scored = score_pairs(base, candidate_pairs(base), merge_threshold, review_threshold)
    labels, accepted, refused = cluster(base, scored, guard=review_threshold)

    representatives = (
        labels.join(base.select("idx", "record_key", "precedence", "completeness"), on="idx")
        .sort(["component", "precedence", "completeness", "record_key"], descending=[False, True, True, False])
        .group_by("component", maintain_order=True)
        .agg(cluster_key=pl.col("record_key").first())
    )
    members = labels.join(representatives, on="component").join(base.select("idx", "record_key"), on="idx")
    clusters = members.select("record_key", "cluster_key").sort("record_key")

    refused = refused.with_columns(
        raison=pl.lit("fusion refusée : relierait deux fiches distinctes d'une même source ; ") + pl.col("raison")
    )
    key_of = members.select("idx", "cluster_key")
    review = (
        pl.concat([scored.filter(pl.col("decision") == "revue"), refused.select(scored.columns)])
        .join(key_of.rename({"idx": "idx_a", "cluster_key": "cluster_a"}), on="idx_a")
        .join(key_of.rename({"idx": "idx_b", "cluster_key": "cluster_b"}), on="idx_b")
        .filter(pl.col("cluster_a") != pl.col("cluster_b"))
    )
    return DedupResult(clusters=clusters, review=_pairs_out(review), merged_pairs=_pairs_out(accepted))
