"""Stated conditions → eligibility fields and built titles; a source's distinct aids stay distinct."""

from __future__ import annotations

import json

import polars as pl
import pytest
from paths import FIXTURES

from sources.adapters.publicodes import ALTERNATIVE, EXCLUSION, Applicability, stated_conditions
from sources.registry import load_specs
from warehouse.normalise import conditions
from warehouse.normalise.conditions import built_titles, distinct_titles, eligibility_fields, map_conditions
from warehouse.normalise.dedup import find_duplicates

CAEN = [
    "revenu fiscal de référence par part <= 15400 €/an",
    "vélo . état . neuf",
    ALTERNATIVE + "vélo . électrique",
    ALTERNATIVE + "vélo . motorisation",
]
CAEN_JEUNE = [
    "revenu fiscal de référence par part <= 15400 €/an",
    "demandeur . âge . de 18 à 25 ans",
    "vélo . mécanique simple",
    "vélo . état . occasion",
]
PARIS = [
    "demandeur . âge . majeur",
    ALTERNATIVE + "revenu fiscal de référence par part <= 10000 €/an",
    ALTERNATIVE + "vélo . adapté",
    EXCLUSION + "abonné TER",
    "a souscrit au service LOVELO",
]


def _records() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_key": ["aides-velo:caen", "aides-velo:caen jeune", "aides-velo:paris", "autre:x"],
            "source": ["aides-velo", "aides-velo", "aides-velo", "autre"],
            "titre": ["Ville de Caen", "Ville de Caen", "Ville de Paris", "Prime"],
            "porteurs": [["Ville de Caen"], ["Ville de Caen"], ["Ville de Paris"], ["Prime"]],
            "conditions": [CAEN, CAEN_JEUNE, PARIS, None],
        }
    )


def test_conditions_become_eligibility_fields_bounds_only_from_required_ones():
    mapped, unmapped = map_conditions(_records())
    fields = {row["record_key"]: row for row in eligibility_fields(mapped).to_dicts()}
    caen, jeune, paris = fields["aides-velo:caen"], fields["aides-velo:caen jeune"], fields["aides-velo:paris"]
    assert caen["objets_finances"] == ["kit d'électrification", "vélo électrique"]
    assert caen["etat_materiel"] == ["neuf"]
    assert (caen["plafond_rfr_par_part"], caen["plafond_rfr_periode"]) == (15400.0, "an")
    assert (jeune["age_min"], jeune["age_max"], jeune["etat_materiel"]) == (18, 25, ["occasion"])
    # Paris: the income ceiling and the adapted bike are alternatives of different kinds (an adapted
    # bike waives the ceiling): neither is published as a requirement nor as what the aid funds
    assert paris["plafond_rfr_par_part"] is None and paris["age_min"] == 18
    assert paris["objets_finances"] == []
    # what the table does not cover is listed, exclusions included, never dropped
    assert sorted(unmapped.filter(pl.col("record_key") == "aides-velo:paris")["valeur"]) == [
        "a souscrit au service LOVELO",
        EXCLUSION + "abonné TER",
    ]


def test_titles_are_built_from_the_conditions_for_publisher_named_aids_only():
    specs = load_specs()
    mapped, _ = map_conditions(_records())
    titles = dict(built_titles(_records(), mapped, specs).iter_rows())
    assert titles["aides-velo:caen"] == (
        "Aide à l'achat d'un vélo à assistance électrique ou d'un kit d'électrification — Ville de Caen"
    )
    assert titles["aides-velo:caen jeune"] == (
        "Aide à l'achat d'un vélo mécanique d'occasion pour les 18-25 ans — Ville de Caen"
    )
    assert titles["aides-velo:paris"] == "Aide à l'achat d'un vélo — Ville de Paris"
    assert "autre:x" not in titles  # its source declares no template


def test_amounts_that_vary_name_what_the_aid_funds_and_keep_their_condition():
    records = _records().with_columns(
        pl.Series("montants_variations", [["400 € si vélo . cargo électrique", "300 € sinon"], [], [], []])
    )
    mapped, unmapped = map_conditions(records)
    fields = {row["record_key"]: row for row in eligibility_fields(mapped).to_dicts()}
    assert "vélo cargo électrique" in fields["aides-velo:caen"]["objets_finances"]
    assert not unmapped.filter(pl.col("valeur").str.contains("cargo")).height  # read, not listed
    out = dict(conditions.conditional_amounts(records).select("record_key", "montants_conditionnels").iter_rows())
    assert out["aides-velo:caen"] == ["400 € si vélo cargo électrique", "300 € sinon"]
    assert out["autre:x"] == []


def test_titles_shared_within_a_territory_are_told_apart():
    aides = pl.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "titre": ["Aide vélo — Ville de Caen"] * 3 + ["Aide vélo — Ville de Caen"],
            "eligibilite_geographique": [["COM-14118"]] * 3 + [["COM-75056"]],
            "montant_max": [400.0, 50.0, 400.0, 400.0],
            "taux_max": [None, None, None, None],
        }
    )
    out = dict(distinct_titles(aides).select("id", "titre").iter_rows())
    assert out["b"] == "Aide vélo — Ville de Caen — 50 €"
    assert {out["a"], out["c"]} == {
        "Aide vélo — Ville de Caen — 400 €",
        "Aide vélo — Ville de Caen — 400 € — variante 2",
    }
    assert out["d"] == "Aide vélo — Ville de Caen"  # another territory: nothing to tell apart
    assert len(set(out.values())) == 4


def test_a_table_row_outside_the_vocabulary_is_an_error_naming_its_line(tmp_path, monkeypatch):
    (tmp_path / "conditions.csv").write_text(
        "source,motif,champ,valeur,phrase\naides-velo,vélo \\. électrique,objets_finances,trottinette,\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(conditions, "VOCAB_DIR", tmp_path)
    conditions.condition_table.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"conditions.csv, ligne 2 : valeur 'trottinette'"):
            conditions.condition_table()
    finally:
        conditions.condition_table.cache_clear()


def test_the_shipped_table_reads():
    assert len(conditions.condition_table()) > 30


def test_publicodes_conditions_keep_their_structure():
    model = json.loads((FIXTURES / "aides-velo" / "model.json").read_text(encoding="utf-8"))
    applicability = Applicability(model, ("localisation",), "aides")
    expression = applicability.of_rule("aides . region centre")
    assert "toutes" in expression  # région AND (…), not a union of the places mentioned
    rule = model["aides . paris"]
    stated = stated_conditions(rule, ("localisation",))
    assert stated and not any("localisation" in text for text in stated)


def _dedup_input(content: list[str | None], sources: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_key": [f"{s}:{i}" for i, s in enumerate(sources)],
            "source": sources,
            "precedence": [50] * len(sources),
            "titre": ["Aide à l'achat d'un vélo — Ville de Caen"] * len(sources),
            "porteurs": [["Ville de Caen"]] * len(sources),
            "geo_key": ["COM-14118/"] * len(sources),
            "url": ["https://caen.fr/velo-pied"] * len(sources),
            "content_key": content,
        }
    )


def test_two_records_of_one_source_merge_only_when_they_state_the_same_aid():
    distinct = find_duplicates(_dedup_input(["1", "2"], ["aides-velo", "aides-velo"]))
    assert distinct.clusters["cluster_key"].n_unique() == 2 and distinct.review.height == 0
    copies = find_duplicates(_dedup_input(["1", "1"], ["aides-territoires", "aides-territoires"]))
    assert copies.clusters["cluster_key"].n_unique() == 1
    # across sources the content does not decide: the same page and title still merge
    across = find_duplicates(_dedup_input(["1", "2"], ["aides-velo", "ville-caen"]))
    assert across.clusters["cluster_key"].n_unique() == 1
    # nor does a chain through another source join two distinct aids of one source
    chain = find_duplicates(_dedup_input(["1", "2", "3"], ["aides-velo", "ville-caen", "aides-velo"]))
    by_key = dict(chain.clusters.iter_rows())
    assert by_key["aides-velo:0"] != by_key["aides-velo:2"]


def test_a_row_in_the_schema_format_keeps_the_fields_it_states():
    """A collectivité's file (or any dispositif-aide CSV) may fill the eligibility columns: they
    reach the catalogue through the conditions, a value outside a field's vocabulary is listed."""
    from sources.adapters.dispositif_aide_csv import eligibility_of

    stated = eligibility_of(
        {
            "objets_finances": "vélo électrique|trottinette",
            "age_min": "16",
            "plafond_rfr_par_part": "1200",
            "plafond_rfr_periode": "mois",
            "plafond_depense": "2000",
            "montants_conditionnels": "400 € si vélo cargo électrique|300 € sinon",
        }
    )
    assert stated["plafonds_depense"] == ["2000 €"]
    assert stated["montants_variations"] == ["400 € si vélo cargo électrique", "300 € sinon"]
    records = pl.DataFrame(
        {
            "record_key": ["soumissions-collectivites:1"],
            "source": ["soumissions-collectivites"],
            "conditions": [stated["conditions"]],
        }
    )
    mapped, unmapped = map_conditions(records)
    fields = eligibility_fields(mapped).to_dicts()[0]
    assert fields["objets_finances"] == ["vélo électrique"] and fields["age_min"] == 16
    assert (fields["plafond_rfr_par_part"], fields["plafond_rfr_periode"]) == (1200.0, "mois")
    assert unmapped["valeur"].to_list() == ["objets_finances : trottinette"]
