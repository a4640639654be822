"""The polite HTTP client every web adapter uses.

It identifies itself (User-Agent with the project's name and contact URL), obeys
robots.txt, spaces its requests to each host and caps how many run at once per
host, times out, retries connection errors, 429 and 5xx with exponential backoff
(honouring Retry-After), sends conditional requests (ETag / Last-Modified) and
archives every response in the snapshot store. The link checker goes through the same
client (:meth:`PoliteClient.probe`), so that there is one polite HTTP layer to keep right.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from sources.fetch.snapshots import SnapshotStore, sha256_of
from sources.fetch.transport import ReplayMissError, Transport, TransportError, TransportResponse


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str
    timeout_s: float = 30.0
    attempts: int = 4
    backoff_s: float = 1.0
    max_wait_s: float = 120.0
    min_interval_s: float = 1.0  # between two requests to the same host
    max_concurrency: int = 2  # requests in flight to the same host
    respect_robots: bool = True


class FetchError(Exception):
    """A document could not be obtained; says which source and URL, and why."""

    def __init__(self, source: str, url: str, reason: str) -> None:
        super().__init__(f"{source} : {url} : {reason}")
        self.source, self.url, self.reason = source, url, reason


class RobotsDisallowedError(FetchError):
    pass


class UnreachableError(FetchError):
    """No answer came at all (network failure, nothing recorded), as opposed to an HTTP error.

    ``retryable`` is False when trying again soon cannot help (the host name does not
    resolve, a replayed run has no recording), so that callers can skip further attempts.
    """

    def __init__(self, source: str, url: str, reason: str, retryable: bool) -> None:
        super().__init__(source, url, reason)
        self.retryable = retryable


@dataclass(frozen=True)
class FetchedDocument:
    url: str
    status: int
    headers: dict[str, str]
    content: bytes
    sha256: str
    not_modified: bool = False  # the server answered 304: content is the archived copy


class _RetryableStatus(Exception):
    def __init__(self, response: TransportResponse) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Seconds asked by a Retry-After header (delay or HTTP date); None when absent or unreadable."""
    value = next((v.strip() for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _HostGate:
    """Spacing and concurrency limit for one host, shared by every client of the process."""

    def __init__(self, max_concurrency: int) -> None:
        self.slots = threading.BoundedSemaphore(max_concurrency)
        self.lock = threading.Lock()
        self.next_allowed = 0.0


_GATES: dict[str, _HostGate] = {}
_GATES_LOCK = threading.Lock()


def _gate(host: str, max_concurrency: int) -> _HostGate:
    with _GATES_LOCK:
        return _GATES.setdefault(host, _HostGate(max_concurrency))


class PoliteClient:
    def __init__(
        self,
        source: str,
        transport: Transport,
        policy: FetchPolicy,
        store: SnapshotStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.transport = transport
        self.policy = policy
        self.store = store
        self._sleep = sleep
        self._clock = clock
        # per origin: its rules, None (no rules), or why robots.txt could not be read
        self._robots: dict[str, urllib.robotparser.RobotFileParser | UnreachableError | None] = {}

    # -- politeness -------------------------------------------------------------------
    def _send_gated(self, url: str, headers: dict[str, str], method: str = "GET") -> TransportResponse:
        host = urlsplit(url).netloc
        gate = _gate(host, self.policy.max_concurrency)
        with gate.slots:
            with gate.lock:
                wait = gate.next_allowed - self._clock()
                if wait > 0:
                    self._sleep(wait)
                gate.next_allowed = self._clock() + self.policy.min_interval_s
            return self.transport.send(
                url, {"User-Agent": self.policy.user_agent, **headers}, self.policy.timeout_s, method
            )

    def _allowed(self, url: str) -> bool:
        """Whether robots.txt lets us fetch ``url``; UnreachableError when it could not be read."""
        if not self.policy.respect_robots:
            return True
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._read_robots(origin)
        rules = self._robots[origin]
        if isinstance(rules, UnreachableError):  # remembered: the host is not asked again in this run
            raise UnreachableError(self.source, url, f"robots.txt {rules.reason}", rules.retryable) from rules
        return rules is None or rules.can_fetch(self.policy.user_agent, url)

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | UnreachableError | None:
        """The rules of one origin (RFC 9309): None when there is no robots.txt, everything
        disallowed when it answers 429/5xx, the error when it did not answer at all."""
        try:
            response = self._exchange(origin + "/robots.txt", {})
        except UnreachableError as exc:
            return exc
        parser = urllib.robotparser.RobotFileParser()
        if response.status == 200:
            parser.parse(response.content.decode("utf-8", "replace").splitlines())
        elif 400 <= response.status < 500 and response.status != 429:
            return None
        else:
            parser.parse(["User-agent: *", "Disallow: /"])
        return parser

    def _require_allowed(self, url: str) -> None:
        """Every public method checks robots.txt the same way before sending anything."""
        if not self._allowed(url):
            raise RobotsDisallowedError(self.source, url, "interdit par robots.txt")

    # -- retries ----------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus):
            retry_after = retry_after_seconds(exc.response.headers)
            if retry_after is not None:
                return min(retry_after, self.policy.max_wait_s)
        backoff = self.policy.backoff_s * 2 ** (state.attempt_number - 1)
        return min(backoff + random.uniform(0, self.policy.backoff_s), self.policy.max_wait_s)

    def _exchange(self, url: str, headers: dict[str, str], method: str = "GET") -> TransportResponse:
        """The last answer once the retries are spent, possibly still a 429/5xx;
        UnreachableError when no answer came."""
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
                    response = self._send_gated(url, headers, method)
                    if response.status == 429 or response.status >= 500:
                        raise _RetryableStatus(response)
        except _RetryableStatus as exc:
            return exc.response
        except TransportError as exc:
            tries = f"après {self.policy.attempts} tentatives" if exc.retryable else "sans nouvel essai"
            raise UnreachableError(self.source, url, f"injoignable {tries} ({exc})", exc.retryable) from exc
        except ReplayMissError as exc:
            raise UnreachableError(self.source, url, str(exc), retryable=False) from exc
        return response

    def _send_with_retries(self, url: str, headers: dict[str, str], method: str = "GET") -> TransportResponse:
        """An answer that is not a 429/5xx, else FetchError."""
        response = self._exchange(url, headers, method)
        if response.status == 429 or response.status >= 500:
            raise FetchError(self.source, url, f"HTTP {response.status} après {self.policy.attempts} tentatives")
        return response

    # -- public -----------------------------------------------------------------------
    def post(self, url: str, headers: dict[str, str] | None = None) -> FetchedDocument:
        """POST without a body (e.g. exchanging an API key for a token); not archived, since it
        may carry credentials; retried like GET."""
        self._require_allowed(url)
        response = self._send_with_retries(url, dict(headers or {}), "POST")
        if response.status != 200:
            raise FetchError(self.source, url, f"HTTP {response.status}")
        return FetchedDocument(url, response.status, response.headers, response.content, sha256_of(response.content))

    def probe(self, url: str, method: str = "HEAD") -> TransportResponse:
        """Ask politely and return the final answer whatever its status (a 429/5xx once the
        retries are spent), for callers that judge the status themselves (the link checker).
        Not archived: only the status matters. Raises RobotsDisallowedError, or
        UnreachableError when no answer came."""
        self._require_allowed(url)
        return self._exchange(url, {}, method)

    def get(self, url: str, headers: dict[str, str] | None = None) -> FetchedDocument:
        """GET a document politely; raise FetchError unless the answer is 200 or 304."""
        self._require_allowed(url)
        request_headers = dict(headers or {})
        previous = self.store.latest_response(url) if self.store else None
        if previous:
            validators = {k.lower(): v for k, v in previous["headers"].items()}
            if "etag" in validators:
                request_headers["If-None-Match"] = validators["etag"]
            if "last-modified" in validators:
                request_headers["If-Modified-Since"] = validators["last-modified"]
        response = self._send_with_retries(url, request_headers)
        if response.status == 304 and previous and self.store:
            content = self.store.get(previous["sha256"])
            self.store.record_response(self.source, url, 304, response.headers, content)
            return FetchedDocument(url, 200, previous["headers"], content, previous["sha256"], not_modified=True)
        if response.status != 200:
            if self.store:
                self.store.record_response(self.source, url, response.status, response.headers, response.content)
            raise FetchError(self.source, url, f"HTTP {response.status}")
        sha = (
            self.store.record_response(self.source, url, response.status, response.headers, response.content)
            if self.store
            else sha256_of(response.content)
        )
        return FetchedDocument(url, response.status, response.headers, response.content, sha)
