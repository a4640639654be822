"""How bytes are obtained: live over HTTP, replayed from recorded responses, or recorded.

The polite client (``sources.fetch.client``) sits on top of a transport. Tests and
offline runs use ``ReplayTransport``; ``aides record SOURCE`` wraps the live transport
in ``RecordingTransport`` to write a fixture folder that replays the same run.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests

INDEX_FILE = "index.json"


@dataclass(frozen=True)
class TransportResponse:
    url: str
    status: int
    headers: dict[str, str]
    content: bytes


class TransportError(Exception):
    """The server could not be reached or did not answer in time.

    ``retryable`` is False when trying again soon cannot help (the host name does not
    resolve), so that an offline run does not spend minutes backing off.
    """

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ReplayMissError(Exception):
    """A replayed run asked for a URL that was not recorded (not retryable)."""


class Transport(Protocol):
    def send(self, url: str, headers: dict[str, str], timeout: float, method: str = "GET") -> TransportResponse: ...


class LiveTransport:
    """GET requests over the network with one pooled session."""

    def __init__(self) -> None:
        self._session = requests.Session()

    def send(self, url: str, headers: dict[str, str], timeout: float, method: str = "GET") -> TransportResponse:
        try:
            response = self._session.request(method, url, headers=headers, timeout=timeout, allow_redirects=True)
        except (requests.ConnectionError, requests.Timeout) as exc:
            unresolved = "NameResolutionError" in repr(exc) or "Name or service not known" in str(exc)
            reason = "nom d'hôte introuvable" if unresolved else type(exc).__name__
            raise TransportError(f"{url} : {reason}", retryable=not unresolved) from exc
        except requests.RequestException as exc:
            raise TransportError(f"{url} : {type(exc).__name__}") from exc
        return TransportResponse(response.url, response.status_code, dict(response.headers), response.content)


@dataclass
class RecordedResponse:
    url: str
    status: int
    file: str | None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    error: str | None = None  # "timeout" or "connexion": the server did not answer


# What LiveTransport raises for each recorded failure (same message shape, same retryability).
_RECORDED_ERRORS = {"timeout": "ReadTimeout", "connexion": "ConnectionError"}


class ReplayTransport:
    """Serves recorded responses from a fixture folder, or from an explicit mapping.

    A fixture folder holds ``index.json``::

        {"description": "which site and page structure this reproduces",
         "responses": [{"url": "...", "method": "GET", "status": 200, "headers": {...}, "file": "page-1.json"}]}

    ``method`` defaults to GET; responses are looked up by (method, URL). An entry with
    ``"error": "timeout"`` (or ``"connexion"``) and no file stands for a server that did not
    answer: it raises the same retryable TransportError as the live transport.

    A URL that was not recorded raises ReplayMissError, except ``/robots.txt``,
    which answers 404 (no rules) unless it was recorded.
    """

    def __init__(self, responses: dict[tuple[str, str], RecordedResponse], base: Path) -> None:
        self._responses = responses
        self._base = base
        self.requested: list[str] = []

    @classmethod
    def from_folder(cls, folder: Path) -> ReplayTransport:
        index = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        responses = {
            (entry.get("method", "GET").upper(), entry["url"]): RecordedResponse(
                entry["url"],
                int(entry.get("status", 200)),
                entry.get("file"),
                entry.get("headers", {}),
                entry.get("method", "GET").upper(),
                entry.get("error"),
            )
            for entry in index["responses"]
        }
        return cls(responses, folder)

    @classmethod
    def from_files(cls, files: dict[str, Path], status: int = 200) -> ReplayTransport:
        """Serve each URL from a file anywhere on disk (e.g. the real payloads in ../shared)."""
        responses = {("GET", url): RecordedResponse(url, status, str(path.resolve())) for url, path in files.items()}
        return cls(responses, Path("/"))

    def send(self, url: str, headers: dict[str, str], timeout: float, method: str = "GET") -> TransportResponse:
        self.requested.append(url)
        recorded = self._responses.get((method.upper(), url))
        if recorded is None:
            if urlsplit(url).path == "/robots.txt":
                return TransportResponse(url, 404, {}, b"")
            raise ReplayMissError(f"réponse non enregistrée pour {url}")
        if recorded.error:
            if recorded.error not in _RECORDED_ERRORS:
                raise ValueError(
                    f"{self._base / INDEX_FILE} : erreur enregistrée inconnue {recorded.error!r} pour {url} "
                    f"(attendu : {', '.join(_RECORDED_ERRORS)})"
                )
            raise TransportError(f"{url} : {_RECORDED_ERRORS[recorded.error]}")
        content = (self._base / recorded.file).read_bytes() if recorded.file else b""
        return TransportResponse(url, recorded.status, dict(recorded.headers), content)


class RecordingTransport:
    """Passes requests to another transport and writes every response into a fixture folder."""

    def __init__(self, inner: Transport, folder: Path, description: str) -> None:
        self._inner = inner
        self._folder = folder
        self._description = description
        self._entries: list[dict] = []
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, url: str, headers: dict[str, str], timeout: float, method: str = "GET") -> TransportResponse:
        response = self._inner.send(url, headers, timeout, method)
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        stem = re.sub(r"[^A-Za-z0-9]+", "-", urlsplit(url).path).strip("-")[-60:] or "index"
        name = f"{stem}-{digest}"
        (self._folder / name).write_bytes(response.content)
        kept = {k: v for k, v in response.headers.items() if k.lower() in {"content-type", "etag", "last-modified"}}
        with self._lock:
            self._entries.append(
                {"url": url, "method": method, "status": response.status, "headers": kept, "file": name}
            )
            index = {"description": self._description, "responses": self._entries}
            (self._folder / INDEX_FILE).write_text(json.dumps(index, ensure_ascii=False, indent=2), encoding="utf-8")
        return response
