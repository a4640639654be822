"""One name-folding rule (``sources.folding``): the Python function and the polars expression agree,
and every place that folded names its own way gets the same results from it on the real data.

"The real data" is every text the catalogue's sources publish in ``../shared/real-sources``
(Mission Transition Écologique's export and programme files, the feeds aides-territoires
recorded), the recorded fixtures, the vocabulary files, and, for geography, every name of the
real COG referential (needs the npm registry). Each place is compared with a copy of the
fold it had before the rule was shared (``_before_*`` below).
"""

from __future__ import annotations

import csv
import json
import re
import tarfile
import unicodedata
from pathlib import Path

import polars as pl
import pytest
import yaml
from bs4 import BeautifulSoup

from sources.adapters import nouvelle_aquitaine
from sources.folding import fold, fold_expr
from warehouse.normalise import dates
from warehouse.normalise.dedup import _clean_text
from warehouse.normalise.geography import normalise_name
from warehouse.normalise.vocabulary import VOCAB_DIR, normalise_key

TESTS = Path(__file__).resolve().parent
REAL_SOURCES = TESTS.parents[1] / "shared" / "real-sources"
SOURCE_DATA = (
    REAL_SOURCES / "mission-transition-ecologique",
    REAL_SOURCES / "aides-territoires",
    TESTS / "fixtures",
    VOCAB_DIR,
)

SAMPLE = [
    "Œuvre d’Été",
    "L'ÉCOLE  des  Cœurs",
    "Cæsar et l’ŒUF",
    "Saint-Étienne",
    "ST ETIENNE",
    "Côte-d'Or",
    "Aide  à   l’achat d’un vélo",
    "Île-de-France",
    "dʼagglomération",
    "éco‑rénovation",
    "‘guillemets’",
    "Straße",
    "STRASSE",
    "ﬁnancement",
    "1ᵉʳ mars 2024",
    "31/12/2025 à 14h30",
    "  espaces\u00a0insécables\u202f",
    "Bourg-en-Bresse / Ain",
    "Collectivités - Institutions",
    "Établissements publics (écoles, …)",
    "",
    "---",
    "Ærø",
    "Ǽ",
    "São Paulo",
    "Ⅻ siècle",
    "x²",
    "tab\tet\nligne",
    "snake_case",
    "`backtick´",
    "l´école",
]


def _real_texts() -> list[str]:
    """Every text of the real sources and fixtures: JSON and YAML strings, CSV cells, lines, HTML text."""
    texts: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.add(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for root in SOURCE_DATA:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            content = path.read_bytes()
            text = content.decode("utf-8-sig", "replace") if b"\0" not in content else ""
            texts.update(text.splitlines())
            try:
                if path.suffix == ".json":
                    walk(json.loads(text))
                elif path.suffix in (".yaml", ".yml"):
                    walk(yaml.safe_load(text))
            except (ValueError, yaml.YAMLError):  # fixtures of broken documents: their lines are enough
                pass
            if path.suffix == ".csv":
                delimiter = ";" if text.count(";") > text.count(",") else ","
                walk(list(csv.reader(text.splitlines(), delimiter=delimiter)))
            elif path.suffix in (".html", ".xml"):
                texts.update(re.split(r"[<>]", text))
    return sorted(texts)


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    texts = _real_texts()
    assert len(texts) > 10_000
    return texts


def _polars(values: list[str], expr) -> list[str]:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr(pl.col("v"))).to_series().to_list()


# --------------------------------------------------------------------------- one rule, two implementations


def test_the_rule_on_the_cases_it_is_about() -> None:
    assert fold("L’Œuvre  d'Été-2") == "l oeuvre d ete 2"
    assert fold("L’Œuvre  d'Été-2", keep_punctuation=True) == "l'oeuvre d'ete-2"
    assert fold("Cæsar et l’ŒUF") == "caesar et l oeuf"
    assert fold("Straße") == fold("STRASSE") == "strasse"
    assert fold("Ǽ") == fold("æ") == "ae"  # the ligature is spelt out after NFKD took its accent off
    assert fold("  espaces\u00a0insécables\u202f") == "espaces insecables"
    assert fold("31/12/2025 à 14h30", keep_punctuation=True) == "31/12/2025 a 14h30"
    assert fold("dʼagglomération") == fold("d'agglomération") == fold("d’agglomération") == "d agglomeration"


@pytest.mark.parametrize("keep_punctuation", [False, True])
def test_python_and_polars_agree(keep_punctuation: bool, real_texts: list[str]) -> None:
    values = SAMPLE + real_texts
    expected = [fold(value, keep_punctuation=keep_punctuation) for value in values]
    assert _polars(values, lambda col: fold_expr(col, keep_punctuation=keep_punctuation)) == expected


# --------------------------------------------------------------------------- the folds before the shared rule


def _before_dedup(text: pl.Expr) -> pl.Expr:
    return (
        text.fill_null("")
        .str.to_lowercase()
        .str.replace_all("œ", "oe", literal=True)
        .str.replace_all("æ", "ae", literal=True)
        .str.replace_all("ß", "ss", literal=True)
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}+", "")
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
        .str.replace_all(r"(\S{3})[sx]( |$)", "${1}${2}")
    )


def _before_vocabulary(expr: pl.Expr) -> pl.Expr:
    return (
        expr.cast(pl.String, strict=False)
        .str.replace_all("œ", "oe")
        .str.replace_all("Œ", "OE")
        .str.replace_all("æ", "ae")
        .str.replace_all("Æ", "AE")
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.replace_all(r"[’‘`´ʼ]", "'")
        .str.to_lowercase()
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def _before_dates(stated: pl.Expr) -> pl.Expr:
    return (
        stated.str.to_lowercase()
        .str.normalize("NFD")
        .str.replace_all(r"\p{M}", "")
        .str.replace_all(r"\s+", " ")
        .str.replace_all(r"(\d) ?: ?(\d)", "${1}:${2}")
        .str.replace_all(r"(\d) ?: ?(\d)", "${1}:${2}")
        .str.replace_all(r"(\d) t (\d)", "${1}t${2}")
        .str.strip_chars()
    )


def _before_heading_key(label: str) -> str:
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


_ARTICLES = frozenset({"le", "la", "les", "l", "de", "du", "des", "d"})
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}


def _before_territory_name(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = text.lower().replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    text = re.sub(r"\bs/", " sur ", text)
    tokens = (_ABBREVIATIONS.get(token, token) for token in re.findall(r"[a-z0-9]+", text))
    return " ".join(token for token in tokens if token not in _ARTICLES)


# --------------------------------------------------------------------------- same results on the real data


def test_dedup_titles_are_cleaned_as_before(real_texts: list[str]) -> None:
    assert _polars(real_texts, _clean_text) == _polars(real_texts, _before_dedup)


def test_vocabulary_keys_are_as_before(real_texts: list[str]) -> None:
    assert _polars(real_texts, normalise_key) == _polars(real_texts, _before_vocabulary)


def test_dates_parse_as_before(real_texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The fold now also spells out ligatures, reads compatibility characters (NFKD) and
    apostrophes alike: no real value parses differently for it."""

    def parsed() -> list[tuple]:
        date = dates.normalise_dates(pl.DataFrame({"v": real_texts}), ["v"])
        instant = pl.DataFrame({"v": real_texts}).select(dates.parse_timestamp("v"))
        return date.hstack(instant.rename(lambda name: f"instant_{name}")).rows()

    now = parsed()
    monkeypatch.setattr(dates, "_fold", _before_dates)
    assert now == parsed()
    assert sum(1 for row in now if row[0] is not None) > 100  # real dates were among the texts


def test_nouvelle_aquitaine_headings_are_recognised_as_before() -> None:
    """Every heading-like element of the region's real pages names the same section or category.

    The old key joined the words around an apostrophe, so that a heading "… d’ateliers" would
    have been read as a "date" one; the shared key separates them. No real heading has one.
    """
    pages = sorted((TESTS / "fixtures" / "region-nouvelle-aquitaine").glob("*.html"))
    headings = {
        " ".join(tag.get_text(" ", strip=True).split())
        for page in pages
        for tag in BeautifulSoup(page.read_text(encoding="utf-8", errors="replace"), "html.parser").select(
            "h1, h2, h3, h4, strong, span, a, li"
        )
    }
    assert len(headings) > 20
    for keys in (nouvelle_aquitaine.SECTION_KEYS, nouvelle_aquitaine.CATEGORY_KEYS):
        for label in sorted(headings):
            before = next((name for fragment, name in keys if fragment in _before_heading_key(label)), None)
            assert nouvelle_aquitaine._named(label, keys) == before, label
    assert nouvelle_aquitaine._named("Type d’ateliers", nouvelle_aquitaine.CATEGORY_KEYS) is None


def test_territory_names_are_normalised_as_before(real_texts: list[str]) -> None:
    assert [normalise_name(text) for text in real_texts] == [_before_territory_name(text) for text in real_texts]


@pytest.mark.registry
def test_every_name_of_the_real_referential_is_normalised_as_before(referential_package) -> None:
    names: list[str] = []
    with tarfile.open(referential_package.tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.endswith(("/communes.json", "/epci.json", "/departements.json", "/regions.json")):
                names.extend(row["nom"] for row in json.load(archive.extractfile(member)) if row.get("nom"))
    assert len(names) > 35_000
    assert [normalise_name(name) for name in names] == [_before_territory_name(name) for name in names]
