"""The public API (issue 15): endpoints, errors as problem+json, HTTP caching and HEAD, CORS, the
rate limit, a consumer syncing through ``changements``, a new release served without restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from api_releases import golden_aids, write_release
from fastapi.testclient import TestClient

from warehouse.settings import WarehousePaths
from webapp.app import create_app

V1_AT = datetime(2026, 11, 1, 5, tzinfo=UTC)
V2_AT = datetime(2026, 11, 8, 5, tzinfo=UTC)


@pytest.fixture
def paths(tmp_path: Path) -> WarehousePaths:
    paths = WarehousePaths(tmp_path / "warehouse")
    paths.exports_dir.mkdir(parents=True)
    return paths


@pytest.fixture
def v1(paths: WarehousePaths) -> pl.DataFrame:
    aides = golden_aids()
    write_release(paths, "2026-11-01.1", aides, V1_AT)
    return aides


def _v2(v1: pl.DataFrame) -> pl.DataFrame:
    """V1 with 5 aids removed, 3 retitled, 2 closed, one amount changed, 2 added."""
    ids = v1["id"].to_list()
    removed, retitled, closed = ids[:5], ids[5:8], ids[8:10]
    v2 = v1.filter(~pl.col("id").is_in(removed)).with_columns(
        pl.when(pl.col("id").is_in(retitled))
        .then(pl.col("titre") + " (nouvelle édition)")
        .otherwise("titre")
        .alias("titre"),
        pl.when(pl.col("id").is_in(closed)).then(pl.lit("clôturée")).otherwise("statut").alias("statut"),
        pl.when(pl.col("id") == ids[10]).then(pl.lit(1234.5)).otherwise("montant_max").alias("montant_max"),
    )
    added = v1.head(2).with_columns(
        pl.Series("id", ["aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"]),
        pl.lit("Aide ajoutée en V2").alias("titre"),
    )
    return pl.concat([v2, added]).sort("id")


def _client(paths: WarehousePaths, rate: tuple[float, int] = (1000.0, 10_000)) -> TestClient:
    return TestClient(create_app(paths, session_key=b"k" * 32, api_rate=rate))


def _all_pages(client: TestClient, url: str, key: str) -> list[dict]:
    items: list[dict] = []
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body[key]
        url = body["liens"]["suivante"]
    return items


def test_a_consumer_applying_the_changes_since_v1_to_v1_obtains_exactly_v2(paths, v1) -> None:
    client = _client(paths)
    stored = {a["id"]: a for a in _all_pages(client, "/api/v1/aides?statut=toutes&par_page=100", "aides")}
    version = client.get("/api/v1/aides?par_page=1").json()["publication"]
    assert version == "2026-11-01.1" and len(stored) == v1.height
    write_release(paths, "2026-11-08.1", _v2(v1), V2_AT)  # published while the server runs
    changes = _all_pages(client, f"/api/v1/changements?depuis={version}&par_page=7", "changements")
    kinds = sorted(c["changement"] for c in changes)
    assert kinds.count("supprimée") == 5 and kinds.count("ajoutée") == 2 and kinds.count("modifiée") == 6
    for change in changes:
        if change["changement"] == "supprimée":
            del stored[change["id"]]
        elif change["changement"] == "ajoutée":
            stored[change["id"]] = change["aide"]
        else:
            stored[change["id"]].update(change["aide"])
            assert set(change["champs"]) == set(change["aide"])
    v2 = {a["id"]: a for a in _all_pages(client, "/api/v1/aides?statut=toutes&par_page=100", "aides")}
    assert stored == v2  # exactly release V2
    by_date = client.get("/api/v1/changements?depuis=2026-11-05").json()
    assert by_date["depuis"] == "2026-11-01.1" and by_date["total"] == len(changes)
    assert client.get("/api/v1/changements?depuis=2026-11-08.1").json()["total"] == 0
    assert client.get("/api/v1/changements?depuis=2020-01-01").json()["total"] == _v2(v1).height  # all new


def test_an_aid_answers_by_id_and_a_removed_one_answers_gone_with_its_date(paths, v1) -> None:
    write_release(paths, "2026-11-08.1", _v2(v1), V2_AT)
    client = _client(paths)
    kept = v1["id"][20]
    answer = client.get(f"/api/v1/aides/{kept}?fields=id,titre,porteurs,cibles,montant_max")
    assert answer.status_code == 200 and set(answer.json()) == {"id", "titre", "porteurs", "cibles", "montant_max"}
    assert isinstance(answer.json()["porteurs"], list) and isinstance(answer.json()["cibles"], list)
    gone = client.get(f"/api/v1/aides/{v1['id'][0]}")
    assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["date"] == "2026-11-08T05:00:00Z" and "2026-11-08.1" in gone.json()["detail"]
    unknown = client.get("/api/v1/aides/aaaaaaaa-0000-4000-8000-00000000ffff")
    assert unknown.status_code == 404 and unknown.json()["parametre"] == "aide_id"


def test_a_merged_id_redirects_to_the_surviving_aid(paths, v1) -> None:
    folder = write_release(paths, "2026-11-08.1", _v2(v1), V2_AT)
    absorbed, kept = v1["id"][0], v1["id"][20]
    (folder / "redirections.csv").write_text(f"ancien_id,id\n{absorbed},{kept}\n", encoding="utf-8")
    answer = _client(paths).get(f"/api/v1/aides/{absorbed}?fields=titre", follow_redirects=False)
    assert answer.status_code == 301 and answer.headers["location"] == f"/api/v1/aides/{kept}?fields=titre"


def test_filters_search_and_pagination(paths, v1) -> None:
    client = _client(paths)
    body = client.get(
        "/api/v1/aides?thematique=transport&cible=particuliers&par_page=5&fields=id,thematiques,cibles"
    ).json()
    assert body["total"] > 5 and len(body["aides"]) == 5
    assert all("transport" in a["thematiques"] and "particuliers" in a["cibles"] for a in body["aides"])
    second = client.get(body["liens"]["suivante"]).json()
    assert not {a["id"] for a in second["aides"]} & {a["id"] for a in body["aides"]}  # stable, disjoint pages
    velo = client.get("/api/v1/aides?q=vélos électriques&par_page=100&fields=titre,description").json()
    assert velo["total"] > 0
    assert all("lectri" in (a["titre"] + (a["description"] or "")).lower() for a in velo["aides"])
    assert client.get("/api/v1/aides?q=VELO ELECTRIQUE").json()["total"] == velo["total"]  # accents, case, plurals
    young = client.get("/api/v1/aides?age=20&par_page=100&fields=age_min,age_max").json()["aides"]
    assert all((a["age_min"] or 0) <= 20 <= (a["age_max"] or 200) for a in young)
    closed = client.get("/api/v1/aides?statut=clôturée&fields=statut").json()
    assert all(a["statut"] == "clôturée" for a in closed["aides"])
    default = client.get("/api/v1/aides?par_page=100&fields=statut").json()
    assert {a["statut"] for a in default["aides"]} <= {"ouverte", "permanente"}
    carried = client.get("/api/v1/aides?porteur=385290309&fields=porteurs").json()  # the ADEME's SIREN
    assert carried["total"] > 0
    assert all(any(p["siren"] == "385290309" for p in a["porteurs"]) for a in carried["aides"])


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/aides?couleur=vert", "couleur"),
        ("/api/v1/aides?thematique=velo", "thematique"),
        ("/api/v1/aides?par_page=500", "par_page"),
        ("/api/v1/aides?fields=titre,prix", "fields"),
        ("/api/v1/aides?ouverte_le=31/12/2026", "ouverte_le"),
        ("/api/v1/aides/pas-un-uuid", "aide_id"),
        ("/api/v1/changements?depuis=hier", "depuis"),
        ("/api/v1/changements", "depuis"),
    ],
)
def test_bad_requests_are_400_problems_naming_the_parameter(paths, v1, url, parameter) -> None:
    answer = _client(paths).get(url)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["parametre"] == parameter and answer.json()["detail"]


def test_http_caching_head_cors_gzip(paths, v1) -> None:
    client = _client(paths)
    first = client.get("/api/v1/aides?par_page=100")
    assert first.headers["etag"] == 'W/"2026-11-01.1"' and first.headers["cache-control"].startswith("public")
    assert first.headers["last-modified"] == "Sun, 01 Nov 2026 05:00:00 GMT"
    assert first.headers["access-control-allow-origin"] == "*"
    assert client.get("/api/v1/aides?par_page=100", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    since = client.get("/api/v1/aides?par_page=100", headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    head = client.head("/api/v1/aides?par_page=100")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == first.headers["etag"]
    assert client.head("/telechargements").status_code == 200 and client.head("/api/").status_code == 200
    raw = client.get("/api/v1/aides?par_page=100", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    preflight = client.options(
        "/api/v1/aides", headers={"Origin": "https://jagis.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204 and "GET" in preflight.headers["access-control-allow-methods"]


def test_a_client_past_its_rate_gets_429_with_retry_after(paths, v1) -> None:
    client = _client(paths, rate=(1.0, 3))
    statuses = [client.get("/api/v1/publications").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    limited = client.get("/api/v1/publications")
    assert limited.headers["retry-after"] == "1" and limited.json()["status"] == 429
    assert client.get("/telechargements").status_code == 200  # the pages are not limited


def test_a_new_release_is_served_without_restart_and_publications_list_both(paths, v1) -> None:
    client = _client(paths)
    assert client.get("/api/v1/aides?par_page=1").json()["publication"] == "2026-11-01.1"
    write_release(paths, "2026-11-08.1", _v2(v1), V2_AT)
    assert client.get("/api/v1/aides?par_page=1").json()["publication"] == "2026-11-08.1"
    listed = client.get("/api/v1/publications").json()["publications"]
    assert [p["version"] for p in listed] == ["2026-11-08.1", "2026-11-01.1"] and listed[0]["derniere"]
    assert listed[0]["fichiers"]["aides.parquet"].endswith("/telechargements/2026-11-08.1/aides.parquet")


def test_the_documentation_page_lists_every_operation(paths, v1) -> None:
    client = _client(paths)
    page = client.get("/api/")
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    for path in document["paths"]:
        assert f"/api{path}" in page.text
