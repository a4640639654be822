"""The mesaidesreno adapter: national and local renovation aids of the mesaidesreno model.

Hermetic tests read the hand-written models of tests/fixtures/mesaidesreno/ (see its
README); tests marked ``registry`` fetch the real package through the npm client.
"""

from __future__ import annotations

import json

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

from sources.adapters import mesaidesreno
from sources.npm import NpmPackageError
from sources.record import GeoMention
from sources.registry import get_spec

MODEL, MALFORMED = fixture_models("mesaidesreno")
SPEC = get_spec("mesaidesreno")
MEMBER = "mesaidesreno.model.json"
RENO = NpmModel(mesaidesreno, SPEC, MEMBER)
parse_bytes = RENO.parse_bytes
FRANCE = GeoMention("pays", nom="France")
NATIONAL = [
    "MPR . accompagnée",
    "MPR . accompagnée . prise en charge MAR",
    "CEE . rénovation d'ampleur",
    "denormandie",
    "taxe foncière",
    "PTZ",
    "PAR",
    "ampleur . prime individuelle copropriété",
    "MPR . non accompagnée",
    "copropriété",
]
# One item per sub-aid with a `montant` of its own (the family's own `montant` for doubs-25).
LOCAL = [
    "aides locales . besançon . occupant",
    "aides locales . charente-maritime . occupant",
    "aides locales . côte-d'or . aide aux travaux",
    "aides locales . doubs-25",
    "aides locales . morlaix . bailleur",
]


def items_of(model: dict) -> list[str]:
    extras = tuple(SPEC.config.get("extra_national_rules", mesaidesreno.EXTRA_NATIONAL_RULES))
    return mesaidesreno.national_items(model, extras) + mesaidesreno.local_items(model)


# --------------------------------------------------------------------------- declaration


def test_declared_as_a_weekly_multi_level_npm_source_under_mit():
    assert SPEC.adapter == "mesaidesreno"
    assert (SPEC.level, SPEC.transport, SPEC.licence) == ("multi", "npm", "MIT")
    assert SPEC.homepage == "https://mesaidesreno.beta.gouv.fr"
    assert SPEC.schedule == "0 5 * * 1"
    assert SPEC.config["package"] == "mesaidesreno" and SPEC.config["member"] == MEMBER
    assert SPEC.config["extra_national_rules"] == ["MPR . non accompagnée", "copropriété"]


# --------------------------------------------------------------------------- fixture model


@pytest.fixture(scope="module")
def fixture_result():
    return parse_bytes(MODEL.read_bytes())


def test_national_then_local_aids_and_nothing_else(fixture_result):
    assert fixture_result.rejections == []
    # sections (vous, logement, gestes, MPR), the per-work CEE sheet, the `aides
    # locales` family and its sum are not aids
    assert [record.native_id for record in fixture_result.records] == NATIONAL + LOCAL


def test_national_aids_are_france_wide_with_their_brand_type_and_texts(fixture_result):
    records = by_id(fixture_result)
    for name in NATIONAL:
        assert records[name].geo_inclusions == [FRANCE] and records[name].niveau is None
    mpr = records["MPR . accompagnée"]
    assert mpr.titre == "MaPrimeRénov' **accompagnée**"
    assert mpr.programmes_parents == ["MaPrimeRénov'"] and mpr.types_aides == ["remboursement"]
    assert mpr.eligibilite == "- Vous devrez faire appel à un Accompagnateur Rénov'."
    assert mpr.url_source.startswith("https://www.economie.gouv.fr/particuliers/maprimerenov-parcours-accompagne")
    # no titre: the brand and its complement, as the interface shows them
    assert records["denormandie"].titre == "Denormandie – Réduction d'impôt location"
    assert records["denormandie"].types_aides == ["exonération fiscale"]
    assert records["CEE . rénovation d'ampleur"].titre == "CEE coup de pouce « Rénovation d’ampleur »"
    assert records["MPR . non accompagnée"].titre == "MaPrimeRénov' **par geste**"
    assert records["copropriété"].titre == "MaPrimeRénov' Copropriété"
    assert records["copropriété"].programmes_parents == []  # no marque stated


def test_national_amounts_come_from_the_montant_rule_and_the_stated_text(fixture_result):
    records = by_id(fixture_result)
    assert records["PTZ"].montants == ["50000 €", "7000 €"]
    assert records["PTZ"].types_aides == ["prêt"]
    assert records["PAR"].montants == ["Jusqu'à 50 000 € d'emprunt pour une rénovation d'ampleur.", "50 000 €"]
    assert records["MPR . accompagnée"].montants == []  # a formula naming other rules states no amount


def test_local_aids_carry_their_stated_geography_level_and_amounts(fixture_result):
    records = by_id(fixture_result)
    besancon = records["aides locales . besançon . occupant"]
    # the sub-aid's own title, then its family's
    assert besancon.titre == "Dispositif AAPEL propriétaire occupant — Grand Besançon Métropole"
    assert besancon.geo_inclusions == [GeoMention("epci", code="242500361")]
    assert besancon.niveau == "intercommunalité"
    assert besancon.types_aides == ["remboursement"]  # stated by the `aides locales` family
    assert besancon.montants == ["1500 €"]  # the sum it names, followed
    assert besancon.porteurs == []  # the collectivité is read from the territory by normalisation
    charente = records["aides locales . charente-maritime . occupant"]
    assert charente.titre == "Aide aux propriétaires occupants — Charente-Maritime"  # [source.config.libelles]
    assert charente.geo_inclusions == [GeoMention("departement", nom="Charente-Maritime")]
    assert charente.niveau == "département" and charente.taux == ["15 %"]
    assert charente.montants == []  # "projet . travaux > 5000 €" is a condition, not an amount
    assert "projet . travaux > 5000 €" in charente.conditions  # expanded from its `conditions` rule
    cote = records["aides locales . côte-d'or . aide aux travaux"]
    # the sub-aid's own `conditions géo` wins over its family's
    assert cote.geo_inclusions == [GeoMention("departement", nom="Côte-d'Or")]
    assert cote.geo_exclusions == [GeoMention("epci", code="242100410")]
    assert cote.montants == ["250 €"]
    doubs = records["aides locales . doubs-25"]
    assert doubs.titre == "Doubs (par code)"
    assert doubs.geo_inclusions == [GeoMention("departement", code="25")]
    assert doubs.geo_exclusions == [GeoMention("commune", code="25056")]
    assert (doubs.montants, doubs.taux, doubs.url_source) == (["1000 €"], ["5 %"], "https://www.doubs.fr")
    morlaix = records["aides locales . morlaix . bailleur"]
    assert morlaix.geo_inclusions == [GeoMention("commune", code="29151")]  # from its own rule
    assert set(morlaix.raw) == {
        "aides locales . morlaix",
        "aides locales . morlaix . bailleur . conditions géo",
        "aides locales . morlaix . bailleur . montant",
    }


def test_national_aids_name_their_porteurs_from_the_source_entry(fixture_result):
    records = by_id(fixture_result)
    anah = ["Agence nationale de l'habitat (Anah)"]
    assert records["MPR . accompagnée"].porteurs == anah
    assert records["MPR . accompagnée . prise en charge MAR"].porteurs == anah
    assert records["MPR . non accompagnée"].porteurs == anah and records["copropriété"].porteurs == anah
    assert records["PTZ"].porteurs[0] == "État"
    assert all("Mes Aides Réno" not in " ".join(r.porteurs) for r in fixture_result.records)
    # no `type` stated: the entry's default
    assert records["copropriété"].types_aides == ["remboursement"]


# --------------------------------------------------------------------------- malformed input


def test_malformed_aids_are_rejected_one_by_one_and_their_neighbours_kept():
    model = json.loads(MALFORMED.read_text(encoding="utf-8"))
    result = parse_bytes(MALFORMED.read_bytes())
    assert [record.native_id for record in result.records] == [
        "PTZ",
        "aides locales . besançon . occupant",
        "aides locales . essonne . travaux essentiels",
    ]
    assert len(result.records) + len(result.rejections) == len(items_of(model)) == 12
    assert {rejection.location: rejection.reason for rejection in result.rejections} == {
        "règle 'PAR'": "« marque » devrait être un texte, trouvé : list",
        "règle 'denormandie'": "« lien » devrait être un texte, trouvé : int",
        "règle 'MPR . non accompagnée'": "règle attendue absente du modèle",
        "règle 'copropriété'": "règle attendue absente du modèle",
        "règle 'aides locales . doubs'": "aide locale sans montant : le modèle n'en chiffre aucune aide",
        "règle 'aides locales . rennes'": "aide désactivée par le modèle (montant : non)",
        "règle 'aides locales . liste'": "la règle devrait être un objet, trouvé : list",
        "règle 'aides locales . géo nombre'": "« aides locales . géo nombre . conditions géo » illisible : type int (25)",
        "règle 'aides locales . géo vide'": "valeur géographique vide dans « logement . EPCI = '' »",
    }


@pytest.mark.parametrize(
    ("content", "reason_start"),
    [
        (b'{"PTZ": {"marque": "PTZ"', "JSON illisible (ligne 1"),
        (b"\xff\xfe\x00garbage", "encodage invalide"),
        (b'"mesaidesreno"', "un objet JSON de règles est attendu, trouvé : str"),
    ],
)
def test_an_unreadable_model_is_one_rejection_of_the_document(content, reason_start):
    result = parse_bytes(content)
    assert result.records == []
    assert [(r.location, r.reason.startswith(reason_start)) for r in result.rejections] == [(MEMBER, True)]


# --------------------------------------------------------------------------- hypothesis

VALID = MODEL.read_bytes()
BASELINE = {record.native_id: record.to_row() for record in parse_bytes(VALID).records}
test_random_bytes_never_raise = RENO.random_bytes_test(items_of)
test_truncated_models_are_one_rejection = RENO.truncated_models_test(VALID)
json_values = json_values_with(
    st.builds(
        lambda field, op, value: f"logement . {field} {op} '{value}'",
        st.sampled_from(["EPCI", "commune", "département", "région", "type"]),
        st.sampled_from(["=", "!="]),
        st.text(max_size=10),
    )
)
TARGETS = sorted({name for name in json.loads(VALID) if name.startswith(tuple(NATIONAL + LOCAL))})
FIELDS = [
    "titre",
    "marque",
    "complément de marque",
    "type",
    "lien",
    "description",
    "conditions éligibilités",
    "montant",
    "valeur",
    "plafond",
    "variations",
    "formule",
    "remplace",
    "toutes ces conditions",
]


rule_names = st.one_of(
    st.sampled_from(
        ["aides locales", "aides locales . montant", "PTZ", "copropriété", "MPR . non accompagnée", *TARGETS]
    ),
    st.text(max_size=10).map(lambda text: f"aides locales . {text}"),
    st.text(max_size=10).map(lambda text: f"aides locales . {text} . conditions géo"),
    st.text(max_size=10).map(lambda text: f"aides locales . {text} . montant"),
    st.text(max_size=15),
)
aid_like = st.fixed_dictionaries({}, optional={key: json_values for key in FIELDS})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(rule_names, st.one_of(json_values, aid_like), max_size=10))
def test_models_of_wrong_types_never_raise_and_account_for_every_item(model):
    result = RENO.parse_model(model)
    assert sorted(accounted_for(result)) == sorted(items_of(model))
    assert_no_unexpected_error(result)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TARGETS), st.one_of(st.sampled_from(FIELDS), st.none()), json_values)
def test_a_corrupted_rule_never_raises_and_every_item_is_accounted_for(target, field, value):
    model = json.loads(VALID)
    if field is None or not isinstance(model[target], dict):
        model[target] = value
    else:
        model[target] = with_field(model[target], field, value)
    result = RENO.parse_model(model, ensure_ascii=False)
    assert sorted(accounted_for(result)) == sorted(items_of(model))
    assert_no_unexpected_error(result)
    # aids that do not contain the corrupted rule come out exactly as before
    for record in result.records:
        if not (target == record.native_id or target.startswith(record.native_id + " . ")):
            assert record.to_row() == BASELINE[record.native_id]


# --------------------------------------------------------------------------- collect

TEST_VERSION = "2.3.1-test"  # the version LocalPackages gives the package


def test_collect_reads_the_model_member_of_the_package(tmp_path):
    ctx = LocalPackages(tmp_path, make_tarball(tmp_path / "reno.tgz", {MEMBER: VALID, "index.js": b""}), TEST_VERSION)
    payload = mesaidesreno.collect(SPEC, ctx)
    assert ctx.asked == [("mesaidesreno", "latest")]
    assert payload.version == "2.3.1-test"
    assert [document.name for document, _ in payload.documents] == [MEMBER]
    assert [r.native_id for r in mesaidesreno.parse(SPEC, payload).records] == NATIONAL + LOCAL


def test_collect_names_package_and_version_when_the_model_is_missing(tmp_path):
    ctx = LocalPackages(tmp_path, make_tarball(tmp_path / "reno.tgz", {"index.js": b""}), TEST_VERSION)
    with pytest.raises(NpmPackageError, match=r"mesaidesreno 2\.3\.1-test .*mesaidesreno\.model\.json"):
        mesaidesreno.collect(SPEC, ctx)


# --------------------------------------------------------------------------- real package


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    """Version 2.3.1, the one studied, for exact values."""
    return RENO.collect_and_parse(tmp_path_factory.mktemp("reno-pinned"), version="2.3.1")


@pytest.fixture(scope="module")
def latest(tmp_path_factory):
    return RENO.collect_and_parse(tmp_path_factory.mktemp("reno-latest"))


@pytest.mark.registry
def test_real_package_2_3_1_national_and_local_aids(pinned):
    payload, result = pinned
    records = by_id(result)
    assert [r.native_id for r in result.records] == [
        "ampleur . prime individuelle copropriété",
        "MPR . accompagnée",
        "MPR . accompagnée . prise en charge MAR",
        "CEE . rénovation d'ampleur",
        "denormandie",
        "taxe foncière",
        "PTZ",
        "PAR",
        "MPR . non accompagnée",
        "copropriété",
        "aides locales . besançon . occupant",
        "aides locales . doubs . bonus passoire",
        "aides locales . doubs . bonus passoire . aide AMOA",
        "aides locales . charente-maritime . bailleur",
        "aides locales . charente-maritime . occupant",
        "aides locales . côte-d'or . aide aux travaux",
        "aides locales . côte-d'or . aide au dossier de subvention ANAH",
        "aides locales . angers . aides socles",
        "aides locales . angers . prime basse consommation",
        "aides locales . essonne . travaux essentiels",
        "aides locales . essonne . gros travaux",
    ]
    # Rennes' rules are out of date and the model switches its aid off
    assert {(r.location, r.reason) for r in result.rejections} == {
        ("règle 'aides locales . rennes'", "aide désactivée par le modèle (montant : non)"),
    }
    assert records["PTZ"].titre == "Éco-prêt à taux zéro"
    assert records["PTZ"].montants == ["50000 €", "7000 €", "15000 €", "25000 €", "30000 €", "10000 €"]
    assert records["PAR"].montants[0].startswith("Jusqu'à 50 000 € d'emprunt")
    assert records["taxe foncière"].url_source.startswith("https://www.impots.gouv.fr/")
    # rates and the expense they apply to, followed from the `montant` rules
    mpr = records["MPR . accompagnée"]
    assert mpr.taux[:3] == ["80 %", "60 %", "45 %"] and mpr.plafonds_depense == ["40000 €", "55000 €", "70000 €"]
    assert records["MPR . non accompagnée"].montants[:3] == ["500 €", "400 €", "300 €"]  # one per work
    assert records["MPR . non accompagnée"].types_aides == ["remboursement"]
    assert records["copropriété"].taux == ["30 %", "45 %", "10 %", "20 %"]
    assert records["denormandie"].plafonds_depense == ["300000 €"] and records["denormandie"].montants == []
    # the sub-aids the issue named: Essonne 800 € and 10–20 %, Angers 1 500 €
    essentiels = records["aides locales . essonne . travaux essentiels"]
    assert essentiels.montants == ["800 €"] and essentiels.description.startswith("La prime s’adresse")
    gros = records["aides locales . essonne . gros travaux"]
    assert gros.taux == ["20 %", "15 %", "10 %"] and gros.plafonds_depense == ["20000 €"]
    assert records["aides locales . angers . prime basse consommation"].montants == ["1500 €"]
    assert records["aides locales . angers . prime basse consommation"].titre == (
        "Prime BBC angers — Angers Loire Métropole"
    )
    socles = records["aides locales . angers . aides socles"]
    assert socles.taux == ["20 %", "10 %"] and socles.url_source.startswith("https://www.angersloiremetropole.fr")
    assert records["aides locales . angers . aides socles"].geo_inclusions == [GeoMention("epci", code="244900015")]
    assert records["aides locales . angers . aides socles"].niveau == "intercommunalité"
    assert records["aides locales . essonne . gros travaux"].geo_inclusions == [
        GeoMention("departement", nom="Essonne")
    ]
    assert records["aides locales . essonne . gros travaux"].niveau == "département"
    cote = records["aides locales . côte-d'or . aide aux travaux"]
    assert cote.geo_exclusions == [GeoMention("epci", code="242100410")]  # its own `conditions géo`
    besancon = records["aides locales . besançon . occupant"]
    assert besancon.titre == "Dispositif AAPEL propriétaire occupant — Grand Besançon Métropole"
    assert besancon.montants[:2] == ["3000 €", "4200 €"]  # the aid capped, not the works
    charente = records["aides locales . charente-maritime . bailleur"]
    assert charente.montants == ["7000 €", "5000 €"] and charente.taux == ["30 %"]
    # conditions read through the family's condition rules, the place left to the geography
    assert (
        "ménage . revenu . classe = 'très modeste'"
        in records["aides locales . charente-maritime . occupant"].conditions
    )
    assert not any("EPCI" in c for c in records["aides locales . angers . aides socles"].conditions)


@pytest.mark.registry
def test_latest_package_has_every_national_aid_and_every_titled_local_aid(latest):
    payload, result = latest
    model = json.loads(payload.content(MEMBER))
    records = by_id(result)
    for name in [
        "MPR . accompagnée",
        "MPR . non accompagnée",
        "CEE . rénovation d'ampleur",
        "PTZ",
        "PAR",
        "denormandie",
        "taxe foncière",
        "copropriété",
        "ampleur . prime individuelle copropriété",
    ]:
        assert name in records, name
        assert records[name].geo_inclusions == [FRANCE]
    # every local family is accounted for: its sub-aids as records, or one rejection saying why
    families = [
        name
        for name in model
        if name.startswith("aides locales . ") and name.count(" . ") == 1 and name != "aides locales . montant"
    ]
    assert families
    accounted = {r.native_id for r in result.records} | {r.location.split("'")[1] for r in result.rejections}
    for family in families:
        assert any(name == family or name.startswith(family + " . ") for name in accounted), family
    for record in result.records:
        if record.native_id.startswith("aides locales . "):
            assert record.geo_inclusions and record.titre, record.native_id
    assert len(result.records) + len(result.rejections) == len(items_of(model))
