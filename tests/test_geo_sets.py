"""Exact geography: expressions evaluated as set algebra, published as the shortest codes."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.normalise.geo_sets import Cover, Territories, exact_geography

# Two régions: R1 (départements D1: communes 1-6, D2: 7-8) and R2 (D3: 9-10).
# EPCI A = {1, 2, 3}, B = {4, 5}, C = {7, 8, 9} (across D2 and D3); 6 and 10 in no EPCI.
_LAYOUT = {
    "REG-01": range(1, 9),
    "REG-02": range(9, 11),
    "DEP-01": range(1, 7),
    "DEP-02": range(7, 9),
    "DEP-03": range(9, 11),
    "EPCI-000000001": (1, 2, 3),
    "EPCI-000000002": (4, 5),
    "EPCI-000000003": (7, 8, 9),
}


def _territories() -> Territories:
    rows = [(f"COM-{c:05d}", f"{c:05d}") for c in range(1, 11)]
    rows += [(code, f"{c:05d}") for code, members in _LAYOUT.items() for c in members]
    rows += [("PAYS-99100", f"{c:05d}") for c in range(1, 11)]
    return Territories(pl.DataFrame(rows, schema={"code": pl.Utf8, "commune": pl.Utf8}, orient="row"))


T = _territories()


def _set(*communes: int) -> frozenset[int]:
    return frozenset(T.communes.index(f"{c:05d}") for c in communes)


def _place(niveau: str, code: str) -> dict:
    return {"lieu": {"niveau": niveau, "code": code, "nom": None}}


PLACES = {
    ("region", "01", None): ("REG-01",),
    ("epci", "A", None): ("EPCI-000000001",),
    ("epci", "C", None): ("EPCI-000000003",),
    ("commune", "00002", None): ("COM-00002",),
    ("epci", "inconnu", None): None,  # did not resolve
}


def test_all_of_a_region_and_a_list_of_epci_is_their_intersection():
    expression = {"toutes": [_place("region", "01"), {"une": [_place("epci", "A"), _place("epci", "C")]}]}
    sure, possible = T.evaluate(expression, PLACES)
    assert possible == sure == _set(1, 2, 3, 7, 8)  # commune 9 of C lies in the other région


def test_conditions_that_name_no_place_never_narrow_the_territory():
    expression = {"toutes": [_place("epci", "A"), {"autre": "vélo . électrique"}]}
    assert T.evaluate(expression, PLACES) == (frozenset(), _set(1, 2, 3))
    # "not applicable if income > X" excludes nothing; "not applicable in commune 2" excludes it
    assert T.evaluate({"toutes": [_place("epci", "A"), {"non": {"autre": "revenu"}}]}, PLACES)[1] == _set(1, 2, 3)
    assert T.evaluate({"toutes": [_place("epci", "A"), {"non": _place("commune", "00002")}]}, PLACES)[1] == _set(1, 3)
    # one alternative undecided: it may hold anywhere
    assert T.evaluate({"une": [_place("epci", "A"), {"autre": "abonné TER"}]}, PLACES)[1] == T.universe


def test_an_unresolved_place_is_undecided():
    assert T.evaluate(_place("epci", "inconnu"), PLACES) == (frozenset(), T.universe)


def test_cover_prefers_the_fewest_codes_and_gives_the_set_back():
    assert T.cover(T.universe) == Cover(("PAYS-99100",), ())
    assert T.cover(_set(1, 2, 3, 4, 5, 6, 7, 8)) == Cover(("REG-01",), ())
    assert T.cover(_set(1, 2, 3, 4, 5, 7, 8)) == Cover(("REG-01",), ("COM-00006",))
    assert T.cover(_set(1, 2, 3)) == Cover(("EPCI-000000001",), ())
    assert T.cover(_set(1, 2)) == Cover(("COM-00001", "COM-00002"), ())
    assert T.cover(_set(1, 2, 3, 4, 5, 6, 7, 8, 9)) == Cover(("EPCI-000000003", "REG-01"), ())  # a tie: no exclusion
    assert T.cover(frozenset()) == Cover((), ())


def test_a_one_department_region_or_a_one_commune_department_is_written_as_the_resolver_writes_it():
    # REG-02 is D3 alone here: France minus it is written with DEP-03, never REG-02
    rows = [(f"COM-{c:05d}", f"{c:05d}") for c in range(1, 5)]
    layout = {"REG-01": (1, 2, 3), "REG-02": (4,), "DEP-01": (1, 2), "DEP-02": (3,), "DEP-03": (4,)}
    rows += [(code, f"{c:05d}") for code, members in layout.items() for c in members]
    rows += [("PAYS-99100", f"{c:05d}") for c in range(1, 5)]
    small = Territories(pl.DataFrame(rows, schema={"code": pl.Utf8, "commune": pl.Utf8}, orient="row"))
    assert small.cover(frozenset({0, 1, 2})) == Cover(("REG-01",), ())
    assert small.cover(frozenset({3})) == Cover(("COM-00004",), ())
    assert small._exact(frozenset({2, 3})).inclusions == ("COM-00003", "COM-00004")


@settings(max_examples=300, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=10)))
def test_cover_always_gives_exactly_the_set_back(communes):
    target = _set(*communes)
    cover = T.cover(target)
    assert T.of_cover(cover) == target
    assert cover.cost <= max(1, len(target))  # never longer than the plain list of communes


def test_exact_geography_per_record_each_distinct_expression_once():
    import json

    expression = json.dumps({"toutes": [_place("region", "01"), _place("epci", "C")]})
    records = pl.DataFrame(
        {"record_key": ["s:a", "s:b", "s:c"], "geo_expression": [expression, expression, None]},
    )
    resolved = pl.DataFrame(
        [(k[0], k[1], k[2], "resolved" if v else "unresolved", list(v or ())) for k, v in PLACES.items()],
        schema={"niveau": pl.Utf8, "code": pl.Utf8, "nom": pl.Utf8, "status": pl.Utf8, "codes": pl.List(pl.Utf8)},
        orient="row",
    )
    exact = exact_geography(records, resolved, T)
    assert exact.to_dicts() == [
        {"record_key": key, "eligibilite_geographique": ["DEP-02"], "eligibilite_geographique_exclusions": []}
        for key in ("s:a", "s:b")
    ]
