"""Helpers for the tests that run an adapter's ``collect``: the context it collects with, and a
transport wrapper that keeps what was requested."""

from __future__ import annotations

from pathlib import Path

from sources.base import CollectContext
from sources.fetch.client import FetchPolicy
from sources.fetch.snapshots import SnapshotStore
from sources.fetch.transport import Transport, TransportResponse


def context(tmp_path: Path, transport: Transport | None = None, replay_root: Path | None = None) -> CollectContext:
    """A context caching below ``tmp_path``, with no wait between requests, that fetches through
    ``transport`` (a replay, say), else from the fixtures below ``replay_root``, else from the
    network (the real npm registry for npm sources)."""
    return CollectContext(
        store=SnapshotStore(tmp_path / "snap"),
        npm_cache_dir=tmp_path / "npm",
        policy=FetchPolicy(user_agent="test", min_interval_s=0, backoff_s=0),
        transport=transport,
        replay_root=replay_root,
    )


class HeaderRecorder:
    """Wraps a transport and keeps every request's method, URL and headers."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def send(self, url: str, headers: dict[str, str], timeout: float, method: str = "GET") -> TransportResponse:
        self.calls.append((method, url, dict(headers)))
        return self.inner.send(url, headers, timeout, method)

    def headers_for(self, url: str) -> dict[str, str]:
        """The headers of the first GET of ``url``."""
        return next(h for m, u, h in self.calls if u == url and m == "GET")
