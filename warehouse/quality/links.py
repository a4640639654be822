"""Checking that the open aids' links still answer, politely, without ever guessing.

An agent must not send a company to a dead page, but a link must not be called broken
because our own network is down: only a definitive answer from the publisher's server
(404, 410, other 4xx) marks a link ``casse``. Anything else that is not a success — the
host cannot be reached, robots.txt forbids the check, the server keeps answering 5xx or
429 — is recorded as ``non_verifie`` with the reason.

``PoliteClient`` only GETs and raises on anything but 200, so this module keeps its own
small polite loop over the same :class:`Transport` and :class:`FetchPolicy`: it identifies
itself, obeys robots.txt (RFC 9309, as the client does), spaces its requests to each host
by ``policy.min_interval_s`` (one request at a time, hosts interleaved so that spacing
rarely means waiting), and retries connection errors, 429 and 5xx with exponential backoff
(honouring Retry-After). It tries HEAD first, then GET when HEAD is not answered with a
success (many servers mishandle HEAD), except when the host name does not resolve.

The network part (:func:`check_urls`) does not touch the warehouse, so that a caller can
release the single-writer lock while the (slow) checks run.
"""

from __future__ import annotations

import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import duckdb
import polars as pl
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from sources.fetch.client import FetchPolicy, retry_after_seconds
from sources.fetch.transport import ReplayMissError, Transport, TransportError, TransportResponse

OPEN_STATUTS: tuple[str, ...] = ("ouverte", "permanente", "à venir")
OK, BROKEN, UNCHECKED = "ok", "casse", "non_verifie"
# 4xx answers that say "not for you" rather than "gone": often what anti-bot walls answer.
NOT_DEFINITIVE_4XX = frozenset({401, 403, 407, 429})
HEAD_REFUSED = frozenset({405, 501})


@dataclass(frozen=True)
class LinkCheck:
    url: str
    statut: str  # ok, casse, non_verifie
    http_status: int | None
    detail: str | None


@dataclass(frozen=True)
class LinkSummary:
    checked: int  # URLs examined (= ok + broken + unchecked)
    ok: int
    broken: int
    unchecked: int


class _RetryableStatus(Exception):
    def __init__(self, response: TransportResponse) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class _Unreachable(Exception):
    """No answer after the retries; ``retryable`` False when the host name does not resolve."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason, self.retryable = reason, retryable


class LinkChecker:
    """One polite pass over a list of URLs (see the module docstring)."""

    def __init__(
        self,
        transport: Transport,
        policy: FetchPolicy,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._next_allowed: dict[str, float] = {}
        # per origin: a parser, None (no rules), or the reason robots.txt could not be read
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None | _Unreachable] = {}

    # -- politeness -------------------------------------------------------------------
    def _send_spaced(self, url: str, method: str) -> TransportResponse:
        host = urlsplit(url).netloc
        wait = self._next_allowed.get(host, 0.0) - self._clock()
        if wait > 0:
            self._sleep(wait)
        try:
            return self.transport.send(url, {"User-Agent": self.policy.user_agent}, self.policy.timeout_s, method)
        finally:
            self._next_allowed[host] = self._clock() + self.policy.min_interval_s

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus):
            retry_after = retry_after_seconds(exc.response.headers)
            if retry_after is not None:
                return min(retry_after, self.policy.max_wait_s)
        return min(self.policy.backoff_s * 2 ** (state.attempt_number - 1), self.policy.max_wait_s)

    def _send(self, url: str, method: str) -> TransportResponse:
        """The answer, possibly a persistent 429/5xx; raises _Unreachable when none came."""
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception(
                lambda exc: isinstance(exc, _RetryableStatus) or (isinstance(exc, TransportError) and exc.retryable)
            ),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._send_spaced(url, method)
                    if response.status == 429 or response.status >= 500:
                        raise _RetryableStatus(response)
        except _RetryableStatus as exc:
            return exc.response
        except TransportError as exc:
            tries = f"après {self.policy.attempts} tentatives" if exc.retryable else "sans nouvel essai"
            raise _Unreachable(f"injoignable {tries} ({exc})", exc.retryable) from exc
        except ReplayMissError as exc:
            raise _Unreachable(f"aucune réponse enregistrée ({exc})", False) from exc
        return response

    def _robots_verdict(self, url: str) -> str | None:
        """None when robots.txt allows the check, else the reason it cannot be made."""
        if not self.policy.respect_robots:
            return None
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            try:
                response = self._send(origin + "/robots.txt", "GET")
            except _Unreachable as exc:
                self._robots[origin] = exc
            else:
                parser = urllib.robotparser.RobotFileParser()
                if response.status == 200:
                    parser.parse(response.content.decode("utf-8", "replace").splitlines())
                    self._robots[origin] = parser
                elif 400 <= response.status < 500 and response.status != 429:
                    self._robots[origin] = None  # no robots.txt: no rules (RFC 9309)
                else:  # robots.txt answers 5xx: everything is disallowed (RFC 9309)
                    parser.parse(["User-agent: *", "Disallow: /"])
                    self._robots[origin] = parser
        rules = self._robots[origin]
        if isinstance(rules, _Unreachable):
            return f"robots.txt {rules.reason}"
        if rules is not None and not rules.can_fetch(self.policy.user_agent, url):
            return "interdit par robots.txt"
        return None

    # -- one URL ----------------------------------------------------------------------
    def check(self, url: str) -> LinkCheck:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            return LinkCheck(url, UNCHECKED, None, "adresse non vérifiable (ni http ni https)")
        forbidden = self._robots_verdict(url)
        if forbidden:
            return LinkCheck(url, UNCHECKED, None, forbidden)
        try:
            response = self._send(url, "HEAD")
        except _Unreachable as exc:
            if not exc.retryable:
                return LinkCheck(url, UNCHECKED, None, exc.reason)
            response = None
        if response is not None and 200 <= response.status < 400:
            return LinkCheck(url, OK, response.status, None)
        try:  # HEAD refused, failed or answered an error: ask the way a browser does
            response = self._send(url, "GET")
        except _Unreachable as exc:
            return LinkCheck(url, UNCHECKED, None, exc.reason)
        return classify(url, response.status, self.policy.attempts)


def classify(url: str, status: int, attempts: int) -> LinkCheck:
    """What a final HTTP status says about a link: only a definitive 4xx means broken."""
    if 200 <= status < 400:
        return LinkCheck(url, OK, status, None)
    if 400 <= status < 500 and status not in NOT_DEFINITIVE_4XX:
        return LinkCheck(url, BROKEN, status, f"HTTP {status}")
    if status in NOT_DEFINITIVE_4XX and status != 429:
        return LinkCheck(url, UNCHECKED, status, f"HTTP {status} : accès refusé au robot, page peut-être en ligne")
    return LinkCheck(url, UNCHECKED, status, f"HTTP {status} après {attempts} tentatives")


def urls_to_check(conn: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[str]:
    """The distinct information and procedure URLs of the aids still open (or to come),
    interleaved by host (each host's first URL, then each host's second…) so that the
    per-host spacing of the checker seldom has to wait."""
    rows = conn.execute(
        f"""
        WITH urls AS (
            SELECT DISTINCT trim(url) AS url
            FROM (SELECT url_source AS url, statut FROM aides UNION ALL SELECT url_demarche, statut FROM aides)
            WHERE statut IN (SELECT unnest(?::VARCHAR[])) AND url IS NOT NULL AND trim(url) <> ''
        )
        SELECT url FROM urls
        ORDER BY row_number() OVER (PARTITION BY lower(regexp_extract(url, '^[^:]+://([^/?#]+)', 1)) ORDER BY url),
                 lower(regexp_extract(url, '^[^:]+://([^/?#]+)', 1)), url
        {"LIMIT " + str(int(limit)) if limit is not None else ""}
        """,
        [list(OPEN_STATUTS)],
    ).fetchall()
    return [row[0] for row in rows]


def check_urls(
    urls: list[str],
    transport: Transport,
    policy: FetchPolicy,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[LinkCheck]:
    """Check each URL (a Python step over distinct URLs: one network exchange each)."""
    checker = LinkChecker(transport, policy, sleep, clock)
    return [checker.check(url) for url in urls]


def record_checks(conn: duckdb.DuckDBPyConnection, checks: list[LinkCheck], now: datetime) -> LinkSummary:
    """Append one row per URL to ``liens``, all stamped with this run's time."""
    frame = pl.DataFrame(
        {
            "url": [c.url for c in checks],
            "statut": [c.statut for c in checks],
            "http_status": [c.http_status for c in checks],
            "detail": [c.detail for c in checks],
        },
        schema={"url": pl.String, "statut": pl.String, "http_status": pl.Int32, "detail": pl.String},
    )
    conn.register("_liens_verifies", frame)
    try:
        conn.execute(
            "INSERT INTO liens (url, checked_at, statut, http_status, detail) "
            "SELECT url, ?::TIMESTAMPTZ, statut, http_status, detail FROM _liens_verifies",
            [now],
        )
    finally:
        conn.unregister("_liens_verifies")
    counts = {s: sum(1 for c in checks if c.statut == s) for s in (OK, BROKEN, UNCHECKED)}
    return LinkSummary(len(checks), counts[OK], counts[BROKEN], counts[UNCHECKED])


def check_links(
    conn: duckdb.DuckDBPyConnection,
    transport: Transport,
    policy: FetchPolicy,
    now: datetime | None = None,
    limit: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LinkSummary:
    """Check the open aids' links and append the results to ``liens`` (one connection
    held throughout: callers that must not hold the writer lock during the network part
    use :func:`urls_to_check`, :func:`check_urls` and :func:`record_checks`)."""
    now = now or datetime.now(timezone.utc)
    checks = check_urls(urls_to_check(conn, limit), transport, policy, sleep, clock)
    return record_checks(conn, checks, now)


def latest_summary(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts by statut of each URL's latest check (for the quality check)."""
    rows = conn.execute(
        "SELECT statut, count(*) FROM (SELECT url, statut FROM liens "
        "QUALIFY row_number() OVER (PARTITION BY url ORDER BY checked_at DESC) = 1) GROUP BY statut"
    ).fetchall()
    return {OK: 0, BROKEN: 0, UNCHECKED: 0} | {statut: n for statut, n in rows}
