"""Agents' sessions: a signed cookie, and the CSRF token bound to it.

Why a signed cookie and no server-side store: the application keeps no state between
requests (several processes can serve it). The cookie holds a small JSON document —
the CSRF token, and once logged in the collectivité (SIREN or DEP-/REG- code), the email
and the id of the access token used — signed and timestamped by ``itsdangerous``
(HMAC-SHA256, a salt of its own so no other signed value of the key passes for a session).
Nothing in it is secret (never the access token itself); it cannot be forged without the key.

The key comes from ``AIDES_SECRET_KEY``; without it a random key is drawn for the
process (sessions then end when the server restarts, which is the safe default).

Every visitor gets a session with a CSRF token on the first page that shows a form; every
POST must send that token back in a hidden field. Logging in and out draws a new token
(no session fixation). A login has an id of its own (``sid``): logging out records it as ended
(``sessions_terminees``), so that the old cookie, though still signed, opens nothing any more;
revoking the access token ends every session opened with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "aides_session"
SESSION_MAX_AGE_S = 8 * 3600  # one working day
SESSION_SALT = "aides-session"
MAX_COOKIE_LENGTH = 4096  # browsers keep no more; a longer value was not written by us
_PROCESS_KEY = secrets.token_bytes(32)


def secret_key() -> bytes:
    """``$AIDES_SECRET_KEY`` (as UTF-8 bytes), else a random key drawn once per process."""
    configured = os.environ.get("AIDES_SECRET_KEY", "")
    return configured.encode("utf-8") if configured else _PROCESS_KEY


@dataclass
class Session:
    """What the cookie carries. ``siren`` is set once an agent has logged in."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    siren: str | None = None
    email: str | None = None
    jeton: str | None = None  # id of the access token (its sha256 prefix), to notice a revocation
    sid: str | None = None  # the login's own id: a logout ends it server-side (sessions_terminees)
    new: bool = False  # not sent by the browser yet: the response must set the cookie

    @property
    def logged_in(self) -> bool:
        return bool(self.siren)

    def as_json(self) -> dict[str, Any]:
        return {"csrf": self.csrf, "siren": self.siren, "email": self.email, "jeton": self.jeton, "sid": self.sid}


class SessionManager:
    """Reads and writes the session cookie of a request / response."""

    def __init__(self, key: bytes | None = None, max_age_s: int = SESSION_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self.serializer = URLSafeTimedSerializer(
            key or secret_key(), salt=SESSION_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def _verified(self, value: str | None) -> dict[str, Any] | None:
        """The cookie's document, or None when absent, altered, signed with another key or expired."""
        if not value or len(value) > MAX_COOKIE_LENGTH:
            return None
        try:
            data = self.serializer.loads(value, max_age=self.max_age_s)
        except BadData:
            return None
        return data if isinstance(data, dict) else None

    def load(self, request: Request) -> Session:
        """The request's session, or a new anonymous one (``new=True``) when absent or invalid."""
        data = self._verified(request.cookies.get(COOKIE_NAME))
        if not data or not isinstance(data.get("csrf"), str) or len(data["csrf"]) < 16:
            return Session(new=True)
        text = {k: (data.get(k) if isinstance(data.get(k), str) else None) for k in ("siren", "email", "jeton", "sid")}
        return Session(csrf=data["csrf"], **text)

    def save(self, response: Response, session: Session, request: Request) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.serializer.dumps(session.as_json()),
            max_age=self.max_age_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )

    def clear(self, response: Response, request: Request) -> None:
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=_secure(request))


def _secure(request: Request) -> bool:
    """Secure cookies over HTTPS, or always with ``AIDES_COOKIE_SECURE=1`` (behind a TLS proxy)."""
    return request.url.scheme == "https" or os.environ.get("AIDES_COOKIE_SECURE") == "1"


def csrf_valid(session: Session, submitted: str | None) -> bool:
    """The form's token is the session's (compared in constant time); a brand-new session never is."""
    if session.new or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode("ascii", "replace"), submitted.encode("ascii", "replace"))


def login(siren: str, email: str, jeton: str | None) -> Session:
    """A new session for the agent: new CSRF token, so a token planted before login is useless,
    and an id of its own, so that logging out ends it on the server too."""
    return Session(siren=siren, email=email, jeton=jeton, sid=secrets.token_urlsafe(16), new=True)


class LoginThrottle:
    """Failed logins per client and per token prefix: past ``max_failures`` within ``window_s``,
    further attempts are refused (429) until the oldest failure leaves the window."""

    def __init__(self, max_failures: int = 5, window_s: float = 60.0) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(client: str, token: str) -> list[str]:
        return [f"client:{client}"] + ([f"jeton:{token[:8]}"] if token else [])

    def wait(self, keys: list[str]) -> float:
        """Seconds before another attempt is allowed (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
                self._failures[key] = recent
                if len(recent) >= self.max_failures:
                    waits.append(recent[0] + self.window_s - now)
            return max(waits, default=0.0)

    def failed(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, []).append(now)
            if len(self._failures) > 50_000:  # forget what left the window
                self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] < self.window_s}


def logout() -> Session:
    return Session(new=True)
