"""The JSON feeds aides-territoires imported: ADEME Agir, Île-de-France, Drôme, Manche.

Each adapter is replayed through ``collect`` on the real payload aides-territoires
recorded (../shared), then on its own small fixture with broken items, then fed
generated corrupt payloads.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from collect_test_helpers import HeaderRecorder
from collect_test_helpers import context as _context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import AT_API, FIXTURES

from sources.adapters import ademe_agir, departement_drome, departement_manche, ile_de_france
from sources.base import Payload
from sources.fetch.client import FetchError
from sources.fetch.transport import ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec


def _real(spec, filename: str) -> HeaderRecorder:
    return HeaderRecorder(ReplayTransport.from_files({spec.config["url"]: AT_API / filename}))


def _count_items(path: Path, key: str | None) -> int:
    data = json.loads(path.read_bytes().decode("utf-8-sig"))
    return len(data if key is None else data[key])


@pytest.fixture
def ademe_credentials(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("ADEME_AGIR_CLIENT_ID", "fake-client-id")
    monkeypatch.setenv("ADEME_AGIR_CLIENT_SECRET", "fake-client-secret")
    return "fake-client-id", "fake-client-secret"


@pytest.fixture
def manche_credentials(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("MANCHE_API_USERNAME", "fake-user")
    monkeypatch.setenv("MANCHE_API_PASSWORD", "fake-password")
    return "fake-user", "fake-password"


# -- ADEME Agir ------------------------------------------------------------------------------


def test_ademe_real_payload(tmp_path: Path, ademe_credentials: tuple[str, str]) -> None:
    spec = get_spec("ademe-agir")
    recorder = _real(spec, "ademe_agir_data.json")
    payload = ademe_agir.collect(spec, _context(tmp_path, recorder))
    result = ademe_agir.parse(spec, payload)

    sent = recorder.headers_for(spec.config["url"])
    assert (sent["client_id"], sent["client_secret"]) == ademe_credentials
    assert result.rejections == []
    assert len(result.records) == _count_items(AT_API / "ademe_agir_data.json", "ListeDispositifs") == 5
    assert [r.native_id for r in result.records] == ["1ed7d411", "1ed7d40a", "1ec8f1be", "1ed7fb5d", "1ed85d34"]
    first = result.records[0]
    assert first.titre == "Investissements d’écoconception pour améliorer la performance environnementale"
    assert first.url_source == (
        "https: //agirpourlatransition.ademe.fr/entreprises/aides-financieres/2023/"
        "investissements-decoconception-ameliorer-performance-environnementale"
    )
    assert first.cibles == ["SCA3", "SCA2", "SCA1"]
    assert first.thematiques == ["ECD", "ECO", "ALIBIO", "PRODUR"]
    assert first.types_aides == ["GAG"]
    assert (first.date_ouverture, first.date_cloture) == ("2023-01-01T00:00:00+01:00", "2023-12-31T23:59:59+01:00")
    assert first.date_mise_a_jour == "2023-01-09T14:40:19+01:00"
    assert first.geo_inclusions == [GeoMention("pays", nom="National")]
    assert first.financeurs == ["ADEME"] and first.niveau == "national"
    assert first.description.startswith("<p>Les démarches d’amélioration")
    bcib = result.records[2]
    assert bcib.titre == "Biomasse Chaleur pour l’Industrie du Bois (BCIB)"
    assert bcib.types_aides == ["AAP", "AAPAAP"] and bcib.cibles == ["SCA3"]
    assert result.records[4].description == "<p>En tant que collectivité, entreprise ou association"  # cut, as sent


def test_ademe_fixture_with_broken_items(tmp_path: Path, ademe_credentials: tuple[str, str]) -> None:
    spec = get_spec("ademe-agir")
    folder = FIXTURES / "ademe-agir"
    payload = ademe_agir.collect(spec, _context(tmp_path, ReplayTransport.from_folder(folder)))
    result = ademe_agir.parse(spec, payload)

    assert result.items_seen == _count_items(folder / "liste-dispositifs.json", "ListeDispositifs") == 5
    assert [r.native_id for r in result.records] == ["1f00aa01", "1f00aa02"]
    assert result.records[0].geo_inclusions == [GeoMention("region", code="53"), GeoMention("region", code="52")]
    url = spec.config["url"]
    assert [(r.location, r.reason) for r in result.rejections] == [
        (f"{url}, dispositif 3 (id 1f00aa03)", "titre absent (champ 'titre')"),
        (f"{url}, dispositif 4 (id 1f00aa04)", "champ 'thematiques' de type inattendu : objet"),
        (f"{url}, dispositif 5", "champ 'id' de type inattendu : liste"),
    ]


def test_ademe_needs_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADEME_AGIR_CLIENT_ID", raising=False)
    monkeypatch.setenv("ADEME_AGIR_CLIENT_SECRET", "fake-client-secret")
    spec = get_spec("ademe-agir")
    with pytest.raises(FetchError, match="identifiants d'API absents : définissez ADEME_AGIR_CLIENT_ID"):
        ademe_agir.collect(spec, _context(tmp_path, _real(spec, "ademe_agir_data.json")))


def test_ademe_unreadable_payload(tmp_path: Path) -> None:
    spec = get_spec("ademe-agir")
    url = spec.config["url"]
    for content, reason in [
        (
            b'{"success": false, "message": "unauthorized"}',
            "structure inattendue : objet sans liste 'ListeDispositifs'",
        ),
        (b'{"ListeDispositifs": "none"}', "structure inattendue : 'ListeDispositifs' de type texte"),
        ('{"ListeDispositifs": [{"titre": "é"}]}'.encode("latin-1"), "encodage invalide"),
        (b"", "document vide : aucune donnée JSON"),
    ]:
        result = ademe_agir.parse(spec, Payload.build([(url, content, "application/json")]))
        assert result.records == [] and len(result.rejections) == 1
        assert result.rejections[0].location == url and result.rejections[0].reason.startswith(reason)


# -- Île-de-France -----------------------------------------------------------------------------


def test_ile_de_france_real_payload(tmp_path: Path) -> None:
    spec = get_spec("region-ile-de-france")
    payload = ile_de_france.collect(spec, _context(tmp_path, _real(spec, "ile_de_france_data.json")))
    result = ile_de_france.parse(spec, payload)

    assert result.rejections == []
    assert len(result.records) == _count_items(AT_API / "ile_de_france_data.json", None) == 3
    assert [r.native_id for r in result.records] == ["Sy2cc9WqE", "Skxo55-5N", "S1Xj5qb5N"]
    radios, jeunes, sport = result.records
    assert radios.titre == "Soutien régional aux radios locales d’Île-de-France"
    assert radios.promesse.startswith("Le soutien aux radios locales procède")
    assert radios.description.startswith("Les projets accompagnés dans le cadre du soutien aux radios locales")
    assert radios.eligibilite.startswith("Les organismes bénéficiaires de l’aide régionale")
    assert radios.cibles == ["Associations"] and radios.thematiques == ["Citoyenneté"]
    assert radios.url_source == "https://www.iledefrance.fr/aides-appels-a-projets/Sy2cc9WqE"
    assert radios.date_mise_a_jour == "2021-05-05T16:14:04.384Z"
    assert radios.financeurs == ["Région Île-de-France"] and radios.niveau == "region"
    assert radios.geo_inclusions == [GeoMention("region", code="11", nom="Île-de-France")]
    assert (jeunes.date_ouverture, jeunes.date_cloture) == ("2019-06-02T22:00:00.000Z", "2019-07-07T22:00:00.000Z")
    assert jeunes.raw["informationNonPubliee"] == "Champ non publi&eacute;"  # entities kept
    assert sport.thematiques == ["Sport"] and sport.raw["tags"][0]["title"] == "Handicap"


def test_ile_de_france_fixture_with_broken_items(tmp_path: Path) -> None:
    spec = get_spec("region-ile-de-france")
    folder = FIXTURES / "region-ile-de-france"
    payload = ile_de_france.collect(spec, _context(tmp_path, ReplayTransport.from_folder(folder)))
    result = ile_de_france.parse(spec, payload)

    assert result.items_seen == _count_items(folder / "aides.json", None) == 5
    assert [r.native_id for r in result.records] == ["Hk9aa01Xq", "Hk9aa02Xq"]
    velo = result.records[0]
    assert velo.thematiques == ["Vélo", "Aménagement du territoire"]
    assert (velo.date_ouverture, velo.date_cloture) == ("2024-03-01T23:00:00Z", "2024-06-30T22:00:00.000Z")
    assert result.records[1].cibles == ["Associations", "Collectivités - Institutions"]
    url = spec.config["url"]
    assert [(r.location, r.reason) for r in result.rejections] == [
        (f"{url}, aide 3 (référence Hk9aa03Xq)", "champ 'publicsBeneficiaire' de type inattendu : texte"),
        (f"{url}, aide 4 (référence Hk9aa04Xq)", "titre absent (champ 'title')"),
        (f"{url}, aide 5", "élément qui n'est pas un objet JSON : null"),
    ]


# -- Drôme ---------------------------------------------------------------------------------


def test_drome_real_payload(tmp_path: Path) -> None:
    spec = get_spec("departement-drome")
    payload = departement_drome.collect(spec, _context(tmp_path, _real(spec, "departement_drome_data.json")))
    result = departement_drome.parse(spec, payload)

    assert result.rejections == []
    # the recorded feed says count 166 but carries 3 results: one record per result
    assert len(result.records) == _count_items(AT_API / "departement_drome_data.json", "results") == 3
    assert [r.native_id for r in result.records] == ["162", "338", "650"]
    assert [r.titre for r in result.records] == [
        "Développement d’une alimentation de proximité",
        "L'alimentation dans la restauration collective publique",
        "Approvisionnement en produits locaux avec la plateforme Agrilocal",
    ]
    first = result.records[0]
    assert first.financeurs == ["Chambre d’agriculture de la Drôme"]
    assert first.cibles == ["Communes", "Intercommunalités / Pays", "Associations", "Particuliers"]
    assert first.types_aides == ["Ingénierie technique"] and first.thematiques == ["Alimentation"]
    assert first.url_source == "https://collectivites.ladrome.fr/service/developpement-dune-alimentation-de-proximite/"
    assert first.geo_inclusions == [GeoMention(None, nom="Drôme")]
    assert first.recurrence == "Permanente" and first.niveau == "departement"
    assert first.description.startswith("OPÉRATIONS CONCERNÉES<br><p>")
    assert result.records[1].financeurs == ["Conseil Départemental de la Drôme"]


def test_drome_fixture_with_byte_order_mark_and_broken_items(tmp_path: Path) -> None:
    spec = get_spec("departement-drome")
    folder = FIXTURES / "departement-drome"
    assert (folder / "aides.json").read_bytes().startswith(b"\xef\xbb\xbf")
    payload = departement_drome.collect(spec, _context(tmp_path, ReplayTransport.from_folder(folder)))
    result = departement_drome.parse(spec, payload)

    assert result.items_seen == _count_items(folder / "aides.json", "results") == 4
    assert [r.native_id for r in result.records] == ["771", "772"]
    solaire, riviere = result.records
    assert solaire.taux == ["30 %", "du montant retenu"]
    assert solaire.financeurs == ["Conseil Départemental de la Drôme"]
    assert riviere.financeurs == ["Département de la Drôme"]  # none stated: the entry's publisher
    where = f"page 1 ({spec.config['url']})"
    assert [(r.location, r.reason) for r in result.rejections] == [
        (f"{where}, résultat 3 (id 773)", "champ 'perimeter' de type inattendu : liste"),
        (f"{where}, résultat 4", "identifiant absent (champs 'id' et 'slug')"),
    ]


# -- Manche --------------------------------------------------------------------------------


def test_manche_real_payload(tmp_path: Path, manche_credentials: tuple[str, str]) -> None:
    spec = get_spec("departement-manche")
    recorder = _real(spec, "departement_manche_data.json")
    payload = departement_manche.collect(spec, _context(tmp_path, recorder))
    result = departement_manche.parse(spec, payload)

    expected = "Basic " + base64.b64encode(b"fake-user:fake-password").decode()
    assert recorder.headers_for(spec.config["url"])["Authorization"] == expected
    assert result.rejections == []
    # the recorded feed says count 110 but carries 10 aids: one record per aid
    assert len(result.records) == _count_items(AT_API / "departement_manche_data.json", "aides") == 10
    assert [r.native_id for r in result.records] == [
        "36021",
        "36027",
        "30802",
        "30801",
        "30798",
        "30788",
        "30791",
        "39672",
        "39620",
        "35024",
    ]
    first = result.records[0]
    assert first.titre == (
        "Appel à projets pour une mise en place d&rsquo;un centre parental d&rsquo;une capacité de 20 places"
    )  # entities kept for normalisation
    assert first.description is None and first.cibles == ["Associations"]
    assert first.url_source.startswith("https://test.manche.fr/guide-des-aides/appel-a-projets-")
    assert first.financeurs == ["Département de la Manche"]
    assert first.geo_inclusions == [GeoMention("departement", code="50", nom="Manche")]
    test_2023 = result.records[5]
    assert test_2023.date_mise_a_jour == "2023-08-04T02: 30: 18.000Z"  # malformed, kept
    assert test_2023.url_demarche == "https://www.manche.fr"
    assert test_2023.types_aides == ["Fond d'investissement rural génération 2017-2021"]
    assert test_2023.thematiques == ["Mobilités", "Biodiversité"]
    assert result.records[3].eligibilite.startswith("Ut velit mauris")


def test_manche_fixture_with_broken_items(tmp_path: Path, manche_credentials: tuple[str, str]) -> None:
    spec = get_spec("departement-manche")
    folder = FIXTURES / "departement-manche"
    payload = departement_manche.collect(spec, _context(tmp_path, ReplayTransport.from_folder(folder)))
    result = departement_manche.parse(spec, payload)

    assert result.items_seen == _count_items(folder / "aides.json", "aides") == 5
    assert [r.native_id for r in result.records] == ["41001", "41002"]
    assert result.records[0].titre.startswith("Aide &agrave; la r&eacute;novation")
    assert result.records[1].date_ouverture == "2024-03-01T00:00:00+01:00"
    url = spec.config["url"]
    assert [(r.location, r.reason) for r in result.rejections] == [
        (f"{url}, aide 3 (id 41003)", "champ 'targeted_audiences', élément 2 de type inattendu : objet"),
        (f"{url}, aide 4 (id 41004)", "titre absent (champ 'name')"),
        (f"{url}, aide 5 (id 41001)", f"identifiant en double : '41001' déjà lu ({url}, aide 1 (id 41001))"),
    ]


def test_manche_needs_credentials_except_in_fixture_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MANCHE_API_USERNAME", raising=False)
    monkeypatch.delenv("MANCHE_API_PASSWORD", raising=False)
    spec = get_spec("departement-manche")
    with pytest.raises(FetchError, match="définissez MANCHE_API_USERNAME et MANCHE_API_PASSWORD"):
        departement_manche.collect(spec, _context(tmp_path, _real(spec, "departement_manche_data.json")))
    payload = departement_manche.collect(spec, _context(tmp_path, replay_root=FIXTURES))
    assert len(departement_manche.parse(spec, payload).records) == 2


# -- corruption --------------------------------------------------------------------------------

ADAPTERS = {
    "ademe-agir": (
        ademe_agir,
        "ListeDispositifs",
        "ademe_agir_data.json",
        [
            "id",
            "titre",
            "type",
            "sous_type_aap",
            "date_debut",
            "date_fin",
            "date_derniere_modification",
            "description_longue",
            "cible_projet",
            "thematiques",
            "couverture_geo",
            "regions",
            "url_agir",
        ],
    ),
    "region-ile-de-france": (
        ile_de_france,
        None,
        "ile_de_france_data.json",
        [
            "reference",
            "id",
            "title",
            "entete",
            "objectif",
            "publicsBeneficiairePrecision",
            "publicsBeneficiaire",
            "competences",
            "dateOuvertureCampagne",
            "dateFinCampagne",
            "date",
        ],
    ),
    "departement-drome": (
        departement_drome,
        "results",
        "departement_drome_data.json",
        [
            "id",
            "slug",
            "name",
            "short_title",
            "description",
            "eligibility",
            "origin_url",
            "application_url",
            "targeted_audiences",
            "aid_types",
            "subvention_rate",
            "subvention_comment",
            "recurrence",
            "perimeter",
            "financers",
            "instructors",
            "programs",
            "categories",
            "start_date",
            "submission_deadline",
        ],
    ),
    "departement-manche": (
        departement_manche,
        "aides",
        "departement_manche_data.json",
        [
            "id",
            "name",
            "description",
            "origin_url",
            "application_url",
            "categories",
            "targeted_audiences",
            "aid_types",
            "recurrence",
            "date_created",
            "date_updated",
            "start_date",
            "submission_deadline",
            "eligibility",
        ],
    ),
}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _expected_items(content: bytes, key: str | None) -> int:
    """What a payload holds: its items, or 1 when it cannot be read as the feed's structure."""
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 1
    if key is None:
        items = data.get("data") if isinstance(data, dict) else data
    else:
        items = data.get(key) if isinstance(data, dict) else None
    return len(items) if isinstance(items, list) else 1


def _wrap(key: str | None, items: list) -> bytes:
    return json.dumps(items if key is None else {"count": len(items), key: items}).encode()


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_corrupt_payloads_never_raise(name: str) -> None:
    module, key, real_file, fields = ADAPTERS[name]
    spec = get_spec(name)
    url = spec.config["url"]
    real = (AT_API / real_file).read_bytes()
    items = st.dictionaries(st.sampled_from(fields), JSON_VALUES, max_size=len(fields)) | JSON_VALUES

    def check(content: bytes) -> None:
        result = module.parse(spec, Payload.build([(url, content, "application/json")]))
        assert result.items_seen == _expected_items(content, key)
        for record in result.records:
            assert record.native_id.strip() and record.titre.strip() and record.source == name
            json.dumps(record.raw)

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.binary(max_size=500))
    def random_bytes(content: bytes) -> None:
        check(content)

    @settings(max_examples=80, deadline=None)
    @given(st.integers(min_value=0, max_value=len(real.rstrip()) - 1))
    def truncated(cut: int) -> None:
        content = real.rstrip()[:cut]
        result = module.parse(spec, Payload.build([(url, content, "application/json")]))
        assert result.records == [] and len(result.rejections) == 1

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(items, max_size=6))
    def wrong_types(generated: list) -> None:
        content = _wrap(key, generated)
        assert _expected_items(content, key) == len(generated)
        check(content)

    random_bytes()
    truncated()
    wrong_types()


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_oversized_number_is_one_rejection(name: str) -> None:
    """Python refuses integers over 4,300 digits with a plain ValueError: still one rejection."""
    module, key, _, _ = ADAPTERS[name]
    spec = get_spec(name)
    content = _wrap(key, [{"id": 1}]).replace(b'"id": 1', b'"id": ' + b"9" * 5000)
    result = module.parse(spec, Payload.build([(spec.config["url"], content, "application/json")]))
    assert result.records == [] and len(result.rejections) == 1
    assert result.rejections[0].reason.startswith("JSON illisible : Exceeds the limit (4300 digits)")


def test_a_feed_in_another_shape_counts_its_entries_as_rejections(tmp_path: Path) -> None:
    """Issue 14, point 2: the entries of a document in another shape are aids lost, each counted;
    the document is unreadable, so the source's run fails instead of a quiet empty success."""
    spec = get_spec("ademe-agir")
    url = spec.config["url"]
    content = b'{"total": 3, "aides": [{"titre": "A"}, {"titre": "B"}, {"titre": "C"}]}'
    result = ademe_agir.parse(spec, Payload.build([(url, content, "application/json")]))
    assert result.records == [] and len(result.rejections) == 3
    assert {r.reason for r in result.rejections} == {"structure inattendue : objet sans liste 'ListeDispositifs'"}
    assert [r.location.rsplit(" ", 1)[-1] for r in result.rejections] == ["1", "2", "3"]
    assert len(result.unreadable) == 1
