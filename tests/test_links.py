"""Link checking: definitive 4xx answers make a link broken; nothing else ever does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sources.fetch import client as client_module
from sources.fetch.client import FetchPolicy, PoliteClient
from sources.fetch.transport import ReplayTransport, TransportError, TransportResponse
from warehouse.db import connect_reader, connect_writer
from warehouse.quality.links import LinkCheck, broken_links, check_links, check_urls, link_state, urls_to_check
from warehouse.settings import LinkCheckSettings, link_check_settings
from webapp.queries import aid_rows

POLICY = FetchPolicy(user_agent="test-liens/0.1 (+https://example.org)", attempts=3, backoff_s=0.5, min_interval_s=1.0)
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


class ScriptedTransport:
    """Answers from a script: (METHOD, url) -> a status, a (status, body[, headers]) tuple, a list
    of those (one per call, the last repeated), or an exception. robots.txt answers 404 (no
    rules) unless scripted."""

    def __init__(self, script: dict[tuple[str, str], object]) -> None:
        self.script = script
        self.calls: list[tuple[str, str, str]] = []

    def send(self, url: str, headers: dict[str, str], timeout: float, method: str = "GET") -> TransportResponse:
        self.calls.append((method, url, headers["User-Agent"]))
        answer = self.script.get((method, url))
        if answer is None and url.endswith("/robots.txt"):
            answer = 404
        if answer is None:
            raise AssertionError(f"requête inattendue : {method} {url}")
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, tuple):
            return TransportResponse(url, answer[0], answer[2] if len(answer) > 2 else {}, answer[1])
        return TransportResponse(url, int(answer), {}, b"")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def fresh_host_gates(monkeypatch):
    """The per-host spacing is process-wide (shared with the fetch client): each test starts afresh."""
    monkeypatch.setattr(client_module, "_GATES", {})


def _add_aid(conn, titre: str, statut: str, url_source: str | None, url_demarche: str | None = None) -> str:
    aid_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO aides (id, titre, statut, sources, geo_statut, publiable, url_source, url_demarche) "
        "VALUES (?, ?, ?, ['test'], 'resolved', true, ?, ?)",
        [aid_id, titre, statut, url_source, url_demarche],
    )
    return aid_id


def _statuses(conn) -> dict[str, tuple]:
    rows = conn.execute("SELECT url, statut, http_status, detail, casse FROM liens").fetchall()
    return {r[0]: r[1:] for r in rows}


@pytest.fixture
def catalogue(warehouse):
    with connect_writer() as conn:
        ids = {
            "ok": _add_aid(conn, "A", "ouverte", "https://a.example/aide", "https://a.example/demarche"),
            "casse": _add_aid(conn, "B", "permanente", "https://b.example/disparue"),
            "instable": _add_aid(conn, "C", "à venir", "https://c.example/aide"),
            "dns": _add_aid(conn, "D", "ouverte", "https://nulle-part.example/aide"),
            "robots": _add_aid(conn, "E", "ouverte", "https://r.example/prive/aide"),
            "close": _add_aid(conn, "F", "clôturée", "https://closed.example/aide", "https://a.example/vieille"),
        }
    return ids


def _script() -> dict:
    dns = TransportError("https://nulle-part.example : nom d'hôte introuvable", retryable=False)
    return {
        ("HEAD", "https://a.example/aide"): 200,
        ("HEAD", "https://a.example/demarche"): 405,
        ("GET", "https://a.example/demarche"): 200,
        ("HEAD", "https://b.example/disparue"): 404,
        ("GET", "https://b.example/disparue"): 404,
        ("HEAD", "https://c.example/aide"): 503,
        ("GET", "https://c.example/aide"): 503,
        ("GET", "https://nulle-part.example/robots.txt"): dns,
        ("HEAD", "https://nulle-part.example/aide"): dns,
        ("GET", "https://r.example/robots.txt"): (200, b"User-agent: *\nDisallow: /prive/\n"),
    }


def test_each_answer_gets_the_documented_verdict(catalogue):
    transport, fake = ScriptedTransport(_script()), FakeTime()
    with connect_writer() as conn:
        summary = check_links(conn, transport, POLICY, now=NOW, sleep=fake.sleep, clock=fake.clock)
        found = _statuses(conn)
    assert found["https://a.example/aide"][:2] == ("ok", 200)
    assert found["https://a.example/demarche"][:2] == ("ok", 200)  # HEAD refused, GET answered
    assert found["https://b.example/disparue"] == ("casse", 404, "HTTP 404", True)
    assert found["https://c.example/aide"][:2] == ("non_verifie", 503)  # a persistent 5xx is not a verdict
    assert "3 tentatives" in found["https://c.example/aide"][2]
    dns = found["https://nulle-part.example/aide"]
    assert dns[0] == "non_verifie" and dns[1] is None and "introuvable" in dns[2] and dns[3] is False
    assert found["https://r.example/prive/aide"] == ("non_verifie", None, "interdit par robots.txt", False)
    assert (summary.checked, summary.ok, summary.broken, summary.unchecked) == (6, 2, 1, 3)


def test_closed_aids_links_are_not_checked_and_forbidden_pages_not_requested(catalogue):
    transport = ScriptedTransport(_script())
    fake = FakeTime()
    with connect_writer() as conn:
        check_links(conn, transport, POLICY, now=NOW, sleep=fake.sleep, clock=fake.clock)
        assert "https://closed.example/aide" not in _statuses(conn)
        assert "https://a.example/vieille" not in _statuses(conn)
    requested = {url for _, url, _ in transport.calls}
    assert not any("closed.example" in u or "vieille" in u for u in requested)
    assert "https://r.example/prive/aide" not in requested  # robots.txt said no
    assert all(agent == POLICY.user_agent for _, _, agent in transport.calls)


def test_retries_back_off_and_requests_to_one_host_are_spaced(catalogue):
    transport, fake = ScriptedTransport(_script()), FakeTime()
    with connect_writer() as conn:
        check_links(conn, transport, POLICY, now=NOW, sleep=fake.sleep, clock=fake.clock)
    c_calls = [m for m, url, _ in transport.calls if url == "https://c.example/aide"]
    assert c_calls == ["HEAD"] * 3 + ["GET"] * 3  # 3 attempts each, the policy's number
    assert any(s >= POLICY.backoff_s * 2 for s in fake.slept)  # exponential backoff
    # no DNS retries: a host name that does not resolve is tried once
    assert [url for _, url, _ in transport.calls].count("https://nulle-part.example/robots.txt") == 1
    # spacing: between two requests to a.example at least min_interval_s of (fake) time passed
    times: list[float] = []
    transport2, fake2 = ScriptedTransport(_script()), FakeTime()

    class Stamping(ScriptedTransport):
        def send(self, url, headers, timeout, method="GET"):
            if "a.example" in url:
                times.append(fake2.now)
            fake2.now += 0.1  # each request takes a little time
            return transport2.send(url, headers, timeout, method)

    with connect_writer() as conn:
        check_links(
            conn,
            Stamping({}),
            POLICY,
            now=datetime(2025, 3, 2, tzinfo=UTC),
            sleep=fake2.sleep,
            clock=fake2.clock,
            interval=timedelta(0),  # every link again, the day after
        )
    assert len(times) >= 3 and all(b - a >= POLICY.min_interval_s - 0.1 for a, b in zip(times, times[1:], strict=False))


def test_offline_nothing_is_called_broken(catalogue):
    class Offline:
        def send(self, url, headers, timeout, method="GET"):
            raise TransportError(f"{url} : nom d'hôte introuvable", retryable=False)

    with connect_writer() as conn:
        summary = check_links(conn, Offline(), POLICY, now=NOW, sleep=lambda s: None)
        statuts = {row[0] for row in _statuses(conn).values()}
    assert summary.broken == 0 and summary.ok == 0 and summary.unchecked == summary.checked == 6
    assert statuts == {"non_verifie"}


def test_the_webapp_flags_the_latest_broken_link_only(catalogue):
    with connect_writer() as conn:
        check_links(conn, ScriptedTransport(_script()), POLICY, now=NOW, sleep=lambda s: None)
    with connect_reader() as conn:
        rows = {r["id"]: r for r in aid_rows(conn, list(catalogue.values()))}
    assert rows[catalogue["casse"]]["liens_casses"] == ["https://b.example/disparue"]
    assert "lien_casse" in {f.kind for f in rows[catalogue["casse"]]["alertes"]}
    for key in ("ok", "instable", "dns", "robots"):  # unchecked is not broken for the webapp either
        assert not rows[catalogue[key]]["liens_casses"], key
    # a later check where the page is back: history is kept, the flag goes away
    fixed = {**_script(), ("HEAD", "https://b.example/disparue"): 200}
    with connect_writer() as conn:
        check_links(conn, ScriptedTransport(fixed), POLICY, now=datetime(2025, 4, 1, tzinfo=UTC), sleep=lambda s: None)
        assert conn.execute("SELECT count(*) FROM liens WHERE url = 'https://b.example/disparue'").fetchone()[0] == 2
    with connect_reader() as conn:
        rows = {r["id"]: r for r in aid_rows(conn, [catalogue["casse"]])}
    assert not rows[catalogue["casse"]]["liens_casses"]


def test_limit_and_host_interleaving(catalogue):
    with connect_reader() as conn:
        urls = urls_to_check(conn)
        assert len(urls_to_check(conn, limit=2)) == 2
    assert len(urls) == 6 and len(set(urls)) == 6
    hosts = [u.split("/")[2] for u in urls]
    assert hosts[:5].count("a.example") == 1  # a.example's second URL comes after every other host's first


def test_the_asset_runs_offline_and_records_unchecked_links(catalogue, monkeypatch):
    import pipelines.defs.qualite.links as assets

    class Offline:
        def send(self, url, headers, timeout, method="GET"):
            raise TransportError(f"{url} : nom d'hôte introuvable", retryable=False)

    monkeypatch.setattr(assets, "link_transport", Offline)
    with dg.instance_for_test() as instance:
        result = dg.materialize([assets.liens, assets.liens_casses], instance=instance)
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {k: getattr(v, "value", v) for k, v in event.step_materialization_data.materialization.metadata.items()}
    assert (metadata["nb_verifies"], metadata["nb_ok"], metadata["nb_casses"], metadata["nb_non_verifies"]) == (
        6,
        0,
        0,
        6,
    )
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN
    with connect_reader() as conn:
        assert conn.execute("SELECT DISTINCT statut FROM liens").fetchall() == [("non_verifie",)]


def test_in_replay_the_asset_reaches_no_server_and_answers_from_a_liens_recording(catalogue, monkeypatch, tmp_path):
    import json

    import pipelines.defs.qualite.links as assets

    monkeypatch.setenv("AIDES_REPLAY_DIR", str(tmp_path))
    monkeypatch.setattr("sources.fetch.transport.LiveTransport.send", lambda *a, **k: pytest.fail("réseau utilisé"))
    with dg.instance_for_test() as instance:
        assert dg.materialize([assets.liens], instance=instance).success
    with connect_reader() as conn:
        assert conn.execute(
            "SELECT DISTINCT statut, detail LIKE 'aucune réponse enregistrée%' FROM liens"
        ).fetchall() == [("non_verifie", True)]
    (tmp_path / "liens").mkdir()
    (tmp_path / "liens" / "index.json").write_text(
        json.dumps(
            {
                "description": "t",
                "responses": [
                    {"url": "https://b.example/disparue", "method": "HEAD", "status": 404},
                    {"url": "https://b.example/disparue", "method": "GET", "status": 404},
                ],
            }
        )
    )
    monkeypatch.setenv("AIDES_LIENS_INTERVALLE_JOURS", "0")  # checked again at once
    with dg.instance_for_test() as instance:
        assert dg.materialize([assets.liens], instance=instance).success
    with connect_reader() as conn:
        latest = dict(conn.execute("SELECT url, arg_max(statut, checked_at) FROM liens GROUP BY url").fetchall())
    assert latest["https://b.example/disparue"] == "casse"
    assert {v for u, v in latest.items() if u != "https://b.example/disparue"} == {"non_verifie"}


def test_the_check_warns_when_too_many_links_are_broken(catalogue, monkeypatch):
    import pipelines.defs.qualite.links as assets

    with connect_writer() as conn:
        check_links(conn, ScriptedTransport(_script()), POLICY, now=NOW, sleep=lambda s: None)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [assets.liens_casses], instance=instance, selection=dg.AssetSelection.checks_for_assets(assets.liens)
        )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed  # 1 broken out of 3 answered: 33 % > 10 %
    assert check.metadata["nb_casses"].value == 1 and check.metadata["nb_ok"].value == 2


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_and_a_429_or_503_that_clears_is_ok(status):
    url = "https://a.example/aide"
    transport, fake = ScriptedTransport({("HEAD", url): [(status, b"", {"Retry-After": "7"}), 200]}), FakeTime()
    [check] = check_urls([url], transport, POLICY, sleep=fake.sleep, clock=fake.clock)
    assert (check.statut, check.http_status, check.detail) == ("ok", 200, None)
    assert 7.0 in fake.slept and [m for m, u, _ in transport.calls if u == url] == ["HEAD", "HEAD"]


def test_an_unanswering_robots_txt_is_asked_once_per_host_and_its_pages_never():
    urls = ["https://lent.example/1", "https://lent.example/2"]
    transport = ScriptedTransport({("GET", "https://lent.example/robots.txt"): TransportError("ReadTimeout")})
    checks = check_urls(urls, transport, POLICY, sleep=FakeTime().sleep, clock=FakeTime().clock)
    assert [(c.statut, c.http_status) for c in checks] == [("non_verifie", None)] * 2
    assert all(c.detail == "robots.txt injoignable après 3 tentatives (ReadTimeout)" for c in checks)
    assert [u for _, u, _ in transport.calls] == ["https://lent.example/robots.txt"] * 3  # 3 attempts, one host


def test_a_replayed_run_without_recording_says_so_and_sends_no_get(tmp_path):
    url = "https://b.example/disparue"
    replay = ReplayTransport({}, tmp_path)
    [check] = check_urls([url], replay, POLICY, sleep=lambda s: None)
    detail = f"aucune réponse enregistrée (réponse non enregistrée pour {url})"
    assert check == LinkCheck(url, "non_verifie", None, detail)
    assert replay.requested == ["https://b.example/robots.txt", url]  # HEAD only: a miss is not retried as GET


def test_the_checker_and_the_fetch_client_share_each_host_s_spacing():
    fake = FakeTime()
    transport = ScriptedTransport(
        {("GET", "https://a.example/donnees"): (200, b"{}"), ("HEAD", "https://a.example/aide"): 200}
    )
    PoliteClient("source", transport, POLICY, sleep=fake.sleep, clock=fake.clock).get("https://a.example/donnees")
    fake.slept.clear()
    [check] = check_urls(["https://a.example/aide"], transport, POLICY, sleep=fake.sleep, clock=fake.clock)
    assert check.statut == "ok"
    # the checker's own robots.txt request waited for the collection's last request to a.example
    assert fake.slept and fake.slept[0] == pytest.approx(POLICY.min_interval_s)


# -- incremental checking ------------------------------------------------------------------------

WEEK = timedelta(days=7)


def _checked_urls(transport: ScriptedTransport) -> set[str]:
    return {url for _, url, _ in transport.calls if not url.endswith("/robots.txt")}


def test_a_second_run_within_the_interval_checks_nothing_and_keeps_every_verdict(catalogue):
    with connect_writer() as conn:
        check_links(conn, ScriptedTransport(_script()), POLICY, now=NOW, sleep=lambda s: None)
        before = _statuses(conn)
        again = ScriptedTransport(_script())
        summary = check_links(conn, again, POLICY, now=NOW + timedelta(days=3), sleep=lambda s: None)
        assert summary.checked == 0 and again.calls == []  # not even robots.txt
        assert _statuses(conn) == before and conn.execute("SELECT count(*) FROM liens").fetchone()[0] == 6
        state = link_state(conn, NOW + timedelta(days=3), WEEK)
    # the link found broken three days ago is still reported broken, by the state and the webapp
    assert (state.total, state.fresh, state.due, state.ok, state.broken, state.unchecked) == (6, 6, 0, 2, 1, 3)
    with connect_reader() as conn:
        assert [url for url, *_ in broken_links(conn)] == ["https://b.example/disparue"]
        rows = {r["id"]: r for r in aid_rows(conn, [catalogue["casse"]])}
    assert rows[catalogue["casse"]]["liens_casses"] == ["https://b.example/disparue"]


def test_a_check_is_due_again_once_the_interval_has_passed(catalogue):
    with connect_writer() as conn:
        check_links(conn, ScriptedTransport(_script()), POLICY, now=NOW, sleep=lambda s: None)
        assert urls_to_check(conn, now=NOW + WEEK - timedelta(minutes=1), interval=WEEK) == []
        assert len(urls_to_check(conn, now=NOW + WEEK, interval=WEEK)) == 6
        fixed = ScriptedTransport({**_script(), ("HEAD", "https://b.example/disparue"): 200})
        summary = check_links(conn, fixed, POLICY, now=NOW + WEEK, sleep=lambda s: None, interval=WEEK)
        assert summary.checked == 6 and "https://b.example/disparue" in _checked_urls(fixed)
        assert link_state(conn, NOW + WEEK, WEEK).broken == 0  # the page came back


def test_never_checked_links_come_first_then_the_oldest_checks(catalogue):
    with connect_writer() as conn:
        for days, url in (
            (20, "https://c.example/aide"),
            (10, "https://a.example/aide"),
            (3, "https://r.example/prive/aide"),
        ):
            conn.execute(
                "INSERT INTO liens (url, checked_at, statut) VALUES (?, ?, 'ok')", [url, NOW - timedelta(days=days)]
            )
        _add_aid(conn, "G", "ouverte", "https://nouveau.example/aide")
        order = urls_to_check(conn, now=NOW, interval=WEEK)
    never = {"https://a.example/demarche", "https://b.example/disparue", "https://nulle-part.example/aide"}
    never.add("https://nouveau.example/aide")
    assert set(order[:4]) == never
    assert order[4:] == ["https://c.example/aide", "https://a.example/aide"]  # r.example's check is fresh
    with connect_reader() as conn:
        state = link_state(conn, NOW, WEEK)
    assert (state.total, state.fresh, state.due, state.never) == (7, 1, 6, 4)


def test_the_budget_is_respected_and_the_rest_waits_for_the_next_runs(catalogue):
    later = NOW + timedelta(hours=1)
    with connect_writer() as conn:
        assert (
            check_links(conn, ScriptedTransport(_script()), POLICY, now=NOW, limit=4, sleep=lambda s: None).checked == 4
        )
        assert (
            check_links(conn, ScriptedTransport(_script()), POLICY, now=later, limit=4, sleep=lambda s: None).checked
            == 2
        )
        runs = conn.execute(
            "SELECT checked_at, count(*), count(DISTINCT url) FROM liens GROUP BY ALL ORDER BY 1"
        ).fetchall()
        assert [(n, distinct) for _, n, distinct in runs] == [(4, 4), (2, 2)]
        assert conn.execute("SELECT count(DISTINCT url) FROM liens").fetchone()[0] == 6  # the rest, nothing twice
        assert link_state(conn, later, WEEK).due == 0


def test_a_time_budget_starts_no_check_after_it_is_spent():
    urls = [f"https://h{i}.example/aide" for i in range(5)]
    fake = FakeTime()

    class Slow(ScriptedTransport):
        def send(self, url, headers, timeout, method="GET"):
            fake.now += 10.0  # every exchange takes 10 s
            return super().send(url, headers, timeout, method)

    transport = Slow({("HEAD", url): 200 for url in urls})
    checks = check_urls(urls, transport, POLICY, sleep=fake.sleep, clock=fake.clock, max_seconds=35)
    assert [c.url for c in checks] == urls[:2]  # robots.txt + HEAD: 20 s each; none started after 35 s


def test_the_asset_reports_what_it_checked_what_is_due_and_what_is_fresh(catalogue, monkeypatch):
    import pipelines.defs.qualite.links as assets

    class Offline:
        def send(self, url, headers, timeout, method="GET"):
            raise TransportError(f"{url} : nom d'hôte introuvable", retryable=False)

    def run() -> dict:
        with dg.instance_for_test() as instance:
            result = dg.materialize([assets.liens], instance=instance)
        [event] = result.get_asset_materialization_events()
        metadata = event.step_materialization_data.materialization.metadata
        return {k: getattr(v, "value", v) for k, v in metadata.items()}

    monkeypatch.setattr(assets, "link_transport", Offline)
    monkeypatch.setenv("AIDES_LIENS_PAR_RUN", "4")
    first, second, third = run(), run(), run()
    keys = ("nb_verifies", "nb_a_jour", "nb_dus", "nb_jamais_verifies", "nb_non_verifies", "dagster/row_count")
    assert [first[k] for k in keys] == [4, 4, 2, 2, 4, 6]
    assert [second[k] for k in keys] == [2, 6, 0, 0, 6, 6]
    assert [third[k] for k in keys] == [0, 6, 0, 0, 6, 6]  # within the interval: nothing again
    assert first["intervalle_jours"] == 7.0


def test_the_link_check_settings_are_read_from_the_environment(monkeypatch):
    assert link_check_settings() == LinkCheckSettings(timedelta(days=7), 100, 300.0)
    monkeypatch.setenv("AIDES_LIENS_INTERVALLE_JOURS", "0,5")
    monkeypatch.setenv("AIDES_LIENS_PAR_RUN", "0")
    monkeypatch.setenv("AIDES_LIENS_DUREE_MAX_S", "60")
    assert link_check_settings() == LinkCheckSettings(timedelta(hours=12), 0, 60.0)
    monkeypatch.setenv("AIDES_LIENS_PAR_RUN", "beaucoup")
    with pytest.raises(ValueError, match="AIDES_LIENS_PAR_RUN='beaucoup' : attendu un nombre entier"):
        link_check_settings()
    monkeypatch.setenv("AIDES_LIENS_PAR_RUN", "10")
    monkeypatch.setenv("AIDES_LIENS_INTERVALLE_JOURS", "-1")
    with pytest.raises(ValueError, match="AIDES_LIENS_INTERVALLE_JOURS"):
        link_check_settings()
