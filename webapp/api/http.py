"""HTTP done right for the whole application: HEAD wherever GET answers, CORS for the open data,
a per-client rate limit on the API.

- ``HeadAsGet``: a HEAD request is answered as the GET of the same address, without its body
  (same status and headers), so every page, file and API answer has its HEAD;
- ``OpenCors``: the API and the feeds (``/api/``, ``/flux/``) may be read from any origin, with
  GET and HEAD only; a preflight is answered at once;
- ``RateLimit``: each client (its address) has a bucket of ``burst`` requests refilled at
  ``rate`` per second on ``/api/``; past it, ``429`` with ``Retry-After`` and a problem+json body.
"""

from __future__ import annotations

import json
import math
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_PREFIXES = ("/api/", "/flux/")


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class OpenCors:
    HEADERS = [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-expose-headers", b"ETag, Last-Modified, Link, Retry-After"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = [
                *self.HEADERS,
                (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                (b"access-control-allow-headers", b"If-None-Match, If-Modified-Since, Accept, Accept-Encoding"),
                (b"access-control-max-age", b"86400"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_cors)


class RateLimit:
    """A token bucket per client address on ``/api/`` (``rate`` per second, up to ``burst``)."""

    def __init__(self, app: ASGIApp, rate: float = 20.0, burst: int = 100, prefix: str = "/api/") -> None:
        self.app, self.rate, self.burst, self.prefix = app, rate, burst, prefix
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _take(self, client: str) -> float:
        """0 when the request may go, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                if len(self._buckets) > 100_000:  # forget idle clients
                    self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        wait = self._take(client)
        if not wait:
            await self.app(scope, receive, send)
            return
        retry = str(max(1, math.ceil(wait)))
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Trop de requêtes",
                "status": 429,
                "detail": f"Limite de {self.rate:g} requêtes par seconde (rafales de {self.burst}) : "
                f"réessayez dans {retry} s.",
                "parametre": None,
            },
            ensure_ascii=False,
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"retry-after", retry.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
