"""Issue 16, point 5 (sessions and abuse): logout ends the session on the server, login attempts
are limited, a body that never comes does not hold the connection, agent pages are never cached."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from test_webapp import build_warehouse, csrf_of, log_in

import webapp.app as webapp_app
from warehouse.settings import WarehousePaths
from webapp.app import PageError, create_app, read_body


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_warehouse(tmp_path_factory.mktemp("sessions") / "warehouse")


@pytest.fixture
def own(built, tmp_path: Path) -> dict:
    root = tmp_path / "warehouse"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    return {"paths": WarehousePaths(root), "tokens": built["tokens"]}


def _client(paths: WarehousePaths) -> TestClient:
    return TestClient(create_app(paths, session_key=b"s" * 32), raise_server_exceptions=False)


def test_logout_ends_the_session_for_the_old_cookie_in_every_process(own) -> None:
    client = _client(own["paths"])
    log_in(client, own["tokens"]["angers"])
    page = client.get("/mon-territoire")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    old_cookie = client.cookies.get("aides_session")
    assert client.post("/deconnexion", data={"csrf": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    for replay in (_client(own["paths"]), client):  # another process (same key), and this one
        replay.cookies.clear()
        replay.cookies.set("aides_session", old_cookie)
        for path in ("/mon-territoire", "/mon-territoire/soumission.csv"):
            answer = replay.get(path, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/connexion"), path


def test_failed_logins_are_limited_per_client_and_token_prefix(own) -> None:
    client = _client(own["paths"])
    page = client.get("/connexion")
    statuses = []
    for attempt in range(7):
        answer = client.post("/connexion", data={"csrf": csrf_of(page.text), "jeton": f"faux-{attempt}-xxxxxxxx"})
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert 1 <= int(answer.headers["retry-after"]) <= 60 and "Trop de tentatives" in answer.text
    # even the right token waits: the client is the one being limited
    right = client.post("/connexion", data={"csrf": csrf_of(page.text), "jeton": own["tokens"]["angers"]})
    assert right.status_code == 429


def test_security_headers_on_every_page(built) -> None:
    client = _client(built["paths"])
    answer = client.get("/telechargements")
    assert "camera=()" in answer.headers["permissions-policy"]
    assert client.get("/connexion").headers["cache-control"] == "no-store"
    assert client.head("/telechargements").status_code == 200


def test_a_body_that_never_comes_is_answered_408(monkeypatch) -> None:
    monkeypatch.setattr(webapp_app, "BODY_READ_TIMEOUT_S", 0.2)

    async def never() -> dict:
        await asyncio.sleep(3600)
        return {}

    request = Request(
        {"type": "http", "method": "POST", "path": "/connexion", "headers": [(b"content-length", b"100")]}, never
    )
    with pytest.raises(PageError) as error:
        asyncio.run(read_body(request, 1000))
    assert error.value.status == 408


def test_dates_are_written_the_french_way() -> None:
    from webapp.app import datetime_fr

    assert datetime_fr("2026-12-07T19:27:05+01:00") == "7 décembre 2026 à 19:27"
    assert datetime_fr("2026-12-01T05:00:00+00:00") == "1er décembre 2026 à 06:00"  # Paris time
    assert datetime_fr("pas une date") == "pas une date"
