"""Stated amounts and rates → montant_max / taux_max, on written forms and real programme files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import AT_API, MTE

from warehouse.normalise.amounts import amounts_max, normalise_amounts

PROGRAMS = MTE / "programs"
LIST = pl.List(pl.String)


def _run(montants: list[str] | None, taux: list[str] | None = None) -> dict:
    frame = pl.DataFrame({"montants": [montants], "taux": [taux]}, schema={"montants": LIST, "taux": LIST})
    row = normalise_amounts(frame).row(0, named=True)
    return {key: row[key] for key in ("montant_max", "taux_max", "montant_probleme")}


def test_the_example_list_of_the_brief() -> None:
    got = _run(
        [
            "400 €",
            "jusqu'à 8 500 €",
            "21 667,00 €",
            "50 %",
            "de 20 à 40 %",
            "1 200€",
            "15 000 € HT",
            "10000 €/an",
            "0 €",
        ]
    )
    # 10000 €/an is a per-period amount (an income ceiling here): excluded, and said so
    assert got == {
        "montant_max": 21667.0,
        "taux_max": 50.0,
        "montant_probleme": "montant par période ou par unité ignoré : 10000 €/an",
    }


@pytest.mark.parametrize(
    ("montants", "montant_max"),
    [
        (["jusqu'à 8\u00a0500\u00a0€"], 8500.0),  # non-breaking space
        (["jusqu'à 8\u202f500\u202f€"], 8500.0),  # narrow non-breaking space
        (["1.500 €"], 1500.0),  # dot as thousands separator
        (["2.200.000 € à répartir entre les bénéficiaires"], 2_200_000.0),
        (["1 234 567,89 €"], 1_234_567.89),
        (["12,5 €"], 12.5),
        (["De 50 000 € à 5 M€"], 5_000_000.0),
        (["1,5 M€"], 1_500_000.0),
        (["10 k€", "8 K€"], 10_000.0),
        (["2 millions d'euros"], 2_000_000.0),
        (["600 000 euros"], 600_000.0),
        (["1000 EUR"], 1000.0),
        (["prêt jusqu'à 500000 €", "avance récupérable jusqu'à 15000 €"], 500_000.0),
        (["montant minimum : 1000 €", "montant maximum : 1500 €"], 1500.0),
        (["Min. 3.000 € par projet"], None),  # a floor is no ceiling
        (["5 000 € minimum de travaux"], None),
        (["À partir de 1 500€ HT"], None),
        (["au moins 200 €", "jusqu'à 900 €"], 900.0),
        (["Pris en charge à 50%. Coût restant à charge de 13 000 €."], None),
        (["3 000 € HT après subvention de 50%"], None),
        (["revenu fiscal de référence inférieur à 25 000 € : 400 €"], 400.0),
        (["30 €/m² dans la limite de 3 000 €"], 3000.0),
        (["0 €"], None),  # "sinon 0 €": no aid
        (["Gratuit", "Sur devis", "Variable selon projet"], None),
        (["En 2024 500 €"], 500.0),  # a year is not a thousands group
        ([], None),
        (None, None),
    ],
)
def test_montant_max(montants: list[str] | None, montant_max: float | None) -> None:
    assert _run(montants)["montant_max"] == montant_max


@pytest.mark.parametrize(
    ("texts", "taux_max"),
    [
        (["50 %"], 50.0),
        (["de 20 à 40 %"], 40.0),
        (["Taux d'aide de 20 à 40 % selon la taille de l'installation."], 40.0),
        (["entre 50% et 95% du total des coûts éligibles"], 95.0),
        (["33,5 %"], 33.5),
        (["50 pour cent"], 50.0),
        (["Jusqu'à 80% du coût de l'étude, dans un maximum de 30 000 €"], 80.0),
        (["Variable selon projet, à 3,3% TEG"], None),  # a loan's interest rate
        (["taux d'intérêt de 2 %", "30 %"], 30.0),
        (["du montant retenu"], None),
        (["100 %"], 100.0),
    ],
)
def test_taux_max(texts: list[str], taux_max: float | None) -> None:
    assert _run(None, texts)["taux_max"] == taux_max
    assert _run(texts)["taux_max"] == taux_max  # a rate stated among the amounts counts too


def test_rates_above_100_are_rejected_with_a_reason() -> None:
    assert _run([], ["120 %", "30 %"]) == {
        "montant_max": None,
        "taux_max": 30.0,
        "montant_probleme": "taux supérieur à 100 % ignoré : 120 %",
    }
    got = _run(None, ["de 120 à 140 %"])
    assert got["taux_max"] is None
    assert got["montant_probleme"] == ("taux supérieur à 100 % ignoré : 140 % ; taux supérieur à 100 % ignoré : 120 %")


@pytest.mark.parametrize("stated", ["10000 €/an", "500 € par mois", "12 €/m2", "5 € par kWc HT", "300 € annuels"])
def test_per_period_and_per_unit_amounts_are_excluded_and_listed(stated: str) -> None:
    got = _run([stated, "jusqu'à 900 €"])
    assert got["montant_max"] == 900.0
    assert got["montant_probleme"] == f"montant par période ou par unité ignoré : {stated}"


def test_frame_shape_and_types() -> None:
    frame = pl.DataFrame(
        {
            "record_key": ["a", "b", "c"],
            "montants": [["400 €"], None, ["1 200 €"]],
            "taux": [None, ["50 %"], ["1 200 €"]],
        }
    )
    out = normalise_amounts(frame)
    assert out.columns == ["record_key", "montants", "taux", "montant_max", "taux_max", "montant_probleme"]
    assert out.schema["montant_max"] == pl.Float64 and out.schema["taux_max"] == pl.Float64
    assert out["montant_max"].to_list() == [400.0, None, 1200.0]
    assert out["taux_max"].to_list() == [None, 50.0, None]
    only_montants = normalise_amounts(frame.drop("taux"))
    assert only_montants["montant_max"].to_list() == [400.0, None, 1200.0]
    alone = amounts_max(frame)
    assert alone.columns == ["montant_max", "taux_max", "montant_probleme"] and alone.height == 3
    assert alone["montant_max"].to_list() == [400.0, None, 1200.0]
    with pytest.raises(ValueError, match="aucune des colonnes"):
        normalise_amounts(frame.select("record_key"))


# -- real programme files of the Mission transition écologique ------------------------------------


def _programme_amounts(path: Path) -> list[str]:
    """The stated amounts of a programme, as its adapter collects them (keys montant… / coût…)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    values: list[str] = []
    for key, value in data.items():
        if str(key).lower().startswith(("montant", "coût", "cout")) and isinstance(value, (str, int, float)):
            values.append(str(value))
    return values


@pytest.fixture(scope="module")
def programmes() -> pl.DataFrame:
    paths = sorted(PROGRAMS.glob("*.yaml"))
    assert len(paths) == 264
    frame = pl.DataFrame(
        {"slug": [p.stem for p in paths], "montants": [_programme_amounts(p) for p in paths]},
        schema={"slug": pl.String, "montants": LIST},
    )
    return normalise_amounts(frame, ["montants"])


def test_real_programmes(programmes: pl.DataFrame) -> None:
    by_slug = {row["slug"]: row for row in programmes.iter_rows(named=True)}
    assert by_slug["pret-vert"]["montant_max"] == 5_000_000.0  # "De 50 000 € à 5 000 000 €"
    assert by_slug["agir-pdl"]["taux_max"] is None  # "Variable selon projet, à 3,3% TEG"
    assert by_slug["accelerateur-economie-circulaire"]["montant_max"] is None  # reste à charge
    assert by_slug["accelerateur-economie-circulaire"]["taux_max"] == 50.0
    assert by_slug["diag-adaptation"]["montant_max"] is None  # "3 000 € HT après subvention de 50%"
    assert programmes["montant_max"].is_not_null().sum() >= 90
    # per-period and per-unit amounts are listed: "4 500 € par an", "1 000 € HT/ jour", "38 €/MWh"…
    listed = programmes.filter(pl.col("montant_probleme").is_not_null())
    assert listed.height == 4
    assert listed["montant_probleme"].str.starts_with("montant par période ou par unité ignoré : ").all()
    assert listed["montant_max"].null_count() == 4
    assert programmes["montant_max"].drop_nulls().max() <= 10_000_000
    assert programmes["taux_max"].drop_nulls().is_between(0, 100).all()


def test_real_culture_and_welcome_europe_amounts() -> None:
    culture = json.loads((AT_API / "ministere_de_la_culture_data.json").read_text(encoding="utf-8"))
    welcome = json.loads((AT_API / "welcom_europe_data.json").read_text(encoding="utf-8"))
    frame = pl.DataFrame(
        {"montants": [[i["amount"]] if i["amount"] else [] for i in culture] + [[i["banner_budget"]] for i in welcome]},
        schema={"montants": LIST},
    )
    got = normalise_amounts(frame)["montant_max"].to_list()
    # "2.200.000 € à répartir entre les bénéficiaires", "Min. 3.000 € par projet" (a floor), "3 530 000 euros"
    assert got[:3] == [None, 2_200_000.0, None]
    assert got[3] == 3_530_000.0


_STATED = st.from_regex(r"[a-z' ]{0,8}\d[\d ., ]{0,12} ?(k|M)?(€|%|euros)", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.lists(st.one_of(st.none(), st.text(max_size=40), _STATED), max_size=4)), max_size=20
    )
)
def test_never_raises_and_stays_in_range(rows: list[list[str | None] | None]) -> None:
    frame = pl.DataFrame({"montants": rows, "taux": rows}, schema={"montants": LIST, "taux": LIST})
    out = normalise_amounts(frame)
    assert out.height == len(rows)
    assert (out["montant_max"].drop_nulls() > 0).all()
    assert out["taux_max"].drop_nulls().is_between(0, 100).all()
