"""The geography resolver (warehouse/normalise/geography.py).

Hermetic tests check the name normaliser and the resolution rules on a small
hand-written referential; tests marked ``registry`` build the real COG referential once
per session (through the npm client) and check real inputs, including every geography
mention of the real @betagouv/aides-velo and mesaidesreno packages.
"""

from __future__ import annotations

import csv
import re
import time

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from warehouse_test_helpers import warehouse_with_referential

from schemas import GEO_CODE_PATTERN
from warehouse.db import connect_reader
from warehouse.normalise.geography import (
    AMBIGUOUS,
    MENTION_LEVELS,
    RESOLVED,
    UNRESOLVED,
    GeoContext,
    GeoResolver,
    Resolution,
    epci_core,
    epci_key,
    normalise_name,
    split_list,
    strip_designation,
)
from warehouse.normalise.vocabulary import VOCAB_DIR
from warehouse.settings import WarehousePaths

METRO_REGIONS = ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94")
VOCAB = VOCAB_DIR
ONE_CODE = re.compile(GEO_CODE_PATTERN)

# --------------------------------------------------------------------------- normaliser (hermetic)


@pytest.mark.parametrize(
    ("variants", "key"),
    [
        (
            ["Saint-Étienne", "SAINT ETIENNE", "saint étienne", "St-Etienne", "St Étienne", "  Saint -  Étienne "],
            "saint etienne",
        ),
        (["Sainte-Foy-lès-Lyon", "Ste Foy les Lyon", "STE-FOY-LÈS-LYON"], "sainte foy lyon"),
        (["Côte-d'Or", "Côte d’Or", "cote d or", "COTE-D'OR"], "cote or"),
        (["L'Haÿ-les-Roses", "L’Haÿ les Roses", "l hay les roses"], "hay roses"),
        (["Île-de-France", "ile de france", "ÎLE-DE-FRANCE", "Ile-de-France"], "ile france"),
        (["Cœuvres-et-Valsery", "Coeuvres et Valsery"], "coeuvres et valsery"),
        (["Romilly s/ Seine", "Romilly-sur-Seine"], "romilly sur seine"),
        (["La Rochelle", "Rochelle", "la  rochelle"], "rochelle"),
    ],
)
def test_name_variants_share_one_key(variants, key):
    assert {normalise_name(variant) for variant in variants} == {key}


def test_articles_are_dropped_everywhere_but_other_words_are_kept():
    assert normalise_name("Communauté de communes des Monts du Pilat") == "communaute communes monts pilat"
    assert normalise_name("Mairie d'Angers") == "mairie angers"
    assert normalise_name("Les Sables-d'Olonne") == "sables olonne"
    assert normalise_name("Saint-Martin-en-Haut") == "saint martin en haut"  # "en" is not an article
    assert normalise_name("Paris 1er Arrondissement") == "paris 1er arrondissement"
    assert normalise_name("") == normalise_name("  ") == normalise_name("l' de la") == ""


def test_epci_type_prefixes_are_read_in_their_long_and_short_forms():
    for long, short in [
        ("Communauté de communes des Monts du Pilat", "CC des Monts du Pilat"),
        ("Communauté d'agglomération Val Parisis", "CA Val Parisis"),
        ("Communauté urbaine de Dunkerque", "CU de Dunkerque"),
    ]:
        assert epci_key(normalise_name(long)) == epci_key(normalise_name(short))
    assert epci_key(normalise_name("CC des Monts du Pilat")) == "cc monts pilat"
    assert epci_core(normalise_name("CC des Monts du Pilat")) == "monts pilat"
    assert epci_core(normalise_name("Bordeaux Métropole")) == "bordeaux metropole"
    # only a leading type phrase is rewritten
    assert (
        epci_key(normalise_name("CC Grand Orb Communauté de Communes en Languedoc"))
        == "cc grand orb communaute communes en languedoc"
    )


def test_designations_give_the_name_and_its_level():
    assert strip_designation(normalise_name("Ville de Caen")) == ("caen", "commune")
    assert strip_designation(normalise_name("Mairie d'Angers")) == ("angers", "commune")
    assert strip_designation(normalise_name("Conseil départemental de la Manche")) == ("manche", "departement")
    assert strip_designation(normalise_name("Département de la Drôme")) == ("drome", "departement")
    assert strip_designation(normalise_name("Conseil régional de Bretagne")) == ("bretagne", "region")
    assert strip_designation(normalise_name("Région Île-de-France")) == ("ile france", "region")
    assert strip_designation(normalise_name("Caen")) is None
    assert strip_designation(normalise_name("Ville")) is None  # nothing left to name


def test_lists_split_on_commas_semicolons_and_pipes_only():
    assert split_list("Landes, Nouvelle-Aquitaine, Occitanie") == ["Landes", "Nouvelle-Aquitaine", "Occitanie"]
    assert split_list("COM-01004|COM-01005") == ["COM-01004", "COM-01005"]
    assert split_list("Gironde ; Landes") == ["Gironde", "Landes"]
    assert split_list("France et territoires d'outre-mer") == ["France et territoires d'outre-mer"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_normaliser_is_idempotent_and_plain_ascii(text):
    key = normalise_name(text)
    assert normalise_name(key) == key
    assert re.fullmatch(r"([a-z0-9]+( [a-z0-9]+)*)?", key)


# --------------------------------------------------------------------------- rules on a small referential (hermetic)


def small_resolver() -> GeoResolver:
    """A hand-written referential with the cases the rules are about (real codes and names)."""
    return GeoResolver(
        communes=[
            ("14118", "Caen", "211401187", "14", "28"),
            ("49007", "Angers", "214900078", "49", "52"),
            ("93066", "Saint-Denis", "219300662", "93", "11"),
            ("97411", "Saint-Denis", "219740115", "974", "04"),
            ("75056", "Paris", "217500016", "75", "11"),
            ("13001", "Aix-en-Provence", "211300017", "13", "93"),
            ("13055", "Marseille", "211300553", "13", "93"),
            ("01004", "Ambérieu-en-Bugey", "210100046", "01", "84"),
            ("01001", "L'Abergement-Clémenciat", "210100012", "01", "84"),
            ("01093", "Châtillon-sur-Chalaronne", "210100939", "01", "84"),
            ("17202", "Landes", "211702024", "17", "75"),
            ("40192", "Mont-de-Marsan", "214001923", "40", "75"),
            ("97502", "Saint-Pierre", None, "975", "975"),
            ("2A004", "Ajaccio", "212000046", "2A", "94"),
            ("50129", "Cherbourg-en-Cotentin", "200067205", "50", "28"),
            ("26362", "Valence", "212603625", "26", "84"),
        ],
        rattachees=[
            ("75101", "Paris 1er Arrondissement", "arrondissement-municipal", "75056"),
            ("13201", "Marseille 1er Arrondissement", "arrondissement-municipal", "13055"),
            ("50602", "Tourlaville", "commune-deleguee", "50129"),
            ("01278", None, "ancien-code", "01004"),
        ],
        codes_postaux=[
            ("14000", "14118"),
            ("49000", "49007"),
            ("93200", "93066"),
            ("97400", "97411"),
            ("75001", "75056"),
            ("13100", "13001"),
            ("13001", "13055"),
            ("01500", "01004"),
            ("01400", "01001"),
            ("01400", "01093"),
            ("17800", "17202"),
            ("40000", "40192"),
            ("97500", "97502"),
            ("20000", "2A004"),
            ("50100", "50129"),
            ("26000", "26362"),
        ],
        epci=[
            ("244200622", "CC des Monts du Pilat", "CC"),
            ("200046977", "Métropole de Lyon", "MET69"),
            ("200065597", "CU Caen la Mer", "CU"),
            ("200058485", "CA Val Parisis", "CA"),
        ],
        epci_membres=[("200065597", "14118")],
        departements=[
            ("14", "Calvados", "28", "metro"),
            ("49", "Maine-et-Loire", "52", "metro"),
            ("93", "Seine-Saint-Denis", "11", "metro"),
            ("974", "La Réunion", "04", "drom"),
            ("75", "Paris", "11", "metro"),
            ("13", "Bouches-du-Rhône", "93", "metro"),
            ("01", "Ain", "84", "metro"),
            ("17", "Charente-Maritime", "75", "metro"),
            ("40", "Landes", "75", "metro"),
            ("975", "Saint-Pierre-et-Miquelon", "975", "com"),
            ("2A", "Corse-du-Sud", "94", "metro"),
            ("50", "Manche", "28", "metro"),
            ("26", "Drôme", "84", "metro"),
        ],
        regions=[
            ("28", "Normandie", "metro"),
            ("52", "Pays de la Loire", "metro"),
            ("11", "Île-de-France", "metro"),
            ("04", "La Réunion", "drom"),
            ("93", "Provence-Alpes-Côte d'Azur", "metro"),
            ("84", "Auvergne-Rhône-Alpes", "metro"),
            ("75", "Nouvelle-Aquitaine", "metro"),
            ("975", "Saint-Pierre-et-Miquelon", "com"),
            ("94", "Corse", "metro"),
            ("76", "Occitanie", "metro"),
        ],
        pays=[("99100", "France"), ("99138", "Monaco"), ("1234", "Nulle part")],
        aliases=[
            ("Grand Lyon", "EPCI-200046977", ""),
            ("Région Sud", "REG-93", ""),
            ("France métropolitaine", "REG-11", ""),
            ("France métropolitaine", "REG-28", ""),
            ("Ailleurs", "EPCI-999999999", "code absent : laissé de côté"),
        ],
    )


SMALL = small_resolver()


def assert_resolved(result: Resolution, codes: list[str], *flags: str) -> None:
    assert (result.status, list(result.codes)) == (RESOLVED, codes), result
    assert result.candidates == ()
    for flag in flags:
        assert flag in result.flags, result


@pytest.mark.parametrize(
    ("text", "niveau", "codes", "flags"),
    [
        ("14118", None, ["COM-14118"], ()),
        ("COM-14118", None, ["COM-14118"], ()),
        ("com 14118", None, ["COM-14118"], ()),
        ("1004", None, ["COM-01004"], ("code_sans_zero",)),
        ("COM-1004", None, ["COM-01004"], ("code_sans_zero",)),
        ("75101", None, ["COM-75056"], ("arrondissement_municipal",)),
        ("13201", "commune", ["COM-13055"], ("arrondissement_municipal",)),
        ("50602", None, ["COM-50129"], ("commune_deleguee",)),
        ("01278", None, ["COM-01004"], ("ancien_code",)),
        ("2A004", None, ["COM-2A004"], ()),
        ("2a", None, ["DEP-2A"], ()),
        ("DEP-2A", None, ["DEP-2A"], ()),
        ("1", "departement", ["DEP-01"], ("code_sans_zero",)),
        ("93", None, ["DEP-93"], ()),
        ("93", "region", ["REG-93"], ()),
        ("975", None, ["DEP-975"], ()),
        ("COM-975", None, ["DEP-975"], ("collectivite_outre_mer",)),
        ("REG-975", None, ["DEP-975"], ("collectivite_outre_mer",)),
        ("COM-974", None, ["DEP-974"], ("code_departement",)),
        ("200046977", None, ["EPCI-200046977"], ()),
        ("EPCI-200065597", None, ["EPCI-200065597"], ()),
        ("211401187", None, ["COM-14118"], ("siren_commune",)),
        ("EPCI-211401187", None, ["COM-14118"], ("siren_commune",)),
        ("21140118700017", None, ["COM-14118"], ("siret", "siren_commune")),
        ("200 046 977", None, ["EPCI-200046977"], ()),
        ("14000", None, ["COM-14118"], ("code_postal",)),
        ("13001", "commune", ["COM-13001"], ()),
        ("13001", "code_postal", ["COM-13055"], ("code_postal",)),
        ("01400", None, ["COM-01001", "COM-01093"], ("code_postal", "code_postal_partage")),
        ("PAYS-99138", None, ["PAYS-99138"], ()),
        ("99138", None, ["PAYS-99138"], ()),
    ],
)
def test_codes(text, niveau, codes, flags):
    assert_resolved(SMALL.resolve(text, niveau), codes, *flags)


def test_an_insee_code_that_is_also_another_communes_postal_code_is_ambiguous_without_a_level():
    result = SMALL.resolve("13001")
    assert result.status == AMBIGUOUS and result.codes == ()
    assert set(result.candidates) == {"COM-13001", "COM-13055"}
    assert "Aix-en-Provence" in result.reason and "Marseille" in result.reason and "code postal" in result.reason


@pytest.mark.parametrize(
    ("text", "niveau", "reason_part"),
    [
        ("COM-99999", None, "99999"),
        ("99999", None, "ni un code INSEE ni un code postal"),
        ("EPCI-123456789", None, "ni un EPCI ni une commune"),
        ("DEP-99", None, "département 99"),
        ("REG-12", None, "région 12"),
        ("PAYS-99999", None, "pays.csv"),
        ("", None, "vide"),
        ("   ", None, "vide"),
        ("Caen", "canton", "niveau géographique inconnu"),
    ],
)
def test_unknown_codes_are_unresolved_with_their_reason(text, niveau, reason_part):
    result = SMALL.resolve(text, niveau)
    assert result.status == UNRESOLVED and result.codes == ()
    assert reason_part in result.reason


def test_a_code_at_another_level_than_stated_is_only_proposed():
    result = SMALL.resolve("14118", "epci")
    assert result.status == AMBIGUOUS and result.candidates == ("COM-14118",)
    assert "niveau_different" in result.flags and "EPCI" in result.reason
    not_postal = SMALL.resolve("14118", "code_postal")
    assert not_postal.status == AMBIGUOUS and not_postal.candidates == ("COM-14118",)


@pytest.mark.parametrize(
    ("text", "niveau", "codes", "flags"),
    [
        ("Ville de Caen", None, ["COM-14118"], ()),
        ("Mairie d'Angers", None, ["COM-49007"], ()),
        ("Mairie d’Angers", None, ["COM-49007"], ()),
        ("Commune de Caen", "commune", ["COM-14118"], ()),
        ("CC des Monts du Pilat", "epci", ["EPCI-244200622"], ()),
        ("Communauté de communes des Monts du Pilat", None, ["EPCI-244200622"], ()),
        ("Monts du Pilat", "epci", ["EPCI-244200622"], ()),
        ("CA des Monts du Pilat", None, ["EPCI-244200622"], ("type_epci_different",)),
        ("Caen la Mer", None, ["EPCI-200065597"], ()),
        ("Communauté urbaine Caen la Mer", None, ["EPCI-200065597"], ()),
        ("Métropole de Lyon", None, ["EPCI-200046977"], ()),
        ("Grand Lyon", None, ["EPCI-200046977"], ("alias",)),
        ("Drôme (Département)", None, ["DEP-26"], ()),
        ("Département de la Drôme", None, ["DEP-26"], ()),
        ("Conseil départemental de la Manche", None, ["DEP-50"], ()),
        ("Région Sud", None, ["REG-93"], ("alias",)),
        ("Région Île-de-France", None, ["REG-11"], ()),
        ("REGION ILE DE FRANCE", None, ["REG-11"], ()),
        ("Conseil régional de Normandie", None, ["REG-28"], ()),
        ("France", "pays", ["PAYS-99100"], ()),
        ("Monaco", None, ["PAYS-99138"], ()),
        ("France métropolitaine", None, ["REG-11", "REG-28"], ("alias",)),
        ("Paris 1er", None, ["COM-75056"], ("arrondissement_municipal",)),
        ("Tourlaville", None, ["COM-50129"], ("commune_deleguee",)),
        ("Saint-Pierre-et-Miquelon", None, ["DEP-975"], ()),
        ("01400 Châtillon-sur-Chalaronne", None, ["COM-01093"], ()),
        ("Saint-Denis (974)", None, ["COM-97411"], ("contexte",)),
        ("974 - Saint-Denis", None, ["COM-97411"], ("contexte",)),
        ("Saint-Denis (La Réunion)", None, ["COM-97411"], ("contexte",)),
        ("Saint-Denis (Île-de-France)", None, ["COM-93066"], ("contexte",)),
        ("Caen 14000", None, ["COM-14118"], ()),
        ("Département 93", None, ["DEP-93"], ()),
        ("93 - Seine-Saint-Denis", None, ["DEP-93"], ()),
        ("Région 975", None, ["DEP-975"], ()),
    ],
)
def test_names(text, niveau, codes, flags):
    assert_resolved(SMALL.resolve(text, niveau), codes, *flags)


def test_a_postal_code_that_contradicts_the_name_is_not_ignored():
    result = SMALL.resolve("75001 Caen")
    assert result.status == AMBIGUOUS and result.candidates == ("COM-14118",) and "75001" in result.reason


def test_homonyms_are_ambiguous_unless_the_context_decides():
    result = SMALL.resolve("Saint-Denis")
    assert result.status == AMBIGUOUS and set(result.candidates) == {"COM-93066", "COM-97411"}
    assert "Saint-Denis, 93" in result.reason and "Saint-Denis, 974" in result.reason
    assert_resolved(SMALL.resolve("Saint-Denis", context=GeoContext(departement="974")), ["COM-97411"], "contexte")
    assert_resolved(SMALL.resolve("saint denis", "commune", GeoContext(region="11")), ["COM-93066"], "contexte")
    # a context that fits none of them decides nothing, and says so
    lost = SMALL.resolve("Saint-Denis", context=GeoContext(departement="14"))
    assert lost.status == AMBIGUOUS and "contexte" in lost.reason


def test_a_name_of_one_territory_at_two_levels_takes_the_most_specific_unless_a_level_is_given():
    paris = SMALL.resolve("Paris")
    assert_resolved(paris, ["COM-75056"], "meme_territoire")
    assert "DEP-75" in paris.reason
    assert_resolved(SMALL.resolve("Paris", "departement"), ["DEP-75"])
    assert_resolved(SMALL.resolve("Ville de Paris"), ["COM-75056"])
    assert_resolved(SMALL.resolve("La Réunion", "region"), ["REG-04"])


def test_a_departement_wins_over_a_commune_of_the_same_name_without_a_level():
    landes = SMALL.resolve("Landes")
    assert_resolved(landes, ["DEP-40"], "homonyme_ecarte")
    assert "COM-17202" in landes.reason
    assert_resolved(SMALL.resolve("Landes", "commune"), ["COM-17202"])
    assert_resolved(SMALL.resolve("Landes", context=GeoContext(departement="17")), ["COM-17202"], "contexte")


def test_a_name_at_another_level_than_stated_is_only_proposed():
    result = SMALL.resolve("Calvados", "region")
    assert result.status == AMBIGUOUS and result.candidates == ("DEP-14",)
    assert "niveau_different" in result.flags and "n'est pas une région" in result.reason


def test_lists_resolve_part_by_part_and_fail_naming_the_failing_part():
    assert_resolved(SMALL.resolve("Landes, Nouvelle-Aquitaine, Occitanie"), ["DEP-40", "REG-75", "REG-76"], "liste")
    assert_resolved(SMALL.resolve("COM-14118|COM-49007"), ["COM-14118", "COM-49007"], "liste")
    assert_resolved(SMALL.resolve("Calvados et Manche"), ["DEP-14", "DEP-50"], "liste")
    partial = SMALL.resolve("Calvados, Atlantide, Manche")
    assert partial.status == UNRESOLVED and partial.codes == ()
    assert partial.candidates == ("DEP-14", "DEP-50")
    assert "Atlantide" in partial.reason and "liste" in partial.flags
    with_homonym = SMALL.resolve("Calvados, Saint-Denis")
    assert with_homonym.status == UNRESOLVED and "Saint-Denis" in with_homonym.reason


def test_fuzzy_matching_only_proposes():
    result = SMALL.resolve("CC des Monts du Pila")
    assert result.status == AMBIGUOUS and result.codes == ()
    assert result.candidates[0] == "EPCI-244200622"
    assert "approximatif" in result.flags and "approchée" in result.reason
    assert SMALL.resolve("Xyzzy-sur-Plouf").status == UNRESOLVED


def test_vocab_rows_pointing_nowhere_are_left_out_and_reported():
    assert SMALL.resolve("Ailleurs").status == UNRESOLVED
    assert any("EPCI-999999999" in problem for problem in SMALL.vocab_problems)
    assert any("Nulle part" in problem for problem in SMALL.vocab_problems)


def test_resolve_mention_prefers_the_code_and_falls_back_on_the_name():
    assert_resolved(SMALL.resolve_mention("commune", "14118", "Paris"), ["COM-14118"])
    fallback = SMALL.resolve_mention("commune", "99999", "Caen")
    assert_resolved(fallback, ["COM-14118"], "code_ignore")
    assert "99999" in fallback.reason
    assert SMALL.resolve_mention("commune", "99999", None).status == UNRESOLVED
    assert SMALL.resolve_mention(None, None, "  ").status == UNRESOLVED
    assert_resolved(SMALL.resolve_mention("epci", None, "CC des Monts du Pilat"), ["EPCI-244200622"])
    assert_resolved(SMALL.resolve_mention("pays", None, "France"), ["PAYS-99100"])


def test_commune_codes_of_each_level():
    assert SMALL.commune_codes("COM-14118") == ["14118"]
    assert SMALL.commune_codes("EPCI-200065597") == ["14118"]
    assert SMALL.commune_codes("DEP-01") == ["01001", "01004", "01093"]
    assert SMALL.commune_codes("REG-11") == ["75056", "93066"]
    assert SMALL.commune_codes("DEP-975") == ["97502"]
    assert len(SMALL.commune_codes("PAYS-99100")) == 16
    assert SMALL.commune_codes("PAYS-99138") == []
    assert SMALL.commune_codes("COM-99999") == []
    with pytest.raises(ValueError):
        SMALL.commune_codes("75056")


def test_as_json_has_lists_and_every_field():
    payload = SMALL.resolve("Saint-Denis").as_json()
    assert set(payload) == {"query", "status", "codes", "candidates", "reason", "flags"}
    assert payload["codes"] == [] and isinstance(payload["candidates"], list) and isinstance(payload["flags"], list)


def test_resolve_mentions_keeps_rows_and_order_and_resolves_each_distinct_mention_once():
    frame = pl.DataFrame(
        {
            "id": list(range(7)),
            "niveau": ["commune", None, "epci", "commune", None, None, "commune"],
            "code": ["14118", None, None, "14118", "75101", None, "14118"],
            "nom": [None, "Saint-Denis", "CC des Monts du Pilat", None, None, "Saint-Denis", None],
            "ctx_departement": [None, "974", None, None, None, None, None],
            "ctx_region": [None, None, None, None, None, None, None],
        },
        schema_overrides={"ctx_region": pl.Utf8},
    )
    resolver = small_resolver()
    calls: list[tuple] = []
    original = resolver.resolve_mention

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    resolver.resolve_mention = counting  # type: ignore[method-assign]
    out = resolver.resolve_mentions(frame)
    assert len(calls) == 5  # 7 rows, 5 distinct mentions
    assert out["id"].to_list() == list(range(7))
    assert out["status"].to_list() == [RESOLVED, RESOLVED, RESOLVED, RESOLVED, RESOLVED, AMBIGUOUS, RESOLVED]
    assert out["codes"].to_list() == [
        ["COM-14118"],
        ["COM-97411"],
        ["EPCI-244200622"],
        ["COM-14118"],
        ["COM-75056"],
        [],
        ["COM-14118"],
    ]
    assert out["candidates"][5].to_list() == ["COM-93066", "COM-97411"]
    assert out["flags"][4].to_list() == ["arrondissement_municipal"]
    assert out["reason"][0] is None and "Saint-Denis" in out["reason"][5]
    assert out.schema["codes"] == pl.List(pl.Utf8) and out.schema["flags"] == pl.List(pl.Utf8)


def test_resolve_mentions_accepts_missing_columns_and_empty_frames():
    out = SMALL.resolve_mentions(pl.DataFrame({"nom": ["Ville de Caen", None], "code": [None, "49007"]}))
    assert out["codes"].to_list() == [["COM-14118"], ["COM-49007"]]
    empty = SMALL.resolve_mentions(pl.DataFrame(schema={"niveau": pl.Utf8, "code": pl.Utf8, "nom": pl.Utf8}))
    assert empty.height == 0 and {"status", "codes", "candidates", "reason", "flags"} <= set(empty.columns)


def assert_well_formed(result: Resolution, text: str) -> None:
    assert result.query == text
    assert result.status in (RESOLVED, AMBIGUOUS, UNRESOLVED)
    assert all(ONE_CODE.fullmatch(code) for code in (*result.codes, *result.candidates)), result
    if result.status == RESOLVED:
        assert result.codes
    else:
        assert result.codes == () and result.reason  # never a silent failure
    if result.status == AMBIGUOUS:
        assert result.candidates


GEO_LIKE = st.sampled_from(
    [
        "Saint",
        "Denis",
        "Caen",
        "CC",
        "Communauté de communes",
        "(",
        ")",
        "(974)",
        "(Département)",
        ",",
        ";",
        "|",
        " et ",
        "-",
        "'",
        "’",
        "COM-",
        "DEP-",
        "REG-",
        "EPCI-",
        "PAYS-",
        "2A",
        "13001",
        "1004",
        "975",
        "99138",
        "Ville de ",
        "Région ",
        "Mairie d'",
        "France",
        "Landes",
        "Paris",
        " ",
        "\u00a0",
        "é",
        "0",
        "9",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.text(max_size=40), st.lists(GEO_LIKE, max_size=8).map("".join)),
    st.sampled_from([None, *MENTION_LEVELS]),
    st.one_of(
        st.none(),
        st.builds(GeoContext, st.sampled_from([None, "974", "1", "2a", ""]), st.sampled_from([None, "11", "4"])),
    ),
)
@example("(0)", None, None)  # nothing left once the parenthesis is set aside: was an IndexError
def test_resolve_never_raises_and_always_explains(text, niveau, context):
    assert_well_formed(SMALL.resolve(text, niveau, context), text)


# --------------------------------------------------------------------------- the real referential (registry)


@pytest.fixture(scope="session")
def real_warehouse(referential_package, tmp_path_factory) -> WarehousePaths:
    """A warehouse holding the real COG referential, built once for the session."""
    return warehouse_with_referential(tmp_path_factory.mktemp("geo-warehouse"), referential_package)


@pytest.fixture(scope="module")
def real(real_warehouse) -> GeoResolver:
    with connect_reader(real_warehouse) as conn:
        return GeoResolver.from_warehouse(conn)


@pytest.fixture(scope="module")
def ref_rows(real_warehouse):
    """Run a query on the real referential."""

    def query(sql: str) -> list[tuple]:
        with connect_reader(real_warehouse) as conn:
            return conn.execute(sql).fetchall()

    return query


@pytest.mark.registry
def test_the_vocab_files_point_at_real_territories(real):
    assert real.vocab_problems == []
    with open(VOCAB / "geo_aliases.csv", encoding="utf-8") as handle:
        aliases = list(csv.DictReader(handle))
    assert aliases and all(real.is_known(row["code"]) for row in aliases)
    with open(VOCAB / "pays.csv", encoding="utf-8") as handle:
        pays = {row["nom"]: row["code"] for row in csv.DictReader(handle)}
    assert {
        name: pays[name]
        for name in (
            "France",
            "Monaco",
            "Luxembourg",
            "Belgique",
            "Suisse",
            "Allemagne",
            "Espagne",
            "Italie",
            "Andorre",
        )
    } == {
        "France": "99100",
        "Monaco": "99138",
        "Luxembourg": "99137",
        "Belgique": "99131",
        "Suisse": "99140",
        "Allemagne": "99109",
        "Espagne": "99134",
        "Italie": "99127",
        "Andorre": "99130",
    }


@pytest.mark.registry
@pytest.mark.parametrize(
    ("text", "niveau", "codes"),
    [
        ("Ville de Caen", None, ["COM-14118"]),
        ("Mairie d'Angers", None, ["COM-49007"]),
        ("CC des Monts du Pilat", None, ["EPCI-244200622"]),
        ("Communauté de communes des Monts du Pilat", None, ["EPCI-244200622"]),
        ("Métropole de Lyon", None, ["EPCI-200046977"]),
        ("Grand Lyon", None, ["EPCI-200046977"]),
        ("CA Val Parisis", None, ["EPCI-200058485"]),
        ("Grand Paris", None, ["EPCI-200054781"]),
        ("Grand Besançon Métropole", None, ["EPCI-242500361"]),
        ("Drôme (Département)", None, ["DEP-26"]),
        ("Département de la Drôme", None, ["DEP-26"]),
        ("Conseil départemental de la Manche", None, ["DEP-50"]),
        ("Région Sud", None, ["REG-93"]),
        ("Région Île-de-France", None, ["REG-11"]),
        ("Conseil régional de Bretagne", None, ["REG-53"]),
        ("Landes, Nouvelle-Aquitaine, Occitanie", None, ["DEP-40", "REG-75", "REG-76"]),
        ("France et territoires d'outre-mer", None, ["PAYS-99100"]),
        ("France", None, ["PAYS-99100"]),
        ("National", None, ["PAYS-99100"]),
        ("France métropolitaine", None, [f"REG-{r}" for r in METRO_REGIONS]),
        ("Monaco", None, ["PAYS-99138"]),
        ("Luxembourg", "pays", ["PAYS-99137"]),
        ("1004", None, ["COM-01004"]),
        ("75101", None, ["COM-75056"]),
        ("69381", None, ["COM-69123"]),
        ("13201", None, ["COM-13055"]),
        ("50602", None, ["COM-50129"]),
        ("Tourlaville", None, ["COM-50129"]),
        ("Annecy-le-Vieux", "commune", ["COM-74010"]),
        ("COM-2A004", None, ["COM-2A004"]),
        ("DEP-974", None, ["DEP-974"]),
        ("COM-975", None, ["DEP-975"]),
        ("COM-987", None, ["DEP-987"]),
        ("DEP-978", None, ["DEP-978"]),
        ("REG-01", None, ["REG-01"]),
        ("Paris", None, ["COM-75056"]),
        ("Paris", "departement", ["DEP-75"]),
        ("Mayotte", None, ["DEP-976"]),
        ("Mayotte", "region", ["REG-06"]),
        ("13001", "commune", ["COM-13001"]),
        ("13001", "code_postal", ["COM-13055"]),
        ("Saint-Denis (974)", None, ["COM-97411"]),
        ("saint-etienne", None, ["COM-42218"]),
        ("ST ÉTIENNE", None, ["COM-42218"]),
        ("Côte d’Or", None, ["DEP-21"]),
        ("cote-d'or", None, ["DEP-21"]),
        ("  Ville   de  CAEN ", None, ["COM-14118"]),
    ],
)
def test_real_inputs(real, text, niveau, codes):
    assert_resolved(real.resolve(text, niveau), codes)


@pytest.mark.registry
def test_real_homonyms_and_shared_postal_codes(real, ref_rows):
    saint_denis = real.resolve("Saint-Denis")
    assert saint_denis.status == AMBIGUOUS and {"COM-93066", "COM-97411"} <= set(saint_denis.candidates)
    assert_resolved(real.resolve("Saint-Denis", context=GeoContext(departement="974")), ["COM-97411"])
    assert_resolved(real.resolve("Saint-Denis", "commune", GeoContext(departement="93")), ["COM-93066"])
    shared = sorted(
        f"COM-{c}" for (c,) in ref_rows("SELECT commune FROM ref_codes_postaux WHERE code_postal = '01400'")
    )
    assert len(shared) == 10
    assert_resolved(real.resolve("01400", "code_postal"), shared, "code_postal_partage")
    # 01400 is also Seillonnaz's INSEE code: without a level both readings are candidates
    both = real.resolve("01400")
    assert both.status == AMBIGUOUS and set(both.candidates) == {"COM-01400", *shared}
    marne = sorted(f"COM-{c}" for (c,) in ref_rows("SELECT commune FROM ref_codes_postaux WHERE code_postal = '51800'"))
    assert_resolved(real.resolve("51800"), marne, "code_postal_partage")


@pytest.mark.registry
def test_real_commune_codes(real, ref_rows):
    assert real.commune_codes("COM-75056") == ["75056"]
    lyon = sorted(c for (c,) in ref_rows("SELECT commune FROM ref_epci_membres WHERE epci = '200046977'"))
    assert real.commune_codes("EPCI-200046977") == lyon and len(lyon) > 50
    assert real.commune_codes("DEP-75") == ["75056"]
    idf = sorted(c for (c,) in ref_rows("SELECT code FROM ref_communes WHERE region = '11'"))
    assert real.commune_codes("REG-11") == idf
    assert len(real.commune_codes(FRANCE := "PAYS-99100")) == ref_rows("SELECT count(*) FROM ref_communes")[0][0]
    assert real.resolve("France").codes == (FRANCE,)
    assert real.commune_codes("PAYS-99138") == []
    assert real.commune_codes("DEP-975") == ["97501", "97502"]


# --------------------------------------------------------------------------- real packages (registry)


@pytest.fixture(scope="module")
def package_mentions(tmp_path_factory):
    """Every geography mention of the real aides-velo and mesaidesreno packages, with where it is."""
    from collect_test_helpers import context

    from sources.adapters import aides_velo, mesaidesreno
    from sources.registry import get_spec

    found: dict[tuple, list[str]] = {}
    for adapter, name in ((aides_velo, "aides-velo"), (mesaidesreno, "mesaidesreno")):
        spec = get_spec(name)
        result = adapter.parse(spec, adapter.collect(spec, context(tmp_path_factory.mktemp(name))))
        assert result.records, name
        for record in result.records:
            for mention in (*record.geo_inclusions, *record.geo_exclusions):
                found.setdefault((mention.niveau, mention.code, mention.nom), []).append(f"{name}: {record.native_id}")
    return found


@pytest.mark.registry
def test_every_mention_of_the_real_publicodes_packages_resolves(real, package_mentions):
    assert len(package_mentions) > 300
    failures = []
    for (niveau, code, nom), where in package_mentions.items():
        result = real.resolve_mention(niveau, code, nom)
        if result.status != RESOLVED:
            failures.append(f"{where[0]} {niveau} {code or nom!r} → {result.status} ({result.reason})")
        elif niveau == "epci" and not all(c.startswith("EPCI-") for c in result.codes):
            failures.append(f"{where[0]} EPCI {code or nom!r} → {result.codes}")
    assert not failures, "\n".join(failures)
    named_epci = [key for key in package_mentions if key[0] == "epci" and key[2]]
    assert len(named_epci) > 200


@pytest.mark.registry
def test_resolve_mentions_scales_with_distinct_mentions(real_warehouse, ref_rows):
    communes = ref_rows("SELECT code, nom, departement FROM ref_communes ORDER BY code LIMIT 1400")
    epcis = ref_rows("SELECT nom FROM ref_epci ORDER BY siren LIMIT 400")
    deps = ref_rows("SELECT nom FROM ref_departements")
    distinct = (
        [("commune", code, None, None) for code, _n, _d in communes[:700]]
        + [(None, None, nom, dep) for _c, nom, dep in communes[700:]]
        + [("epci", None, nom, None) for (nom,) in epcis]
        + [(None, None, nom, None) for (nom,) in deps]
    )
    assert len(distinct) > 1_900
    rows = [distinct[(i * 7919) % len(distinct)] for i in range(100_000)]
    frame = pl.DataFrame(
        {
            "niveau": [r[0] for r in rows],
            "code": [r[1] for r in rows],
            "nom": [r[2] for r in rows],
            "ctx_departement": [r[3] for r in rows],
        },
        schema={"niveau": pl.Utf8, "code": pl.Utf8, "nom": pl.Utf8, "ctx_departement": pl.Utf8},
    )
    with connect_reader(real_warehouse) as conn:
        real = GeoResolver.from_warehouse(conn)  # a fresh resolver: nothing cached yet
    start = time.perf_counter()
    out = real.resolve_mentions(frame)
    elapsed = time.perf_counter() - start
    assert out.height == 100_000
    assert out["code"].to_list() == frame["code"].to_list() and out["nom"].to_list() == frame["nom"].to_list()
    resolved_share = (out["status"] == RESOLVED).mean()
    assert resolved_share > 0.95, out.filter(pl.col("status") != RESOLVED).unique("nom").head(10)
    sample = out.row(12_345, named=True)
    expected = real.resolve_mention(
        sample["niveau"],
        sample["code"],
        sample["nom"],
        GeoContext(sample["ctx_departement"]) if sample["ctx_departement"] else None,
    )
    assert (sample["status"], sample["codes"]) == (expected.status, list(expected.codes))
    assert elapsed < 10, f"{elapsed:.1f} s pour 100 000 lignes"


@pytest.mark.registry
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(st.text(max_size=40), st.lists(GEO_LIKE, max_size=8).map("".join)),
    st.sampled_from([None, *MENTION_LEVELS]),
)
def test_real_resolve_never_raises(real, text, niveau):
    assert_well_formed(real.resolve(text, niveau), text)
