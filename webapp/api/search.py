"""Full-text search in French over the aids of one release: accents, plurals, stop words, ranked.

Why not DuckDB's FTS extension: it is downloaded at run time, which these machines cannot do
and a deployment should not depend on. The index is built here, once per release, with the
kept Snowball stemmer (``snowballstemmer``, French):

- a text is lower-cased, split into words, French stop words dropped (``mots_vides.txt``),
  each word stemmed then folded (``sources.folding.fold``: accents and ligatures dropped) and
  stripped of a plural ``s`` / ``x`` Snowball keeps after a vowel, so that « vélos électriques »,
  « velo electrique » and « Vélo électrique » meet;
- each aid's terms are weighted by field (titre 3, promesse 2, the other texts 1) and the
  postings of each term are held as arrays (aid positions, weights);
- a query is read the same way and ranked by BM25 (k1 = 1.2, b = 0.75) over the weighted term
  frequencies: every term counts, rarer ones more; an aid must hold every query term (AND),
  a query whose terms match nothing together falls back to any term (OR), still ranked.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import polars as pl
import snowballstemmer

from sources.folding import fold

FIELD_WEIGHTS = {"titre": 3.0, "promesse": 2.0, "description": 1.0, "eligibilite": 1.0, "porteurs": 1.0}
K1, B = 1.2, 0.75
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+", re.UNICODE)
STOP_WORDS = frozenset(
    fold(word)
    for line in (Path(__file__).with_name("mots_vides.txt")).read_text(encoding="utf-8").splitlines()
    if (word := line.split("#", 1)[0].strip())
)


class Analyzer:
    """Text → search terms (not thread-safe: one per index, used under the GIL by one call at a time)."""

    def __init__(self) -> None:
        self._stemmer = snowballstemmer.stemmer("french")
        self._cache: dict[str, str] = {}

    def terms(self, text: str | None) -> list[str]:
        if not text:
            return []
        found = []
        for word in _WORD.findall(text.lower()):
            word = re.sub(r"^[a-z]['’]", "", word)  # l'énergie → énergie
            folded = fold(word)
            if not folded or folded in STOP_WORDS or len(folded) < 2:
                continue
            term = self._cache.get(word)
            if term is None:
                term = fold(self._stemmer.stemWord(word))
                if len(term) > 3 and term[-1] in "sx":  # Snowball keeps the plural of « vélos », « bateaux »
                    term = term[:-1]
                self._cache[word] = term
            found.append(term)
        return found


_POLARS_WORD = r"\p{L}+(?:['’]\p{L}+)?|\d+"


class SearchIndex:
    """BM25 over the weighted terms of each aid (positions are the frame's row numbers).

    Built set-based with polars: the words of every text are extracted at once, each distinct
    word analysed once, postings kept as one frame sorted by term with each term's slice, so
    that a query reads a few slices and scores them in one vectorised pass.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self.analyzer = Analyzer()
        self.size = frame.height
        words = pl.concat(
            [
                frame.select(
                    pl.int_range(pl.len(), dtype=pl.Int64).alias("position"),
                    pl.col(field).cast(pl.Utf8).str.to_lowercase().str.extract_all(_POLARS_WORD).alias("word"),
                    pl.lit(weight).alias("weight"),
                ).explode("word")
                for field, weight in FIELD_WEIGHTS.items()
                if field in frame.columns
            ],
            how="vertical",
        ).drop_nulls("word")
        vocabulary = words.select(pl.col("word").unique())["word"].to_list()
        analysed = [(word, terms[0]) for word in vocabulary if len(terms := self.analyzer.terms(word)) == 1]
        terms = pl.DataFrame(analysed, schema={"word": pl.Utf8, "term": pl.Utf8}, orient="row")
        ids = terms.select(pl.col("term").unique().sort()).with_row_index("term_id")
        terms = terms.join(ids, on="term").select("word", "term_id")
        weighted = words.join(terms, on="word").group_by("term_id", "position").agg(pl.col("weight").sum().alias("tf"))
        lengths = weighted.group_by("position").agg(pl.col("tf").sum().alias("length"))
        self._lengths = (
            pl.DataFrame({"position": range(frame.height)}, schema={"position": pl.Int64})
            .join(lengths, on="position", how="left")
            .sort("position")["length"]
            .fill_null(0.0)
        )
        self._average = float(self._lengths.mean() or 1.0) or 1.0  # type: ignore[arg-type]
        self._postings = weighted.sort("term_id", "position").select("position", "tf")
        bounds = (
            weighted.group_by("term_id")
            .agg(pl.len().alias("count"))
            .sort("term_id")
            .join(ids, on="term_id", maintain_order="left")
            .with_columns((pl.col("count").cum_sum() - pl.col("count")).alias("start"))
        )
        self._slices = {t: (int(a), int(n)) for t, a, n in bounds.select("term", "start", "count").iter_rows()}

    def search(self, query: str) -> list[tuple[int, float]]:
        """(position, score) of the matching aids, best first (ties by position)."""
        ranked = self.scores(query).sort(["_score", "_pos"], descending=[True, False])
        return list(zip(ranked["_pos"].to_list(), ranked["_score"].to_list(), strict=True))

    def scores(self, query: str) -> pl.DataFrame:
        """(_pos, _score) of the matching aids, unordered: to join with the aids' frame."""
        empty = pl.DataFrame(schema={"_pos": pl.UInt32, "_score": pl.Float64})
        terms = list(dict.fromkeys(self.analyzer.terms(query)))
        found = [term for term in terms if term in self._slices]
        if not found:
            return empty
        parts = []
        for term in found:
            start, count = self._slices[term]
            idf = math.log(1 + (self.size - count + 0.5) / (count + 0.5))
            parts.append(self._postings.slice(start, count).with_columns(pl.lit(idf).alias("idf")))
        postings = pl.concat(parts)
        lengths = self._lengths.gather(postings["position"])
        norm = K1 * (1 - B + B * lengths / self._average)
        scored = (
            postings.with_columns((pl.col("idf") * pl.col("tf") * (K1 + 1) / (pl.col("tf") + norm)).alias("score"))
            .group_by("position")
            .agg(pl.col("score").sum(), pl.len().alias("hits"))
        )
        every = scored.filter(pl.col("hits") == len(terms))
        chosen = every if every.height else scored
        return chosen.select(pl.col("position").cast(pl.UInt32).alias("_pos"), pl.col("score").alias("_score"))
