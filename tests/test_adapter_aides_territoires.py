"""The aides-territoires adapter: token exchange, bearer header, pagination, guards, parsing.

The API needs a key, so its fixtures (tests/fixtures/aides-territoires/) are synthetic
pages with the documented structure and a FAKE token; the result shape is also checked
on the real Drôme feed, which aides-territoires' importer recorded in that shape.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from collect_test_helpers import HeaderRecorder
from collect_test_helpers import context as _context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import AT_API
from paths import FIXTURES as FIXTURES_ROOT

from sources.adapters import aides_territoires
from sources.base import Payload
from sources.fetch.client import FetchError
from sources.fetch.transport import RecordedResponse, ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec

FIXTURES = FIXTURES_ROOT / "aides-territoires"
TOKEN_URL = "https://aides-territoires.beta.gouv.fr/api/connexion/"
PAGE_1 = "https://aides-territoires.beta.gouv.fr/api/aids/?page=1"
PAGE_2 = "https://aides-territoires.beta.gouv.fr/api/aids/?page=2"
FAKE_KEY = "fake-api-key-for-tests"
FAKE_TOKEN = "FAKE-TOKEN-fixture-not-a-credential"


def _replay(base: Path, files: dict[tuple[str, str], str]) -> ReplayTransport:
    """A replay of (method, URL) -> file under ``base`` (POST included, unlike ``from_files``)."""
    return ReplayTransport(
        {(method, url): RecordedResponse(url, 200, name, {}, method) for (method, url), name in files.items()}, base
    )


@pytest.fixture
def spec():
    return get_spec("aides-territoires")


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIDES_TERRITOIRES_API_KEY", FAKE_KEY)
    return FAKE_KEY


def test_declared_entry(spec) -> None:
    assert spec.adapter == "aides_territoires" and spec.level == "multi" and spec.transport == "http"
    assert spec.licence == "Licence Ouverte / etalab-2.0"
    assert spec.homepage == "https://aides-territoires.beta.gouv.fr"
    assert aides_territoires.first_page_url(spec.config) == PAGE_1
    filtered = aides_territoires.first_page_url({**spec.config, "query": {"categories": ["biodiversite", "eau"]}})
    assert filtered == PAGE_1 + "&categories=biodiversite&categories=eau"


def test_collect_exchanges_the_key_and_sends_the_bearer_token(tmp_path: Path, spec, api_key: str) -> None:
    recorder = HeaderRecorder(ReplayTransport.from_folder(FIXTURES))
    payload = aides_territoires.collect(spec, _context(tmp_path, recorder))

    calls = [(method, url) for method, url, _ in recorder.calls if not url.endswith("/robots.txt")]
    assert calls == [("POST", TOKEN_URL), ("GET", PAGE_1), ("GET", PAGE_2)]
    headers = {(m, u): h for m, u, h in recorder.calls}
    assert headers[("POST", TOKEN_URL)]["X-AUTH-TOKEN"] == FAKE_KEY
    assert headers[("GET", PAGE_1)]["Authorization"] == f"Bearer {FAKE_TOKEN}"
    assert headers[("GET", PAGE_2)]["Authorization"] == f"Bearer {FAKE_TOKEN}"
    assert "X-AUTH-TOKEN" not in headers[("GET", PAGE_1)]
    # the documents are the pages, in order; neither the key nor the token is archived
    assert [doc.name for doc, _ in payload.documents] == [PAGE_1, PAGE_2]
    archived = b"".join(p.read_bytes() for p in (tmp_path / "snap").rglob("*") if p.is_file())
    assert FAKE_TOKEN.encode() not in archived and FAKE_KEY.encode() not in archived


def test_pagination_parses_every_page(tmp_path: Path, spec, api_key: str) -> None:
    payload = aides_territoires.collect(spec, _context(tmp_path, ReplayTransport.from_folder(FIXTURES)))
    result = aides_territoires.parse(spec, payload)

    assert result.rejections == []
    assert [r.native_id for r in result.records] == ["101", "202", "303"]  # count = 3 on both pages
    first, second, third = result.records
    assert first.titre == "Rénover énergétiquement les bâtiments publics"
    assert first.financeurs == ["Région Auvergne-Rhône-Alpes"]
    assert first.porteurs == ["Direction de l'environnement de la Région"]
    assert first.geo_inclusions == [GeoMention("region", nom="Auvergne-Rhône-Alpes")]
    assert first.taux == ["de 20 à 40 %"]
    assert first.url_source.startswith("https: //www.auvergnerhonealpes.fr")  # kept as sent
    assert first.thematiques[0] == "Énergies / Déchets|Economie d'énergie et rénovation énergétique"
    assert (first.date_ouverture, first.date_cloture) == ("2024-01-01", "2024-12-31")
    assert first.date_mise_a_jour == "2024-02-14T09:30:00+01:00"
    assert first.description.startswith("<p>La Région accompagne")  # HTML kept
    assert first.niveau is None  # aides-territoires publishes aids of every level
    assert second.montants == ["prêt jusqu'à 500000 €"] and second.programmes_parents == ["Fonds Chaleur"]
    assert second.geo_inclusions == [GeoMention("pays", nom="France")]
    assert second.date_mise_a_jour == "2022-07-28T11: 40: 47+02: 00"  # malformed, kept
    assert second.porteurs == []
    assert third.url_source == "https://aides-territoires.beta.gouv.fr/aides/9d0e-planter-des-haies-bocageres/"
    assert third.taux == ["jusqu'à 80 %"] and third.montants == ["avance récupérable jusqu'à 15000 €"]
    assert third.geo_inclusions == [GeoMention("departement", nom="Drôme")]
    assert third.types_aides == ["Subvention", "Ingénierie technique"]
    assert third.raw["is_call_for_project"] is True
    for record in result.records:
        json.dumps(record.raw)


def test_missing_key_fails_collection(tmp_path: Path, spec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIDES_TERRITOIRES_API_KEY", raising=False)
    recorder = HeaderRecorder(ReplayTransport.from_folder(FIXTURES))
    with pytest.raises(FetchError) as raised:
        aides_territoires.collect(spec, _context(tmp_path, recorder))
    assert raised.value.reason == "clé d'API absente : définissez AIDES_TERRITOIRES_API_KEY"
    assert raised.value.source == "aides-territoires"
    assert recorder.calls == []  # nothing was sent


def test_fixture_replay_needs_no_key(tmp_path: Path, spec, monkeypatch: pytest.MonkeyPatch) -> None:
    """Demonstrations replay tests/fixtures/<source>/ (AIDES_REPLAY_DIR) without credentials."""
    monkeypatch.delenv("AIDES_TERRITOIRES_API_KEY", raising=False)
    ctx = _context(tmp_path, None, replay_root=FIXTURES.parent)
    payload = aides_territoires.collect(spec, ctx)
    assert len(aides_territoires.parse(spec, payload).records) == 3


def test_token_answer_without_token(tmp_path: Path, spec, api_key: str) -> None:
    (tmp_path / "no-token.json").write_text('{"message": "Invalid credentials."}', encoding="utf-8")
    transport = _replay(tmp_path, {("POST", TOKEN_URL): "no-token.json"})
    with pytest.raises(FetchError, match="réponse de connexion sans jeton"):
        aides_territoires.collect(spec, _context(tmp_path, transport))


def test_pagination_loop_and_page_limit_fail(tmp_path: Path, spec, api_key: str) -> None:
    looping = json.loads((FIXTURES / "page-2.json").read_text(encoding="utf-8"))
    looping["next"] = PAGE_1
    (tmp_path / "looping.json").write_text(json.dumps(looping), encoding="utf-8")
    (tmp_path / "token.json").write_bytes((FIXTURES / "token.json").read_bytes())
    (tmp_path / "page-1.json").write_bytes((FIXTURES / "page-1.json").read_bytes())
    files = {("POST", TOKEN_URL): "token.json", ("GET", PAGE_1): "page-1.json", ("GET", PAGE_2): "looping.json"}
    with pytest.raises(FetchError, match="pagination en boucle"):
        aides_territoires.collect(spec, _context(tmp_path, _replay(tmp_path, files)))

    limited = dataclasses.replace(spec, config={**spec.config, "max_pages": 1})
    with pytest.raises(FetchError, match="plus de 1 pages"):
        aides_territoires.collect(limited, _context(tmp_path, ReplayTransport.from_folder(FIXTURES)))


def test_malformed_page(tmp_path: Path, spec, api_key: str) -> None:
    files = {("POST", TOKEN_URL): "token.json", ("GET", PAGE_1): "page-1.json", ("GET", PAGE_2): "malformed-page.json"}
    payload = aides_territoires.collect(spec, _context(tmp_path, _replay(FIXTURES, files)))
    result = aides_territoires.parse(spec, payload)

    assert result.items_seen == 2 + 5
    assert [r.native_id for r in result.records] == ["101", "202", "404"]
    assert result.records[2].geo_inclusions == [GeoMention("epci", nom="Valence Romans Agglo")]
    where = f"page 2 ({PAGE_2})"
    assert [(r.location, r.reason) for r in result.rejections] == [
        (f"{where}, résultat 2 (id 405)", "titre absent (champs 'name', 'name_initial' et 'short_title')"),
        (f"{where}, résultat 3 (id 406)", "champ 'financers' de type inattendu : objet"),
        (f"{where}, résultat 4", "élément qui n'est pas un objet JSON : texte"),
        (f"{where}, résultat 5 (id 404)", f"identifiant en double : '404' déjà lu ({where}, résultat 1 (id 404))"),
    ]
    assert all(r.source == "aides-territoires" for r in result.rejections)
    assert '"financers": {"name": "ADEME"}' in result.rejections[1].excerpt


def test_unreadable_page_is_one_rejection(spec) -> None:
    good = (FIXTURES / "page-1.json").read_bytes()
    payload = Payload.build(
        [
            (PAGE_1, good[: len(good) // 2], "application/json"),
            (PAGE_2, b'{"count": 3, "results": {"id": 1}}', "application/json"),
        ]
    )
    result = aides_territoires.parse(spec, payload)
    assert result.records == []
    assert [r.location for r in result.rejections] == [f"page 1 ({PAGE_1})", f"page 2 ({PAGE_2})"]
    assert result.rejections[0].reason.startswith("JSON illisible : ")
    assert result.rejections[1].reason == "structure inattendue : 'results' de type objet"


def test_result_shape_on_the_real_drome_feed(spec) -> None:
    """The real feed the Drôme built in aides-territoires' result shape reads with this parser."""
    content = (AT_API / "departement_drome_data.json").read_bytes()
    result = aides_territoires.parse(spec, Payload.build([(PAGE_1, content, "application/json")]))
    assert result.rejections == []
    assert [r.native_id for r in result.records] == ["162", "338", "650"]
    assert result.records[0].titre == "Développement d’une alimentation de proximité"
    assert result.records[0].financeurs == ["Chambre d’agriculture de la Drôme"]


# -- corruption --------------------------------------------------------------------------

FIELDS = [
    "id",
    "slug",
    "url",
    "name",
    "name_initial",
    "short_title",
    "financers",
    "financers_full",
    "instructors",
    "instructors_full",
    "programs",
    "description",
    "eligibility",
    "perimeter",
    "perimeter_scale",
    "origin_url",
    "application_url",
    "targeted_audiences",
    "aid_types",
    "categories",
    "start_date",
    "submission_deadline",
    "subvention_rate_lower_bound",
    "subvention_rate_upper_bound",
    "subvention_rate",
    "subvention_comment",
    "loan_amount",
    "recoverable_advance_amount",
    "recurrence",
    "date_created",
    "date_updated",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ITEMS = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=len(FIELDS)) | JSON_VALUES


def _expected_items(content: bytes) -> int:
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 1
    results = data.get("results") if isinstance(data, dict) else None
    return len(results) if isinstance(results, list) else 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(content: bytes) -> None:
    spec = get_spec("aides-territoires")
    result = aides_territoires.parse(spec, Payload.build([(PAGE_1, content, "application/json")]))
    assert result.items_seen == _expected_items(content)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_truncated_pages_are_one_rejection(data: st.DataObject) -> None:
    spec = get_spec("aides-territoires")
    content = (FIXTURES / "page-1.json").read_bytes().rstrip()
    cut = data.draw(st.integers(min_value=0, max_value=len(content) - 1))
    result = aides_territoires.parse(spec, Payload.build([(PAGE_1, content[:cut], "application/json")]))
    assert result.records == [] and len(result.rejections) == 1
    assert result.rejections[0].location == f"page 1 ({PAGE_1})"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ITEMS, max_size=6), st.lists(ITEMS, max_size=3))
def test_wrong_types_never_raise(page_1: list, page_2: list) -> None:
    spec = get_spec("aides-territoires")
    payload = Payload.build(
        [
            (PAGE_1, json.dumps({"count": 9, "next": PAGE_2, "results": page_1}).encode(), "application/json"),
            (PAGE_2, json.dumps({"count": 9, "next": None, "results": page_2}).encode(), "application/json"),
        ]
    )
    result = aides_territoires.parse(spec, payload)
    assert result.items_seen == len(page_1) + len(page_2)
    for record in result.records:
        assert record.native_id.strip() and record.titre.strip()
        json.dumps(record.raw)
