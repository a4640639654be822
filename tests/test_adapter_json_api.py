"""The configurable `json_api` adapter: a JSON feed never seen before (the Ministère de la Culture's,
as aides-territoires recorded it) declared by one configuration entry, with paths into nested
objects; pages followed; a page of another shape counted item by item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from collect_test_helpers import context

from sources.base import Payload
from sources.fetch.transport import ReplayTransport
from sources.ingest import IngestStatus, ingest
from sources.registry import get_spec

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "real-sources" / "aides-territoires"
CULTURE = SHARED / "api-responses" / "ministere_de_la_culture_data.json"
URL = "https://api.culture.example/aides"

DECLARATION = f"""
[[source]]
name = "ministere-culture-test"
adapter = "json_api"
level = "national"
publisher = "Ministère de la Culture"
licence = "Licence Ouverte v2.0 (Etalab)"
homepage = "https://www.culture.gouv.fr/"
transport = "http"
schedule = "0 4 * * *"

[source.config]
url = "{URL}"

[source.config.fields]
native_id = "id"
titre = "title"
promesse = "summary"
description = "body"
url_source = "url"
url_demarche = "link.link"
date_mise_a_jour = "modificationDate"
thematiques = "eztag_theme"
cibles = "public"
montants = "amount"

[source.config.constants]
porteurs = ["Ministère de la Culture"]
geo = {{ niveau = "pays", nom = "France" }}
"""


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "declarations"
    folder.mkdir()
    (folder / "culture.toml").write_text(DECLARATION, encoding="utf-8")
    monkeypatch.setenv("AIDES_SOURCES_DIR", str(folder))
    return get_spec("ministere-culture-test")


def test_a_real_json_feed_is_read_from_one_configuration_entry(spec, tmp_path: Path) -> None:
    outcome = ingest(spec, context(tmp_path, ReplayTransport.from_files({URL: CULTURE})), None)
    assert outcome.status == IngestStatus.PARSED and outcome.result is not None
    stated = json.loads(CULTURE.read_text(encoding="utf-8"))
    assert outcome.result.items_seen == len(stated) == 3 and outcome.result.rejections == []
    first = outcome.result.records[0]
    assert first.native_id == "303980" and first.titre == "Déclaration 1 immeuble, 1 œuvre"
    assert first.url_demarche == "https://mesdemarches.culture.gouv.fr/mcc/requests/monuments-sites_1i1o/"  # link.link
    assert first.thematiques == ["Arts plastiques"] and first.cibles == ["Entreprises privées"]
    assert first.url_source == stated[0]["url"]  # "https: //…" kept as stated: normalisation reports it
    assert first.porteurs == ["Ministère de la Culture"]


def test_pages_are_followed_and_a_page_of_another_shape_fails_the_source(spec, tmp_path: Path) -> None:
    from dataclasses import replace

    paged = replace(spec, config={**spec.config, "items": "data.aides", "next": "data.suivante"})
    items = json.loads(CULTURE.read_text(encoding="utf-8"))
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    one.write_text(json.dumps({"data": {"aides": items[:2], "suivante": "/aides?page=2"}}), encoding="utf-8")
    two.write_text(json.dumps({"data": {"aides": items[2:], "suivante": None}}), encoding="utf-8")
    transport = ReplayTransport.from_files({URL: one, "https://api.culture.example/aides?page=2": two})
    outcome = ingest(paged, context(tmp_path / "a", transport), None)
    assert outcome.status == IngestStatus.PARSED and len(outcome.result.records) == 3, outcome.error
    # the API changed shape: its aids are now a bare list, not under data.aides
    from sources.adapters import json_api

    result = json_api.parse(paged, Payload.build([(URL, json.dumps(items).encode(), "application/json")]))
    assert result.records == [] and len(result.rejections) == 3 and result.unreadable
    assert all("structure inattendue" in r.reason for r in result.rejections)


def test_paths_reach_into_objects_and_through_lists() -> None:
    from sources.mapping import lookup

    item = {"a.b": 1, "financers": [{"name": "ADEME"}, {"name": "Anah"}, {"nom": "?"}], "link": {"link": "u"}}
    assert lookup(item, "a.b") == 1  # a key holding a dot is read whole first
    assert lookup(item, "financers.name") == ["ADEME", "Anah"]
    assert lookup(item, "link.link") == "u" and lookup(item, "link.absent") is None
    assert lookup({"data": {"aides": [{"id": 1}]}}, "data.aides") == [{"id": 1}]  # a list of one stays a list
