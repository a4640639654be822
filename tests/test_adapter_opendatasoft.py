"""The generic OpenDataSoft adapter on the Pays de la Loire and Occitanie fixtures.

No real ODS payload is in ../shared: the fixtures (tests/fixtures/region-*/) reproduce the
Explore API v2.1 answers with the datasets' real field names.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from collect_test_helpers import context as _context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import FIXTURES

from sources.adapters import opendatasoft
from sources.base import Payload, SourceSpec
from sources.fetch.transport import ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec

PDL_RECORDS = (
    "https://data.paysdelaloire.fr/api/explore/v2.1/catalog/datasets/"
    "234400034_referentiel-aides-paysdelaloirefr/records"
)


def _with_config(spec: SourceSpec, **changes: object) -> SourceSpec:
    return dataclasses.replace(spec, config={**spec.config, **changes})


def test_declared_pays_de_la_loire_replays_its_fixture(tmp_path):
    spec = get_spec("region-pays-de-la-loire")
    replay = ReplayTransport.from_folder(FIXTURES / spec.name)
    payload = opendatasoft.collect(spec, _context(tmp_path, replay))
    assert [doc.name for doc, _ in payload.documents] == [PDL_RECORDS + "?limit=100&offset=0"]

    result = opendatasoft.parse(spec, payload)
    assert [r.native_id for r in result.records] == ["1021", "2187", "2302", "2455"]
    eco = result.records[0]
    assert eco.titre == "Éco-chèque logement"
    assert eco.promesse == "Une aide pour les travaux de rénovation énergétique de votre résidence principale."
    # Two description fields joined, HTML kept as given.
    assert eco.description.startswith("<p>L'Éco-chèque logement aide")
    assert eco.description.endswith("installation d'un système de chauffage performant.</p>")
    assert eco.url_demarche == "https://www.paysdelaloire.fr/les-aides/eco-cheque-logement"
    assert eco.montants == ["montant minimum : 1000 €", "montant maximum : 1500 €"]
    assert eco.recurrence == "Permanent"
    assert eco.porteurs == ["Région des Pays de la Loire"]
    assert eco.geo_inclusions == [GeoMention("region", code="52", nom="Pays de la Loire")]
    assert eco.niveau == "region"
    assert eco.raw["intervention_id"] == 1021 and eco.raw["direction"] == "Direction de la transition écologique"

    aap = result.records[1]
    assert aap.cibles == ["Collectivités - Institutions - GIP", "Associations"]  # split on ";"
    assert aap.types_aides == ["Appel à projets", "Subvention"]
    assert (aap.date_ouverture, aap.date_cloture) == ("2025-01-15", "2025-04-30")
    assert aap.montants == ["montant maximum : 50000 €"]  # the minimum is null: its template is skipped
    assert result.records[2].types_aides == ["Aide", "Avance remboursable", "Subvention"]
    assert result.records[3].montants == []

    # The fifth aid has no aide_nom: rejected, with where and why.
    assert len(result.rejections) == 1
    rejection = result.rejections[0]
    assert rejection.location == PDL_RECORDS + "?limit=100&offset=0 : page 1, résultat 5 (id 2510)"
    assert rejection.reason == "titre absent ou vide (champ aide_nom)"
    assert result.items_seen == 5


def test_pagination_follows_total_count_over_two_pages(tmp_path):
    spec = _with_config(get_spec("region-pays-de-la-loire"), page_size=3)
    replay = ReplayTransport.from_folder(FIXTURES / spec.name)
    payload = opendatasoft.collect(spec, _context(tmp_path, replay))
    assert [doc.name for doc, _ in payload.documents] == [
        PDL_RECORDS + "?limit=3&offset=0",
        PDL_RECORDS + "?limit=3&offset=3",
    ]
    assert [url for url in replay.requested if "/records" in url] == [doc.name for doc, _ in payload.documents]

    result = opendatasoft.parse(spec, payload)
    assert [r.native_id for r in result.records] == ["1021", "2187", "2302", "2455"]
    assert result.rejections[0].location == PDL_RECORDS + "?limit=3&offset=3 : page 2, résultat 2 (id 2510)"


def test_occitanie_maps_its_own_field_names(tmp_path):
    spec = get_spec("region-occitanie")
    payload = opendatasoft.collect(spec, _context(tmp_path, ReplayTransport.from_folder(FIXTURES / spec.name)))
    result = opendatasoft.parse(spec, payload)
    assert result.rejections == []
    assert [r.titre for r in result.records] == [
        "Appel à projets « Rénovation énergétique des bâtiments publics »",
        "Éco-chèque mobilité",
        "Agriculture biologique : aide à la conversion",
    ]
    renovation = result.records[0]
    assert (
        renovation.native_id
        == renovation.url_source
        == "https://www.laregion.fr/AAP-renovation-energetique-batiments-publics"
    )
    assert renovation.types_aides == ["Appels à projets"]
    assert renovation.thematiques == ["Environnement - Climat", "Aménagement du territoire"]
    assert renovation.date_mise_a_jour == "2025-03-12T09:41:00+00:00"
    assert "boite_telechargements_libre" in renovation.description  # transcribed, not cleaned
    assert result.records[2].promesse is None  # chapo null
    assert result.records[1].geo_inclusions == [GeoMention("region", code="76", nom="Occitanie")]


def test_beyond_ten_thousand_rows_the_export_is_fetched(tmp_path):
    spec = _with_config(get_spec("region-occitanie"), where='type = "Aides"')
    base = "https://data.laregion.fr/api/explore/v2.1/catalog/datasets/aides-et-appels-a-projets-de-la-region-occitanie"
    first = tmp_path / "first.json"
    first.write_text(json.dumps({"total_count": 12000, "results": [{"titre": "x", "url": "https://x"}]}))
    export = tmp_path / "export.json"
    export.write_text(
        json.dumps(
            [
                {"titre": "Aide A", "url": "https://www.laregion.fr/A", "type": "Aides"},
                {"titre": "Aide B", "type": "Aides"},
            ]
        )
    )
    replay = ReplayTransport.from_files(
        {
            base + "/records?limit=100&offset=0&where=type+%3D+%22Aides%22": first,
            base + "/exports/json?where=type+%3D+%22Aides%22": export,
        }
    )
    payload = opendatasoft.collect(spec, _context(tmp_path, replay))
    assert [doc.name for doc, _ in payload.documents] == [base + "/exports/json?where=type+%3D+%22Aides%22"]
    result = opendatasoft.parse(spec, payload)
    assert [r.titre for r in result.records] == ["Aide A"]
    assert result.rejections[0].location.endswith(": export, résultat 2")
    assert result.rejections[0].reason == "identifiant absent ou vide (champ url)"


def test_the_last_page_never_passes_the_window():
    config = {"portal": "https://data.example.fr/", "dataset": "aides", "page_size": 30}
    assert opendatasoft.records_url(config, 9990).endswith("/records?limit=10&offset=9990")
    assert opendatasoft.records_url({**config, "page_size": 500}, 0).endswith("?limit=100&offset=0")


def _page(rows: list, total: int | None = None) -> bytes:
    return json.dumps({"total_count": len(rows) if total is None else total, "results": rows}).encode()


def test_missing_and_malformed_fields_are_rejected_one_by_one():
    spec = get_spec("region-pays-de-la-loire")
    rows = [
        {"intervention_id": 1, "aide_nom": "Aide valide", "aid_benef": "Associations;Entreprises"},
        {"aide_nom": "Sans identifiant"},
        {"intervention_id": 3, "aide_nom": {"fr": "Titre objet"}},
        {"intervention_id": 4, "aide_nom": "Bénéficiaires objet", "aid_benef": {"a": 1}},
        "pas un objet",
        {"intervention_id": 6, "aide_nom": "   "},
        {
            "intervention_id": 7,
            "aide_nom": "Montant booléen",
            "montant_interv_max": True,
            "aid_benef": ["Jeunes", None],
        },
    ]
    payload = Payload.build([("https://data.paysdelaloire.fr/records?page=1", _page(rows), "application/json")])
    result = opendatasoft.parse(spec, payload)
    assert [r.titre for r in result.records] == ["Aide valide", "Montant booléen"]
    assert result.records[0].cibles == ["Associations", "Entreprises"]
    assert result.records[1].montants == ["montant maximum : true €"] and result.records[1].cibles == ["Jeunes"]
    reasons = {r.location.split(" : ")[1]: r.reason for r in result.rejections}
    assert reasons == {
        "page 1, résultat 2": "identifiant absent ou vide (champ intervention_id)",
        "page 1, résultat 3 (id 3)": "titre : champ 'aide_nom' de type inattendu (dict)",
        "page 1, résultat 4 (id 4)": "champ 'aid_benef' : type inattendu (dict)",
        "page 1, résultat 5": "résultat qui n'est pas un objet JSON (str)",
        "page 1, résultat 6 (id 6)": "titre absent ou vide (champ aide_nom)",
    }
    assert result.items_seen == len(rows)


def test_a_broken_page_is_one_rejection_and_spares_the_others():
    spec = get_spec("region-pays-de-la-loire")
    good = _page([{"intervention_id": 1, "aide_nom": "A"}, {"intervention_id": 2, "aide_nom": "B"}], total=5)
    payload = Payload.build(
        [
            (PDL_RECORDS + "?limit=2&offset=0", good, "application/json"),
            (
                PDL_RECORDS + "?limit=2&offset=2",
                b'{"total_count": 5, "results": [{"intervention_id": 3, "aide_',
                "application/json",
            ),
            (
                PDL_RECORDS + "?limit=2&offset=4",
                b'{"error_code": "ODSQLError", "message": "Invalid"}',
                "application/json",
            ),
        ]
    )
    result = opendatasoft.parse(spec, payload)
    assert [r.titre for r in result.records] == ["A", "B"]
    assert [(r.location, r.reason.split(" (")[0]) for r in result.rejections] == [
        (PDL_RECORDS + "?limit=2&offset=2 (page 2)", "page illisible : JSON invalide"),
        (PDL_RECORDS + "?limit=2&offset=4 (page 3)", "réponse inattendue : ni liste « results » ni export JSON"),
    ]


def test_an_unreadable_first_page_stops_paging(tmp_path):
    spec = get_spec("region-occitanie")
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"<html>502 Bad Gateway</html>")
    url = opendatasoft.records_url(spec.config, 0)
    payload = opendatasoft.collect(spec, _context(tmp_path, ReplayTransport.from_files({url: broken})))
    result = opendatasoft.parse(spec, payload)
    assert result.records == [] and len(result.rejections) == 1
    assert result.rejections[0].excerpt == "<html>502 Bad Gateway</html>"


# -- generated corrupt payloads ---------------------------------------------------------
def _items_in(content: bytes) -> int:
    """How many items a document holds: its rows, or itself when it cannot be read."""
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return 1
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return len(data["results"])
    return 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
field_names = st.sampled_from(
    ["intervention_id", "aide_nom", "aid_benef", "aid_objet", "montantintervmini", "date_de_fin"]
)
rows = st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=6))
_VALID = (FIXTURES / "region-pays-de-la-loire" / "records-all.json").read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents=st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.builds(lambda cut: _VALID[:cut], st.integers(0, len(_VALID))),
            st.builds(lambda r: _page(r), st.lists(rows, max_size=6)),
            st.builds(lambda r: json.dumps(r).encode(), st.lists(rows, max_size=4)),  # an export
            st.builds(lambda v: json.dumps(v).encode(), json_values),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_parse_never_raises_and_accounts_for_every_item(documents):
    spec = get_spec("region-pays-de-la-loire")
    payload = Payload.build(
        [(f"{PDL_RECORDS}?doc={i}", content, "application/json") for i, content in enumerate(documents)]
    )
    result = opendatasoft.parse(spec, payload)
    assert result.items_seen == sum(_items_in(content) for content in documents)
    for record in result.records:
        assert record.native_id.strip() and record.titre.strip()
        json.dumps(record.raw)


@pytest.mark.parametrize("cut", [1, 100, len(_VALID) // 2, len(_VALID) - 2])
def test_truncated_fixture_is_one_rejection(cut):
    spec = get_spec("region-pays-de-la-loire")
    result = opendatasoft.parse(spec, Payload.build([(PDL_RECORDS, _VALID[:cut], "application/json")]))
    assert result.records == [] and len(result.rejections) == 1
    assert result.rejections[0].reason.startswith("page illisible : JSON invalide")
