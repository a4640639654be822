"""The aides-velo adapter: the publicodes model of @betagouv/aides-velo, as records.

Hermetic tests read the hand-written models of tests/fixtures/aides-velo/ (see its
README); tests marked ``registry`` fetch the real package through the npm client.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from npm_test_helpers import (
    LocalPackages,
    NpmModel,
    accounted_for,
    assert_no_unexpected_error,
    by_id,
    fixture_models,
    json_values_with,
    make_tarball,
    with_field,
)

from sources.adapters import aides_velo
from sources.adapters.publicodes import normalise_keys
from sources.ingest import IngestStatus, ingest
from sources.npm import NpmPackageError
from sources.record import GeoMention
from sources.registry import get_spec

MODEL, MALFORMED = fixture_models("aides-velo")
SPEC = get_spec("aides-velo")
MEMBER = "publicodes-build/aides-velo.model.json"
VELO = NpmModel(aides_velo, SPEC, MEMBER)
payload_of, parse_bytes = VELO.payload_of, VELO.parse_bytes
FIXTURE_AIDS = [
    "aides . paris",
    "aides . ile de france",
    "aides . ardèche",
    "aides . caen",
    "aides . sarlat",
    "aides . la côtière à montluel",
    "aides . saintes",
    "aides . region centre",
    "aides . monaco",
    "aides . bonus vélo",
]


def items_of(model: dict) -> list[str]:
    return [name for name, rule in model.items() if aides_velo.is_item(name, rule)]


# --------------------------------------------------------------------------- declaration


def test_declared_as_a_weekly_multi_level_npm_source():
    assert SPEC.adapter == "aides_velo"
    assert (SPEC.level, SPEC.transport, SPEC.licence) == ("multi", "npm", "Apache-2.0")
    assert SPEC.homepage == "https://mesaidesvelo.fr"
    assert SPEC.schedule == "0 5 * * 1"
    assert SPEC.config["package"] == "@betagouv/aides-velo"
    assert SPEC.config["member"] == MEMBER


# --------------------------------------------------------------------------- fixture model


@pytest.fixture(scope="module")
def fixture_result():
    return parse_bytes(MODEL.read_bytes())


def test_every_titled_aid_is_a_record_and_nothing_else_is_an_item(fixture_result):
    assert fixture_result.rejections == []
    # Parameters (plafond état, localisation . epci…), sums (aides . commune…) and
    # sub-rules (aides . la côtière à montluel . abonné TER) are not items.
    assert [record.native_id for record in fixture_result.records] == FIXTURE_AIDS


def test_paris_is_a_communal_aid_with_its_insee_code_url_and_amounts(fixture_result):
    paris = by_id(fixture_result)["aides . paris"]
    assert paris.source == "aides-velo"
    assert paris.titre == "Ville de Paris"
    assert paris.porteurs == ["Ville de Paris"]
    assert paris.niveau == "commune"
    assert paris.geo_inclusions == [GeoMention("commune", code="75056")]
    assert paris.geo_exclusions == []
    assert paris.url_source == "https://www.paris.fr/pages/lutte-contre-la-pollution-les-aides-a-la-mobilite-5373"
    # amounts inside variations, thresholds of the conditions ("10000 €/an") left out
    assert paris.montants == ["600 €", "400 €", "1500 €"]
    assert paris.taux == ["33 %", "50 %"]
    assert paris.description.startswith("Aide à l'achat pour tous types de vélo")
    assert (paris.cibles, paris.types_aides, paris.thematiques) == (["particuliers"], ["prime à l'achat"], ["vélo"])
    assert paris.raw == {"aides . paris": json.loads(MODEL.read_text(encoding="utf-8"))["aides . paris"]}


def test_levels_and_territories_stay_as_stated(fixture_result):
    records = by_id(fixture_result)
    assert records["aides . ile de france"].niveau == "région"
    assert records["aides . ile de france"].geo_inclusions == [GeoMention("region", code="11")]
    assert records["aides . ile de france"].montants == ["1200 €", "400 €"]  # "sinon: 0 €" is no amount
    assert records["aides . ardèche"].niveau == "département"
    assert records["aides . ardèche"].geo_inclusions == [GeoMention("departement", code="07")]
    assert records["aides . ardèche"].date_cloture == "31/12/2025"
    assert records["aides . la côtière à montluel"].niveau == "intercommunalité"
    assert records["aides . la côtière à montluel"].geo_inclusions == [
        GeoMention("epci", nom="CC de la Côtière à Montluel")
    ]
    assert records["aides . monaco"].geo_inclusions == [GeoMention("pays", nom="Monaco")]


def test_an_epci_name_holding_quotes_is_kept_whole(fixture_result):
    saintes = by_id(fixture_result)["aides . saintes"]
    assert saintes.geo_inclusions == [GeoMention("epci", nom='CA "Saintes - Grandes Rives - L\'Agglo"')]


def test_not_equal_and_non_applicable_conditions_are_exclusions(fixture_result):
    centre = by_id(fixture_result)["aides . region centre"]
    assert centre.geo_inclusions == [
        GeoMention("region", code="24"),
        GeoMention("epci", nom="CC du Perche"),
        GeoMention("epci", nom="CC du Bonnevalais"),
    ]
    assert centre.geo_exclusions == [
        GeoMention("commune", code="37261"),
        GeoMention("epci", nom="Tours Métropole Val de Loire"),
        GeoMention("commune", code="37270"),
    ]


def test_a_state_aid_without_localisation_is_national(fixture_result):
    bonus = by_id(fixture_result)["aides . bonus vélo"]
    assert bonus.niveau == "état"
    assert bonus.geo_inclusions == [GeoMention("pays", nom="France")]
    assert bonus.montants == ["400 €"] and bonus.taux == ["40 %"]


def test_real_key_typos_are_read_under_their_intended_name(fixture_result):
    records = by_id(fixture_result)
    assert records["aides . caen"].date_mise_a_jour == "11/09/2025"  # "dernière mise jour"
    assert records["aides . la côtière à montluel"].date_mise_a_jour == "14/08/2025"  # "derière mise à jour"
    assert records["aides . sarlat"].montants == ["100 €", "250 €"]  # "plaond"
    assert "plaond" in records["aides . sarlat"].raw["aides . sarlat"]  # raw keeps the source's spelling
    assert normalise_keys({"unite": "€", "variations": [{"alors": {"plaond": "1 €"}}]}) == {
        "unité": "€",
        "variations": [{"alors": {"plafond": "1 €"}}],
    }
    # the intended spelling wins when both are there
    assert normalise_keys({"plafond": "2 €", "plaond": "1 €"}) == {"plafond": "2 €"}


# --------------------------------------------------------------------------- malformed input


def test_malformed_aids_are_rejected_one_by_one_and_their_neighbours_kept():
    result = parse_bytes(MALFORMED.read_bytes())
    assert [record.native_id for record in result.records] == ["aides . premier", "aides . dernier"]
    assert len(result.records) + len(result.rejections) == 11
    reasons = {rejection.location: rejection.reason for rejection in result.rejections}
    assert reasons == {
        "règle 'aides . liste'": "la règle devrait être un objet, trouvé : list",
        "règle 'aides . sans titre'": "titre absent, vide ou qui n'est pas un texte",
        "règle 'aides . titre nombre'": "titre absent, vide ou qui n'est pas un texte",
        "règle 'aides . condition nombre'": "« applicable si » illisible : type int (12)",
        "règle 'aides . toutes sans liste'": "« toutes ces conditions » devrait être une liste, trouvé : str",
        "règle 'aides . canton'": "critère géographique inconnu : localisation . canton",
        "règle 'aides . lien liste'": "« lien » devrait être un texte, trouvé : list",
        "règle 'aides . code vide'": "valeur géographique vide dans « localisation . code insee = '' »",
        "règle 'aides . remplace nombre'": "« remplace » illisible : 3",
    }
    assert all(rejection.source == "aides-velo" for rejection in result.rejections)
    assert '"titre": 42' in next(r.excerpt for r in result.rejections if r.location == "règle 'aides . titre nombre'")


@pytest.mark.parametrize(
    ("content", "reason_start"),
    [
        (b'{"aides . paris": {"titre": "Ville de Paris"', "JSON illisible (ligne 1"),
        ('{"aides . a": {"titre": "Ville"}}'.encode("utf-16"), "encodage invalide"),
        (b'[{"titre": "Ville de Paris"}]', "un objet JSON de règles est attendu, trouvé : list"),
        (b"", "JSON illisible"),
    ],
)
def test_an_unreadable_model_is_one_rejection_of_the_document(content, reason_start):
    result = parse_bytes(content)
    assert result.records == []
    assert len(result.rejections) == 1
    assert result.rejections[0].location == MEMBER
    assert result.rejections[0].reason.startswith(reason_start)


def test_a_payload_without_the_model_is_one_rejection():
    result = aides_velo.parse(SPEC, payload_of(MODEL.read_bytes(), name="README.md"))
    assert len(result.rejections) == 1 and result.records == []
    assert result.rejections[0].location == MEMBER
    assert "absent de la collecte" in result.rejections[0].reason


# --------------------------------------------------------------------------- hypothesis

VALID = MODEL.read_bytes()
BASELINE = {record.native_id: record.to_row() for record in parse_bytes(VALID).records}
test_random_bytes_never_raise = VELO.random_bytes_test(items_of)
test_truncated_models_are_one_rejection = VELO.truncated_models_test(VALID)
geo_strings = st.builds(
    lambda field, op, value: f"localisation . {field} {op} {value}",
    st.sampled_from(["code insee", "epci", "département", "région", "pays", "ZFE", "canton"]),
    st.sampled_from(["=", "!=", ">=", ""]),
    st.one_of(st.text(max_size=12).map(lambda text: f"'{text}'"), st.text(max_size=12)),
)
json_values = json_values_with(geo_strings)
FIELDS = [
    "titre",
    "remplace",
    "applicable si",
    "non applicable si",
    "lien",
    "description",
    "valeur",
    "plafond",
    "variations",
    "dernière mise à jour",
    "date de fin",
    "plaond",
]


rule_names = st.one_of(
    st.sampled_from(["aides", "aides . commune", "plafond état", "localisation . epci", *FIXTURE_AIDS]),
    st.text(max_size=15).map(lambda text: f"aides . {text}"),
    st.text(max_size=15),
)
aid_like = st.fixed_dictionaries({}, optional={key: json_values for key in ["titre", "remplace", *FIELDS]})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(rule_names, st.one_of(json_values, aid_like), max_size=8))
def test_models_of_wrong_types_never_raise_and_account_for_every_aid(model):
    result = VELO.parse_model(model)
    items = items_of(model)
    assert len(result.records) + len(result.rejections) == len(items)
    assert sorted(accounted_for(result)) == sorted(items)
    assert_no_unexpected_error(result)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_AIDS), st.one_of(st.sampled_from(FIELDS), st.none()), json_values)
def test_a_corrupted_aid_never_costs_its_neighbours(target, field, value):
    model = json.loads(VALID)
    if field is None:
        model[target] = value if value is not None else []  # the whole rule replaced
    else:
        model[target] = with_field(model[target], field, value)
    result = VELO.parse_model(model, ensure_ascii=False)
    seen = [record.native_id for record in result.records] + [r.location for r in result.rejections]
    if field is None and isinstance(model[target], dict) and not ({"titre", "remplace"} & set(model[target])):
        assert len(seen) == len(FIXTURE_AIDS) - 1  # no longer an aid: a plain parameter
    else:
        assert len(seen) == len(FIXTURE_AIDS)
        assert target in [record.native_id for record in result.records] or f"règle '{target}'" in seen
    for record in result.records:
        if record.native_id != target:
            assert record.to_row() == BASELINE[record.native_id]
    assert_no_unexpected_error(result)


# --------------------------------------------------------------------------- collect

TEST_VERSION = "3.6.1-test"  # the version LocalPackages gives the package


def test_collect_reads_the_model_member_of_the_package(tmp_path):
    tarball = make_tarball(tmp_path / "aides-velo.tgz", {MEMBER: VALID, "package.json": b"{}"})
    ctx = LocalPackages(tmp_path, tarball, TEST_VERSION)
    payload = aides_velo.collect(SPEC, ctx)
    assert ctx.asked == [("@betagouv/aides-velo", "latest")]
    assert payload.version == "3.6.1-test"
    assert [document.name for document, _ in payload.documents] == [MEMBER]
    assert payload.content(MEMBER) == VALID
    assert len(aides_velo.parse(SPEC, payload).records) == len(FIXTURE_AIDS)

    outcome = ingest(SPEC, ctx, previous_digest=None)
    assert outcome.status is IngestStatus.PARSED and outcome.version == "3.6.1-test"
    assert len(outcome.result.records) == len(FIXTURE_AIDS)


def test_collect_names_package_and_version_when_the_model_is_missing(tmp_path):
    tarball = make_tarball(tmp_path / "aides-velo.tgz", {"package.json": b"{}"})
    with pytest.raises(NpmPackageError) as caught:
        aides_velo.collect(SPEC, LocalPackages(tmp_path, tarball, TEST_VERSION))
    message = str(caught.value)
    assert "@betagouv/aides-velo" in message and "3.6.1-test" in message and MEMBER in message


def test_collect_reports_a_broken_tarball(tmp_path):
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(NpmPackageError, match="archive illisible"):
        aides_velo.collect(SPEC, LocalPackages(tmp_path, broken, TEST_VERSION))


# --------------------------------------------------------------------------- real package


@pytest.fixture(scope="module")
def pinned_result(tmp_path_factory):
    """Version 3.6.1, the one studied, for exact values."""
    _, result = VELO.collect_and_parse(tmp_path_factory.mktemp("velo-pinned"), version="3.6.1")
    return result


@pytest.fixture(scope="module")
def latest_result(tmp_path_factory):
    return VELO.collect_and_parse(tmp_path_factory.mktemp("velo-latest"))


@pytest.mark.registry
def test_real_package_3_6_1_has_341_aids_at_every_level(pinned_result):
    assert len(pinned_result.records) == 341 and pinned_result.rejections == []
    levels = Counter(record.niveau for record in pinned_result.records)
    assert levels == {"intercommunalité": 180, "commune": 150, "région": 8, "département": 2, "état": 1}
    assert all(record.geo_inclusions for record in pinned_result.records)


@pytest.mark.registry
def test_real_package_3_6_1_values(pinned_result):
    records = by_id(pinned_result)
    paris = records["aides . paris"]
    assert paris.titre == "Ville de Paris" and paris.niveau == "commune"
    assert paris.geo_inclusions == [GeoMention("commune", code="75056")]
    assert paris.url_source == "https://www.paris.fr/pages/lutte-contre-la-pollution-les-aides-a-la-mobilite-5373"
    assert paris.montants == ["600 €", "400 €", "100 €", "1500 €"] and paris.taux == ["33 %", "50 %"]
    idf = records["aides . ile de france"]
    assert idf.titre == "Île-de-France Mobilités" and idf.porteurs == ["Île-de-France Mobilités"]
    assert idf.geo_inclusions == [GeoMention("region", code="11")]
    assert idf.date_mise_a_jour == "12/08/2025"
    # the real typos
    assert records["aides . caen"].date_mise_a_jour == "11/09/2025"
    assert records["aides . la côtière à montluel"].date_mise_a_jour == "14/08/2025"
    assert records["aides . sarlat"].montants == ["100 €"]
    assert records["aides . ardèche"].geo_inclusions == [GeoMention("departement", code="07")]
    assert records["aides . luxembourg"].geo_inclusions == [GeoMention("pays", nom="Luxembourg")]
    assert records["aides . saintes"].geo_inclusions == [
        GeoMention("epci", nom='CA "Saintes - Grandes Rives - L\'Agglo"')
    ]
    centre = records["aides . region centre"]
    assert GeoMention("region", code="24") in centre.geo_inclusions
    assert GeoMention("epci", nom="Tours Métropole Val de Loire") in centre.geo_exclusions


@pytest.mark.registry
def test_latest_package_has_aids_at_every_level(latest_result):
    payload, result = latest_result
    model = json.loads(payload.content(MEMBER))
    titled = [
        name
        for name, rule in model.items()
        if name.startswith("aides . ") and name.count(" . ") == 1 and isinstance(rule, dict) and "titre" in rule
    ]
    assert len(result.records) > 300
    assert len(result.records) + len(result.rejections) == len(titled)
    assert len(result.rejections) <= 3, result.rejections
    geo_levels = {mention.niveau for record in result.records for mention in record.geo_inclusions}
    assert {"commune", "epci", "departement", "region", "pays"} <= geo_levels
    levels = Counter(record.niveau for record in result.records)
    assert all(levels[level] for level in ("commune", "intercommunalité", "département", "région", "état"))
    records = by_id(result)
    assert records["aides . paris"].geo_inclusions == [GeoMention("commune", code="75056")]
    assert records["aides . paris"].url_source and records["aides . paris"].montants
    assert records["aides . ile de france"].geo_inclusions == [GeoMention("region", code="11")]
