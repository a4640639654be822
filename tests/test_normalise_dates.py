"""Dates and timestamps: every form real feeds use, impossible and unreadable values, and
the day/month swaps of the Mission transition écologique export, found against its YAML."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from normalise_test_helpers import blank
from paths import AT_API, MTE

from warehouse.normalise.dates import (
    normalise_dates,
    normalise_timestamps,
    parse_date,
    parse_timestamp,
    swapped_day_month,
)


def _dates(values: list[str | None]) -> list[tuple[date | None, str | None]]:
    frame = pl.DataFrame({"d": values}, schema={"d": pl.String})
    out = frame.select(parse_date("d"))
    return list(zip(out["d"].to_list(), out["d_probleme"].to_list(), strict=False))


def _timestamps(values: list[str | None]) -> list[tuple[datetime | None, str | None]]:
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    out = frame.select(parse_timestamp("t"))
    return list(zip(out["t"].to_list(), out["t_probleme"].to_list(), strict=False))


@pytest.mark.parametrize(
    ("stated", "expected"),
    [
        ("31/12/2025", date(2025, 12, 31)),
        ("1/3/2024", date(2024, 3, 1)),
        ("01-03-2024", date(2024, 3, 1)),
        ("01.03.2024", date(2024, 3, 1)),
        ("  15/01/2024 ", date(2024, 1, 15)),
        ("2024-01-15", date(2024, 1, 15)),
        ("20230112", date(2023, 1, 12)),
        # an offset other than UTC: the local date as written, even late in the evening
        ("2024-09-30T23:59:59+02:00", date(2024, 9, 30)),
        ("2024-01-01T00:30:00-05:00", date(2024, 1, 1)),
        ("2024-03-01 00:00:00+01:00", date(2024, 3, 1)),
        # UTC instants stand for Paris dates: summer (+2) and winter (+1)
        ("2023-06-01T22:00:00.000Z", date(2023, 6, 2)),
        ("2023-12-31T23:00:00Z", date(2024, 1, 1)),
        ("2023-03-25T23:00:00Z", date(2023, 3, 26)),  # the night before summer time: +1
        ("2023-03-26T22:00:00Z", date(2023, 3, 27)),  # first summer evening: +2
        ("2023-03-26T21:59:59Z", date(2023, 3, 26)),
        ("2023-10-28T21:59:59Z", date(2023, 10, 28)),
        ("2023-10-29T23:00:00Z", date(2023, 10, 30)),  # back to winter time
        ("2025-03-12T09:41:00+00:00", date(2025, 3, 12)),  # a zero offset is UTC too
        ("2024-06-30T22:00:00+00:00", date(2024, 7, 1)),
        # malformed forms of real feeds
        ("2022-07-28T11: 40: 47+02: 00", date(2022, 7, 28)),
        ("2023-08-04T02: 30: 18.000Z", date(2023, 8, 4)),
        ("2024-01-11T16: 08: 40.000Z", date(2024, 1, 11)),
        # French words and RSS pubDate
        ("31 décembre 2025", date(2025, 12, 31)),
        ("1er mars 2024", date(2024, 3, 1)),
        ("15 AOUT 2022", date(2022, 8, 15)),
        ("lundi 3 mars 2025", date(2025, 3, 3)),
        ("3 févr. 2025", date(2025, 2, 3)),
        ("Mon, 13 Jan 25 10:12:44 +0100", date(2025, 1, 13)),
        ("Tue, 04 Feb 2025 23:30:00 GMT", date(2025, 2, 5)),  # GMT is UTC: Paris date
    ],
)
def test_stated_forms_become_dates(stated: str, expected: date) -> None:
    assert _dates([stated]) == [(expected, None)]


@pytest.mark.parametrize(
    ("stated", "reason"),
    [
        ("31/02/2024", "date impossible : 31/02/2024"),
        ("2024-13-01", "date impossible : 2024-13-01"),
        ("2023-02-29", "date impossible : 2023-02-29"),
        ("32 janvier 2024", "date impossible : 32 janvier 2024"),
        ("2024-01-01T25:00:00Z", "date impossible : 2024-01-01T25:00:00Z"),
        ("9999-12-31", "date impossible : 9999-12-31"),
        ("2024-01-01T10:00:00+25:00", "date impossible : 2024-01-01T10:00:00+25:00"),
        ("bientôt", "date illisible : bientôt"),
        ("2024", "date illisible : 2024"),
        ("12/2024", "date illisible : 12/2024"),
        ("Toute l'année", "date illisible : Toute l'année"),
    ],
)
def test_bad_dates_are_null_with_a_french_reason(stated: str, reason: str) -> None:
    assert _dates([stated]) == [(None, reason)]


def test_empty_values_are_null_without_reason() -> None:
    assert _dates([None, "", "   ", "\t\n"]) == [(None, None)] * 4


def test_leap_day_is_possible() -> None:
    assert _dates(["29/02/2024"]) == [(date(2024, 2, 29), None)]


def test_timestamps_are_utc_instants() -> None:
    utc = UTC
    got = _timestamps(
        [
            "2023-06-01T22:00:00.000Z",
            "2022-07-28T11: 40: 47+02: 00",
            "2025-10-06T13:54:53.599Z",
            "2024-01-15",  # a date alone: Paris midnight
            "15/07/2024 14:30",  # Paris wall time in summer
            "Mon, 13 Jan 25 10:12:44 +0100",
            "2024-10-27T02:30:00",  # autumn: ambiguous hour, earlier instant
            "2024-03-31T02:30:00",  # spring: missing hour, winter offset
            "31/02/2024",
            "",
        ]
    )
    assert got == [
        (datetime(2023, 6, 1, 22, 0, tzinfo=utc), None),
        (datetime(2022, 7, 28, 9, 40, 47, tzinfo=utc), None),
        (datetime(2025, 10, 6, 13, 54, 53, 599000, tzinfo=utc), None),
        (datetime(2024, 1, 14, 23, 0, tzinfo=utc), None),
        (datetime(2024, 7, 15, 12, 30, tzinfo=utc), None),
        (datetime(2025, 1, 13, 9, 12, 44, tzinfo=utc), None),
        (datetime(2024, 10, 27, 0, 30, tzinfo=utc), None),
        (datetime(2024, 3, 31, 1, 30, tzinfo=utc), None),
        (None, "date impossible : 31/02/2024"),
        (None, None),
    ]


def test_normalise_dates_replaces_columns_and_adds_reasons() -> None:
    frame = pl.DataFrame(
        {
            "date_ouverture": ["01/02/2024", "31/02/2024", None],
            "date_cloture": ["2024-12-31T23:00:00Z", "n/a", ""],
            "autre": [1, 2, 3],
        }
    )
    out = normalise_dates(frame, ["date_ouverture", "date_cloture"])
    assert out.columns == [
        "date_ouverture",
        "date_cloture",
        "autre",
        "date_ouverture_probleme",
        "date_cloture_probleme",
    ]
    assert out.schema["date_ouverture"] == pl.Date and out.schema["date_cloture"] == pl.Date
    assert out["date_ouverture"].to_list() == [date(2024, 2, 1), None, None]
    assert out["date_cloture"].to_list() == [date(2025, 1, 1), None, None]
    assert out["date_ouverture_probleme"].to_list() == [None, "date impossible : 31/02/2024", None]
    assert out["date_cloture_probleme"].to_list() == [None, "date illisible : n/a", None]


def test_normalise_timestamps_is_utc_aware() -> None:
    out = normalise_timestamps(pl.DataFrame({"date_mise_a_jour": ["2023-08-04T02: 30: 18.000Z"]}), ["date_mise_a_jour"])
    assert out.schema["date_mise_a_jour"] == pl.Datetime("us", "UTC")
    assert out["date_mise_a_jour"][0] == datetime(2023, 8, 4, 2, 30, 18, tzinfo=UTC)


def test_swapped_day_month() -> None:
    frame = pl.DataFrame(
        {
            "a": [date(2023, 6, 2), date(2023, 6, 2), date(2023, 6, 2), date(2023, 1, 1), date(2023, 6, 2), None],
            "b": [
                date(2023, 2, 6),
                date(2023, 6, 2),
                date(2024, 2, 6),
                date(2023, 1, 1),
                date(2023, 2, 7),
                date(2023, 2, 6),
            ],
        }
    )
    flags = frame.select(swapped_day_month(pl.col("a"), pl.col("b")))
    assert flags.to_series().to_list() == [True, False, False, False, False, False]


# -- the Mission transition écologique export against its programme files ------------------------


@pytest.fixture(scope="module")
def mte_pairs() -> pl.DataFrame:
    """One row per aid of the CSV: its dates as exported, and the YAML's ``début/fin de validité``."""
    export = pl.read_csv(MTE / "data_gouv_export.csv", infer_schema=False)
    assert export.height == 190
    export = export.with_columns(pl.col("url_source").str.extract(r"/aides-entreprise/([^/?#]+)", 1).alias("slug"))
    programmes = []
    for slug in export["slug"].to_list():
        data = yaml.safe_load((MTE / "programs" / f"{slug}.yaml").read_text(encoding="utf-8"))
        programmes.append(
            {
                "slug": slug,
                "yaml_ouverture": _yaml_text(data.get("début de validité")),
                "yaml_cloture": _yaml_text(data.get("fin de validité")),
            }
        )
    return export.join(
        pl.DataFrame(programmes, schema={"slug": pl.String, "yaml_ouverture": pl.String, "yaml_cloture": pl.String}),
        on="slug",
        how="left",
    )


def _yaml_text(value: object) -> str | None:
    return None if value is None else str(value)


def test_mte_export_dates_all_parse(mte_pairs: pl.DataFrame) -> None:
    parsed = normalise_dates(mte_pairs, ["date_ouverture", "date_cloture", "yaml_ouverture", "yaml_cloture"])
    problems = parsed.select(pl.col("^.*_probleme$")).unpivot().drop_nulls("value")
    assert problems.height == 0, problems
    stamps = normalise_timestamps(mte_pairs, ["date_mise_a_jour"])
    assert stamps["date_mise_a_jour_probleme"].null_count() == 190
    assert stamps["date_mise_a_jour"].null_count() == 0


def test_mte_swapped_opening_and_closing_dates_are_found(mte_pairs: pl.DataFrame) -> None:
    parsed = normalise_dates(mte_pairs, ["date_ouverture", "date_cloture", "yaml_ouverture", "yaml_cloture"])
    flagged = parsed.with_columns(
        swapped_day_month(pl.col("date_ouverture"), pl.col("yaml_ouverture")).alias("ouverture_inversee"),
        swapped_day_month(pl.col("date_cloture"), pl.col("yaml_cloture")).alias("cloture_inversee"),
        (pl.col("date_ouverture") == pl.col("yaml_ouverture")).fill_null(False).alias("ouverture_egale"),
    )
    opening = set(flagged.filter("ouverture_inversee")["slug"])
    closing = set(flagged.filter("cloture_inversee")["slug"])
    # The export read DD/MM as MM/DD: "06/02/2023" became 2 June 2023 (2023-06-01T22:00:00.000Z).
    assert {"accelerateur-decarbonation", "label-clef-verte", "climadiag-expert", "communaute-coq-vert"} <= opening
    assert "climadiag-expert" in closing
    assert len(opening) == 18 and len(closing) == 10
    # every flagged pair is a genuine swap with a day ≤ 12, and the other stated openings agree
    for row in flagged.filter("ouverture_inversee").iter_rows(named=True):
        a, b = row["date_ouverture"], row["yaml_ouverture"]
        assert (a.month, a.day) == (b.day, b.month) and b.day <= 12
    both = flagged.filter(pl.col("date_ouverture").is_not_null() & pl.col("yaml_ouverture").is_not_null())
    assert both.height == 73 and both.filter("ouverture_egale").height == 54
    # the one other difference is a different year (the YAML moved on), a conflict but not a swap
    other = both.filter(~pl.col("ouverture_inversee") & ~pl.col("ouverture_egale"))
    assert other["slug"].to_list() == ["amelioration-qualite-de-l-air"]
    # "baisse-les-watts" closes on 01/03/2026 in YAML and 5 January in the export: not a swap either
    assert "baisse-les-watts" not in closing


def test_mte_swaps_need_the_paris_conversion(mte_pairs: pl.DataFrame) -> None:
    """Taking the UTC date as written (2023-06-01) would hide every swap and every equality."""
    naive = mte_pairs.with_columns(
        pl.col("date_ouverture").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias("utc_date"),
    )
    naive = normalise_dates(naive, ["yaml_ouverture"])
    swaps = naive.select(swapped_day_month(pl.col("utc_date"), pl.col("yaml_ouverture")).sum()).item()
    assert swaps == 0


# -- aides-territoires payloads: malformed timestamps ----------------------------------------------


def test_culture_malformed_timestamps() -> None:
    items = json.loads((AT_API / "ministere_de_la_culture_data.json").read_text(encoding="utf-8"))
    frame = pl.DataFrame(
        [
            {"creation": i["creationDate"], "modification": i["modificationDate"], "deadline": i["deadline"]}
            for i in items
        ],
        schema={"creation": pl.String, "modification": pl.String, "deadline": pl.String},
    )
    assert frame["creation"][0] == "2022-07-28T11: 40: 47+02: 00"
    stamps = normalise_timestamps(frame, ["creation", "modification"])
    assert stamps["creation_probleme"].null_count() == len(items)
    assert stamps["creation"][0] == datetime(2022, 7, 28, 9, 40, 47, tzinfo=UTC)
    assert stamps["modification"][0] == datetime(2022, 7, 28, 9, 43, 35, tzinfo=UTC)
    dates = normalise_dates(frame, ["creation", "deadline"])
    assert dates["creation"].to_list()[0] == date(2022, 7, 28)
    # deadlines in words: "15 avril 2022", "15 août 2022"
    assert dates["deadline"].to_list() == [None, date(2022, 4, 15), date(2022, 8, 15)]
    assert dates["deadline_probleme"].null_count() == len(items)


def test_manche_malformed_timestamps() -> None:
    items = json.loads((AT_API / "departement_manche_data.json").read_text(encoding="utf-8"))["aides"]
    values = [i[k] for i in items for k in ("date_created", "date_updated") if i.get(k)]
    malformed = [v for v in values if re.search(r":\s", v)]
    assert malformed  # "2023-08-04T02: 30: 18.000Z"
    stamps = _timestamps(values)
    assert all(instant is not None and reason is None for instant, reason in stamps)
    index = values.index("2023-08-04T02: 30: 18.000Z")
    assert stamps[index][0] == datetime(2023, 8, 4, 2, 30, 18, tzinfo=UTC)


def test_welcome_europe_compact_dates() -> None:
    items = json.loads((AT_API / "welcom_europe_data.json").read_text(encoding="utf-8"))
    got = _dates([i["deadline1"] for i in items])
    assert got[0] == (date(2023, 1, 12), None)
    assert all(reason is None for _, reason in got)


# -- never raises ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=40),
            st.from_regex(r"\d{1,4}[-/. :T]\d{1,2}[-/. :T]\d{1,4}.{0,12}", fullmatch=True),
        ),
        max_size=30,
    )
)
def test_parse_never_raises_and_explains_every_failure(values: list[str | None]) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    out = frame.select(*parse_date("v"), *[e.alias(f"t_{i}") for i, e in enumerate(parse_timestamp("v"))])
    for stated, day, reason, instant, t_reason in zip(
        values, out["v"], out["v_probleme"], out["t_0"], out["t_1"], strict=False
    ):
        if blank(stated):
            assert (day, reason, instant, t_reason) == (None, None, None, None)
        else:
            assert (day is None) != (reason is None)
            assert (instant is None) != (t_reason is None)
            if reason is not None:
                assert reason.startswith(("date impossible : ", "date illisible : "))


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_any_real_date_round_trips_in_every_numeric_form(day: date) -> None:
    forms = [
        day.strftime("%d/%m/%Y"),
        f"{day.day}/{day.month}/{day.year}",
        day.isoformat(),
        day.strftime("%d.%m.%Y"),
        day.strftime("%Y%m%d"),
        f"{day.isoformat()}T12:00:00+02:00",
    ]
    assert _dates(forms) == [(day, None)] * len(forms)
