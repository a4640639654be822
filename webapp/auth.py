"""Agents' sessions: a signed cookie, and the CSRF token bound to it.

Why a signed cookie and no server-side store: the application keeps no state between
requests (several processes can serve it). The cookie holds a small JSON document —
the CSRF token, and once logged in the collectivité (SIREN or DEP-/REG- code), the email
and the id of the access token used — signed with HMAC-SHA256. Nothing in it is secret
(never the access token itself); it cannot be forged without the key.

The key comes from ``AIDES_SECRET_KEY``; without it a random key is drawn for the
process (sessions then end when the server restarts, which is the safe default).

Every visitor gets a session with a CSRF token on the first page that shows a form; every
POST must send that token back in a hidden field. Logging in and out draws a new token
(no session fixation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "aides_session"
SESSION_MAX_AGE_S = 8 * 3600  # one working day
_PROCESS_KEY = secrets.token_bytes(32)


def secret_key() -> bytes:
    """``$AIDES_SECRET_KEY`` (as UTF-8 bytes), else a random key drawn once per process."""
    configured = os.environ.get("AIDES_SECRET_KEY", "")
    return configured.encode("utf-8") if configured else _PROCESS_KEY


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """``payload.timestamp.signature``, HMAC-SHA256; :meth:`loads` refuses altered or expired values."""

    def __init__(self, key: bytes, max_age_s: int = SESSION_MAX_AGE_S) -> None:
        self._key = key
        self.max_age_s = max_age_s

    def _sign(self, message: str) -> str:
        return _b64(hmac.new(self._key, message.encode("ascii"), hashlib.sha256).digest())

    def dumps(self, data: dict[str, Any], now: float | None = None) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode("ascii"))
        message = f"{payload}.{int(now if now is not None else time.time())}"
        return f"{message}.{self._sign(message)}"

    def loads(self, value: str | None, now: float | None = None) -> dict[str, Any] | None:
        if not value or len(value) > 4096:
            return None
        try:
            payload, stamp, signature = value.split(".")
            if not hmac.compare_digest(signature, self._sign(f"{payload}.{stamp}")):
                return None
            age = (now if now is not None else time.time()) - int(stamp)
            if age < -60 or age > self.max_age_s:
                return None
            data = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        return data if isinstance(data, dict) else None


@dataclass
class Session:
    """What the cookie carries. ``siren`` is set once an agent has logged in."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    siren: str | None = None
    email: str | None = None
    jeton: str | None = None  # id of the access token (its sha256 prefix), to notice a revocation
    new: bool = False  # not sent by the browser yet: the response must set the cookie

    @property
    def logged_in(self) -> bool:
        return bool(self.siren)

    def as_json(self) -> dict[str, Any]:
        return {"csrf": self.csrf, "siren": self.siren, "email": self.email, "jeton": self.jeton}


class SessionManager:
    """Reads and writes the session cookie of a request / response."""

    def __init__(self, key: bytes | None = None, max_age_s: int = SESSION_MAX_AGE_S) -> None:
        self.signer = Signer(key or secret_key(), max_age_s)

    def load(self, request: Request) -> Session:
        """The request's session, or a new anonymous one (``new=True``) when absent or invalid."""
        data = self.signer.loads(request.cookies.get(COOKIE_NAME))
        if not data or not isinstance(data.get("csrf"), str) or len(data["csrf"]) < 16:
            return Session(new=True)
        text = {k: (data.get(k) if isinstance(data.get(k), str) else None) for k in ("siren", "email", "jeton")}
        return Session(csrf=data["csrf"], **text)

    def save(self, response: Response, session: Session, request: Request) -> None:
        response.set_cookie(
            COOKIE_NAME, self.signer.dumps(session.as_json()), max_age=self.signer.max_age_s, path="/",
            httponly=True, samesite="lax", secure=_secure(request),
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
    """A new session for the agent: new CSRF token, so a token planted before login is useless."""
    return Session(siren=siren, email=email, jeton=jeton, new=True)


def logout() -> Session:
    return Session(new=True)
