"""The polite fetch layer: identity, robots.txt, spacing, retries, conditional requests, archive, replay."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict

import pytest

from sources.fetch import (
    FetchError,
    FetchPolicy,
    PoliteClient,
    RecordingTransport,
    ReplayMissError,
    ReplayTransport,
    RobotsDisallowedError,
    SnapshotStore,
    TransportError,
    UnreachableError,
)
from sources.fetch import client as client_module
from sources.fetch.transport import TransportResponse


class ScriptedTransport:
    """Answers each URL with the next scripted response (or raises it, if it is an exception)."""

    def __init__(self, script: dict[str, list]) -> None:
        self.script = {url: list(answers) for url, answers in script.items()}
        self.calls: list[tuple[str, dict[str, str], str]] = []

    def send(self, url, headers, timeout, method="GET"):
        self.calls.append((url, dict(headers), method))
        answers = self.script.get(url)
        if not answers:
            return TransportResponse(url, 404, {}, b"")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, headers_, body = answer
        return TransportResponse(url, status, headers_, body)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_host_gates(monkeypatch):
    monkeypatch.setattr(client_module, "_GATES", {})


POLICY = FetchPolicy(user_agent="catalogue-test/0.1 (+https://exemple.fr/contact)", min_interval_s=2.0, backoff_s=1.0)


def make_client(transport, store=None, policy=POLICY):
    clock = FakeClock()
    return PoliteClient("source-test", transport, policy, store, sleep=clock.sleep, clock=clock.clock), clock


def test_every_request_carries_the_identifying_user_agent():
    transport = ScriptedTransport({"https://a.fr/aides": [(200, {}, b"ok")]})
    client, _ = make_client(transport)
    client.get("https://a.fr/aides")
    assert all(headers["User-Agent"] == POLICY.user_agent for _, headers, _ in transport.calls)
    assert [url for url, _, _ in transport.calls] == ["https://a.fr/robots.txt", "https://a.fr/aides"]


def test_robots_txt_disallow_is_obeyed():
    robots = b"User-agent: *\nDisallow: /prive/\n"
    transport = ScriptedTransport(
        {"https://a.fr/robots.txt": [(200, {}, robots)], "https://a.fr/public": [(200, {}, b"ok")]}
    )
    client, _ = make_client(transport)
    assert client.get("https://a.fr/public").content == b"ok"
    with pytest.raises(RobotsDisallowedError, match="robots.txt"):
        client.get("https://a.fr/prive/page")
    assert "https://a.fr/prive/page" not in [url for url, _, _ in transport.calls]
    assert [url for url, _, _ in transport.calls].count("https://a.fr/robots.txt") == 1  # read once per host


def test_unreachable_robots_txt_means_disallowed():
    transport = ScriptedTransport({"https://a.fr/robots.txt": [(503, {}, b"")], "https://a.fr/x": [(200, {}, b"ok")]})
    client, _ = make_client(transport)
    with pytest.raises(RobotsDisallowedError):
        client.get("https://a.fr/x")


def test_requests_to_one_host_are_spaced():
    transport = ScriptedTransport(
        {"https://a.fr/1": [(200, {}, b"1")], "https://a.fr/2": [(200, {}, b"2")], "https://b.fr/1": [(200, {}, b"b")]}
    )
    client, clock = make_client(transport)
    client.get("https://a.fr/1")
    client.get("https://a.fr/2")
    assert clock.sleeps and all(s == pytest.approx(2.0) for s in clock.sleeps)
    before = len(clock.sleeps)
    client.get("https://b.fr/1")  # another host: its own spacing, the first request goes at once
    assert len(clock.sleeps) == before + 1  # only between b.fr's robots.txt and its page


def test_5xx_is_retried_with_exponential_backoff_then_succeeds():
    transport = ScriptedTransport({"https://a.fr/x": [(500, {}, b""), (502, {}, b""), (200, {}, b"ok")]})
    policy = FetchPolicy(user_agent="t", min_interval_s=0, backoff_s=1.0)
    client, clock = make_client(transport, policy=policy)
    assert client.get("https://a.fr/x").content == b"ok"
    waits = [s for s in clock.sleeps if s > 0]
    assert len(waits) == 2 and 1.0 <= waits[0] < 2.0 and 2.0 <= waits[1] < 3.0


def test_retry_after_is_honoured_on_429():
    transport = ScriptedTransport({"https://a.fr/x": [(429, {"Retry-After": "7"}, b""), (200, {}, b"ok")]})
    client, clock = make_client(transport, policy=FetchPolicy(user_agent="t", min_interval_s=0))
    client.get("https://a.fr/x")
    assert 7.0 in clock.sleeps


def test_persistent_errors_end_in_a_fetch_error_naming_source_and_url():
    transport = ScriptedTransport({"https://a.fr/x": [(503, {}, b"")]})
    client, _ = make_client(transport, policy=FetchPolicy(user_agent="t", min_interval_s=0, attempts=3))
    with pytest.raises(FetchError, match=r"source-test : https://a.fr/x : HTTP 503 après 3 tentatives"):
        client.get("https://a.fr/x")
    assert [url for url, _, _ in transport.calls].count("https://a.fr/x") == 3


def test_connection_errors_and_timeouts_are_retried():
    transport = ScriptedTransport(
        {"https://a.fr/x": [TransportError("timeout"), TransportError("reset"), (200, {}, b"ok")]}
    )
    client, _ = make_client(transport, policy=FetchPolicy(user_agent="t", min_interval_s=0))
    assert client.get("https://a.fr/x").content == b"ok"
    down = ScriptedTransport({"https://a.fr/x": [TransportError("refused")]})
    client, _ = make_client(down, policy=FetchPolicy(user_agent="t", min_interval_s=0, attempts=2))
    with pytest.raises(FetchError, match="injoignable après 2 tentatives"):
        client.get("https://a.fr/x")


def test_client_errors_are_not_retried():
    transport = ScriptedTransport({"https://a.fr/x": [(404, {}, b"")]})
    client, _ = make_client(transport)
    with pytest.raises(FetchError, match="HTTP 404"):
        client.get("https://a.fr/x")
    assert [url for url, _, _ in transport.calls].count("https://a.fr/x") == 1


def test_conditional_requests_reuse_the_archived_body_on_304(tmp_path):
    store = SnapshotStore(tmp_path / "snap")
    transport = ScriptedTransport(
        {
            "https://a.fr/x": [
                (200, {"ETag": '"v1"', "Last-Modified": "Wed, 01 Oct 2025 10:00:00 GMT"}, b"body v1"),
                (304, {}, b""),
            ]
        }
    )
    client, _ = make_client(transport, store=store)
    first = client.get("https://a.fr/x")
    second = client.get("https://a.fr/x")
    sent = [headers for url, headers, _ in transport.calls if url == "https://a.fr/x"]
    assert "If-None-Match" not in sent[0]
    assert sent[1]["If-None-Match"] == '"v1"' and sent[1]["If-Modified-Since"].startswith("Wed, 01 Oct 2025")
    assert second.not_modified and second.content == b"body v1" and second.sha256 == first.sha256


def test_snapshot_store_is_content_addressed_with_a_manifest(tmp_path):
    store = SnapshotStore(tmp_path / "snap")
    sha1 = store.record_response("src", "https://a.fr/1", 200, {"Content-Type": "application/json"}, b"{}")
    sha2 = store.record_response("src", "https://a.fr/2", 200, {}, b"{}")
    assert sha1 == sha2 and len(list((tmp_path / "snap" / "objects").rglob("*"))) == 2  # one folder, one object
    lines = [json.loads(line) for line in store.manifest.read_text().splitlines()]
    assert [line["url"] for line in lines] == ["https://a.fr/1", "https://a.fr/2"]
    assert set(lines[0]) == {"source", "url", "status", "headers", "sha256", "fetched_at"}
    assert store.get(sha1) == b"{}"


def test_recorded_responses_replay_identically(tmp_path):
    live = ScriptedTransport(
        {"https://a.fr/api?page=1": [(200, {"Content-Type": "application/json", "X-Other": "1"}, b'{"p": 1}')]}
    )
    recorder = RecordingTransport(live, tmp_path / "fixture", "Reproduit l'API de a.fr")
    recorder.send("https://a.fr/api?page=1", {}, 5)
    replay = ReplayTransport.from_folder(tmp_path / "fixture")
    answer = replay.send("https://a.fr/api?page=1", {}, 5)
    assert answer.content == b'{"p": 1}' and answer.headers == {"Content-Type": "application/json"}
    index = json.loads((tmp_path / "fixture" / "index.json").read_text())
    assert index["description"] == "Reproduit l'API de a.fr"
    assert replay.send("https://a.fr/robots.txt", {}, 5).status == 404
    with pytest.raises(ReplayMissError, match="non enregistrée"):
        replay.send("https://a.fr/api?page=2", {}, 5)


def test_concurrency_per_host_is_capped():
    in_flight: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    class SlowTransport:
        def send(self, url, headers, timeout, method="GET"):
            host = url.split("/")[2]
            with lock:
                in_flight[host] += 1
                peak[host] = max(peak[host], in_flight[host])
            time.sleep(0.05)
            with lock:
                in_flight[host] -= 1
            return TransportResponse(url, 200, {}, b"ok")

    policy = FetchPolicy(user_agent="t", min_interval_s=0, max_concurrency=2, respect_robots=False)
    client = PoliteClient("s", SlowTransport(), policy)
    threads = [threading.Thread(target=client.get, args=(f"https://a.fr/{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak["a.fr"] == 2


def test_unresolvable_host_fails_at_once_without_backoff():
    transport = ScriptedTransport(
        {"https://a.fr/robots.txt": [TransportError("nom d'hôte introuvable", retryable=False)]}
    )
    client, clock = make_client(transport)
    with pytest.raises(FetchError, match="robots.txt injoignable sans nouvel essai"):
        client.get("https://a.fr/x")
    assert len(transport.calls) == 1 and not [s for s in clock.sleeps if s > 0]


def test_the_live_transport_turns_a_server_that_never_answers_into_a_retryable_timeout():
    """A real socket on this machine that accepts the connection and stays silent."""
    import socket

    from sources.fetch.transport import LiveTransport, TransportError

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        with pytest.raises(TransportError) as caught:
            LiveTransport().send(f"http://127.0.0.1:{port}/aides.json", {}, timeout=0.3)
    finally:
        server.close()
    assert caught.value.retryable and "ReadTimeout" in str(caught.value)


def test_a_recorded_timeout_replays_as_the_live_transport_would_raise_it(tmp_path):
    from sources.fetch.transport import TransportError

    (tmp_path / "index.json").write_text(
        json.dumps(
            {
                "description": "t",
                "responses": [
                    {"url": "https://lent.example/aides", "error": "timeout"},
                    {"url": "https://lent.example/autre", "error": "panne"},
                ],
            }
        )
    )
    replay = ReplayTransport.from_folder(tmp_path)
    with pytest.raises(TransportError) as caught:
        replay.send("https://lent.example/aides", {}, 1)
    assert caught.value.retryable and str(caught.value) == "https://lent.example/aides : ReadTimeout"
    with pytest.raises(ValueError, match="erreur enregistrée inconnue 'panne'"):
        replay.send("https://lent.example/autre", {}, 1)
    client = PoliteClient("lente", replay, FetchPolicy(user_agent="t", attempts=3, backoff_s=0.0), sleep=lambda s: None)
    before = len(replay.requested)
    with pytest.raises(FetchError, match="injoignable après 3 tentatives"):
        client.get("https://lent.example/aides")
    assert replay.requested[before:].count("https://lent.example/aides") == 3


def test_retry_after_reads_a_delay_or_a_date_and_ignores_what_it_cannot_read():
    from sources.fetch.client import retry_after_seconds

    assert retry_after_seconds({"retry-after": " 7 "}) == 7.0
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after_seconds({"Retry-After": "bientôt"}) is None  # unreadable: the backoff applies
    assert retry_after_seconds({}) is None


def test_probe_returns_any_status_without_raising_or_archiving(tmp_path):
    store = SnapshotStore(tmp_path / "snap")
    transport = ScriptedTransport({"https://a.fr/gone": [(410, {}, b"")], "https://a.fr/down": [(503, {}, b"")]})
    client, _ = make_client(transport, store=store, policy=FetchPolicy(user_agent="t", min_interval_s=0, attempts=3))
    assert client.probe("https://a.fr/gone").status == 410
    assert client.probe("https://a.fr/down", "GET").status == 503  # the last answer, once the retries are spent
    sent = [(url, method) for url, _, method in transport.calls]
    assert sent.count(("https://a.fr/gone", "HEAD")) == 1  # a 4xx is an answer: not retried
    assert sent.count(("https://a.fr/down", "GET")) == 3
    assert not store.manifest.exists() or store.manifest.read_text() == ""


def test_probe_obeys_robots_txt_and_tells_whether_trying_again_can_help():
    transport = ScriptedTransport(
        {
            "https://a.fr/robots.txt": [(200, {}, b"User-agent: *\nDisallow: /prive/\n")],
            "https://a.fr/lent": [TransportError("ReadTimeout")],
            "https://nulle-part.fr/robots.txt": [TransportError("nom d'hôte introuvable", retryable=False)],
        }
    )
    client, _ = make_client(transport, policy=FetchPolicy(user_agent="t", min_interval_s=0, attempts=2))
    with pytest.raises(RobotsDisallowedError):
        client.probe("https://a.fr/prive/x")
    with pytest.raises(UnreachableError, match="injoignable après 2 tentatives") as slow:
        client.probe("https://a.fr/lent")
    assert slow.value.retryable
    with pytest.raises(UnreachableError, match="robots.txt injoignable sans nouvel essai") as dns:
        client.probe("https://nulle-part.fr/x")
    assert not dns.value.retryable


def test_an_unreadable_robots_txt_is_remembered_for_the_run():
    transport = ScriptedTransport({"https://a.fr/robots.txt": [TransportError("ReadTimeout")]})
    client, _ = make_client(transport, policy=FetchPolicy(user_agent="t", min_interval_s=0, attempts=2))
    for page in ("https://a.fr/1", "https://a.fr/2"):
        with pytest.raises(UnreachableError, match="robots.txt injoignable après 2 tentatives"):
            client.get(page)
    assert [url for url, _, _ in transport.calls] == ["https://a.fr/robots.txt"] * 2  # 2 attempts, then remembered
