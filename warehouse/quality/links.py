"""Checking that the open aids' links still answer, politely, without ever guessing.

An agent must not send a company to a dead page, but a link must not be called broken
because our own network is down: only a definitive answer from the publisher's server
(404, 410, other 4xx) marks a link ``casse``. Anything else that is not a success — the
host cannot be reached, robots.txt forbids the check, the server keeps answering 5xx or
429 — is recorded as ``non_verifie`` with the reason.

The requests go through the fetch layer's :class:`PoliteClient` (its
:meth:`~PoliteClient.probe` returns the status instead of raising), so the checker is polite
exactly as the collection is: it identifies itself, obeys robots.txt (RFC 9309, read once per
host and run), spaces its requests to each host by ``policy.min_interval_s`` (sharing the
per-host gate with every client of the process; hosts interleaved so that spacing rarely
means waiting), and retries connection errors, 429 and 5xx with exponential backoff
(honouring Retry-After). It tries HEAD first, then GET when HEAD is not answered with a
success (many servers mishandle HEAD), except when the host name does not resolve.

The check is incremental, because checking every link every run made the link check most of
a run and asked the same publishers the same question several times a day: a link is checked
again only once an interval (7 days by default, ``warehouse.settings.link_check_settings``) has
passed since its last check; the links never checked come first, then the oldest checks; a run
checks at most a budget of links and starts no check after a budget of seconds, the rest
waiting for the next run. A link not checked in a run keeps the verdict of its latest check
(the table ``liens`` keeps every check; :func:`link_state` reads the latest of each link).

The network part (:func:`check_urls`) does not touch the warehouse, so that a caller can
release the single-writer lock while the (slow) checks run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import duckdb
import polars as pl

from sources.fetch.client import FetchError, FetchPolicy, PoliteClient, RobotsDisallowedError, UnreachableError
from sources.fetch.transport import ReplayMissError, Transport
from warehouse.settings import LinkCheckSettings

OPEN_STATUTS: tuple[str, ...] = ("ouverte", "permanente", "à venir")
OK, BROKEN, UNCHECKED = "ok", "casse", "non_verifie"
# 4xx answers that say "not for you" rather than "gone": often what anti-bot walls answer.
NOT_DEFINITIVE_4XX = frozenset({401, 403, 407, 429})
HEAD_REFUSED = frozenset({405, 501})
DEFAULT_INTERVAL = LinkCheckSettings().interval
BROKEN_LISTED = 50


@dataclass(frozen=True)
class LinkCheck:
    url: str
    statut: str  # ok, casse, non_verifie
    http_status: int | None
    detail: str | None


@dataclass(frozen=True)
class LinkSummary:
    """The checks of one run."""

    checked: int  # URLs examined (= ok + broken + unchecked)
    ok: int
    broken: int
    unchecked: int


@dataclass(frozen=True)
class LinkState:
    """The links of the open aids as their latest checks left them, whenever those ran."""

    total: int  # distinct links of the open aids (= fresh + due = ok + broken + unchecked + never)
    fresh: int  # checked less than the interval ago: not checked again before it has passed
    due: int  # never checked, or last checked the interval ago or more: for the next runs
    never: int  # never checked (counted in due)
    ok: int  # latest verdict of the links checked at least once
    broken: int
    unchecked: int


class LinkChecker:
    """One polite pass over a list of URLs (see the module docstring)."""

    def __init__(
        self,
        transport: Transport,
        policy: FetchPolicy,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.client = PoliteClient("liens", transport, policy, sleep=sleep, clock=clock)

    def check(self, url: str) -> LinkCheck:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return LinkCheck(url, UNCHECKED, None, "adresse non vérifiable (ni http ni https)")
        try:
            response = self.client.probe(url, "HEAD")
        except RobotsDisallowedError as exc:
            return LinkCheck(url, UNCHECKED, None, exc.reason)
        except UnreachableError as exc:
            if not exc.retryable:
                return LinkCheck(url, UNCHECKED, None, _no_answer(exc))
            response = None
        if response is not None and 200 <= response.status < 400:
            return LinkCheck(url, OK, response.status, None)
        try:  # HEAD refused, failed or answered an error: ask the way a browser does
            response = self.client.probe(url, "GET")
        except FetchError as exc:  # robots.txt unreadable (remembered by the client), or no answer
            return LinkCheck(url, UNCHECKED, None, _no_answer(exc))
        return classify(url, response.status, self.policy.attempts)


def _no_answer(exc: FetchError) -> str:
    """The client's reason; a replayed run without a recording says so (it is not the server's answer)."""
    if isinstance(exc.__cause__, ReplayMissError):
        return f"aucune réponse enregistrée ({exc.reason})"
    return exc.reason


def classify(url: str, status: int, attempts: int) -> LinkCheck:
    """What a final HTTP status says about a link: only a definitive 4xx means broken."""
    if 200 <= status < 400:
        return LinkCheck(url, OK, status, None)
    if 400 <= status < 500 and status not in NOT_DEFINITIVE_4XX:
        return LinkCheck(url, BROKEN, status, f"HTTP {status}")
    if status in NOT_DEFINITIVE_4XX and status != 429:
        return LinkCheck(url, UNCHECKED, status, f"HTTP {status} : accès refusé au robot, page peut-être en ligne")
    return LinkCheck(url, UNCHECKED, status, f"HTTP {status} après {attempts} tentatives")


# Each distinct link of the open aids with its latest check (NULL when never checked), its host
# and whether it is due: never checked, or last checked at or before $cutoff (now - interval).
_LINKS_SQL = """
    WITH urls AS (
        SELECT DISTINCT trim(url) AS url
        FROM (SELECT url_source AS url, statut FROM aides UNION ALL SELECT url_demarche, statut FROM aides)
        WHERE statut IN (SELECT unnest($statuts::VARCHAR[])) AND url IS NOT NULL AND trim(url) <> ''
    ),
    latest AS (
        SELECT url, max(checked_at) AS checked_at, arg_max(statut, checked_at) AS statut,
               arg_max(detail, checked_at) AS detail
        FROM liens SEMI JOIN urls USING (url)
        GROUP BY url
    ),
    links AS (
        SELECT url, lower(regexp_extract(url, '^[^:]+://([^/?#]+)', 1)) AS host,
               latest.checked_at, latest.statut, latest.detail,
               latest.checked_at IS NULL OR latest.checked_at <= $cutoff AS due
        FROM urls LEFT JOIN latest USING (url)
    )
"""


def _links_params(now: datetime | None, interval: timedelta) -> dict[str, object]:
    return {"statuts": list(OPEN_STATUTS), "cutoff": (now or datetime.now(UTC)) - interval}


def urls_to_check(
    conn: duckdb.DuckDBPyConnection,
    limit: int | None = None,
    now: datetime | None = None,
    interval: timedelta = DEFAULT_INTERVAL,
) -> list[str]:
    """The distinct information and procedure URLs of the aids still open (or to come) that are
    due (never checked, or last checked ``interval`` ago or more), at most ``limit``: the never
    checked first, then the oldest checks; among links checked at the same time (or never),
    interleaved by host (each host's first URL, then each host's second…) so that the per-host
    spacing of the checker seldom has to wait."""
    rows = conn.execute(
        _LINKS_SQL
        + """
        SELECT url FROM links
        WHERE due
        ORDER BY checked_at NULLS FIRST, row_number() OVER (PARTITION BY checked_at, host ORDER BY url), host, url
        LIMIT $limit
        """,
        _links_params(now, interval) | {"limit": limit},
    ).fetchall()
    return [row[0] for row in rows]


def link_state(
    conn: duckdb.DuckDBPyConnection, now: datetime | None = None, interval: timedelta = DEFAULT_INTERVAL
) -> LinkState:
    """How many links of the open aids are fresh or due, and their latest verdicts."""
    row = conn.execute(
        _LINKS_SQL
        + """
        SELECT count(*), count(*) FILTER (WHERE NOT due), count(*) FILTER (WHERE due),
               count(*) FILTER (WHERE checked_at IS NULL), count(*) FILTER (WHERE statut = $ok),
               count(*) FILTER (WHERE statut = $broken), count(*) FILTER (WHERE statut = $unchecked)
        FROM links
        """,
        _links_params(now, interval) | {"ok": OK, "broken": BROKEN, "unchecked": UNCHECKED},
    ).fetchone()
    if row is None:  # cannot happen: an aggregate without GROUP BY gives one row
        raise RuntimeError("état des liens : la requête n'a rendu aucune ligne")
    return LinkState(*(int(n) for n in row))


def broken_links(conn: duckdb.DuckDBPyConnection, limit: int = BROKEN_LISTED) -> list[tuple[str, str, datetime]]:
    """The links of the open aids whose latest check found them broken: (url, detail, checked_at)."""
    rows = conn.execute(
        _LINKS_SQL + "SELECT url, detail, checked_at FROM links WHERE statut = $broken ORDER BY url LIMIT $limit",
        _links_params(None, DEFAULT_INTERVAL) | {"broken": BROKEN, "limit": limit},
    ).fetchall()
    return [(url, detail, checked_at) for url, detail, checked_at in rows]


def check_urls(
    urls: list[str],
    transport: Transport,
    policy: FetchPolicy,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_seconds: float | None = None,
) -> list[LinkCheck]:
    """Check the URLs in order (a Python step over distinct URLs: one network exchange each),
    starting none once ``max_seconds`` have passed: the checks done, maybe fewer than the URLs
    (the others stay due and come first next run)."""
    checker = LinkChecker(transport, policy, sleep, clock)
    started = clock()
    checks = []
    for url in urls:
        if max_seconds is not None and clock() - started >= max_seconds:
            break
        checks.append(checker.check(url))
    return checks


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
    interval: timedelta = DEFAULT_INTERVAL,
    max_seconds: float | None = None,
) -> LinkSummary:
    """Check the open aids' links that are due (see :func:`urls_to_check`), within the budget
    (``limit`` links, ``max_seconds``), and append the results to ``liens`` (one connection
    held throughout: callers that must not hold the writer lock during the network part
    use :func:`urls_to_check`, :func:`check_urls` and :func:`record_checks`)."""
    now = now or datetime.now(UTC)
    urls = urls_to_check(conn, limit, now, interval)
    return record_checks(conn, check_urls(urls, transport, policy, sleep, clock, max_seconds), now)
