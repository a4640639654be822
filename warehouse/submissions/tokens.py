"""Access tokens of collectivités, and the login seam that ProConnect can replace.

Why tokens: the agent of a collectivité who submits a file must be known (which SIREN,
which person) before the file is even read, so that a file about another territory is
refused and every accepted file is attributable. A token is a random secret
(``secrets.token_urlsafe(32)``) handed to one person of one collectivité; it is shown
once, at creation, and only its sha256 is stored (table ``collectivite_jetons``,
migration 0005): a copy of the warehouse gives nobody a usable token.

- ``id`` of a token = the first 12 hex digits of its sha256. ``verify_token`` looks the row
  up by that id, then compares the full hashes with ``hmac.compare_digest`` (constant time).
- ``revoke_token`` accepts the token itself, its id, or a prefix of the id (at least 6 hex
  digits, unambiguous). A revoked token never authenticates again; rows are never deleted.
- ``siren`` is the collectivité's SIREN (commune, EPCI); départements and régions have no
  SIREN in the referential, so ``DEP-xx`` / ``REG-xx`` are accepted as well (see
  ``warehouse.submissions.checks.territory_code``).

The login seam: the web application depends only on :class:`Authenticator`
(``authenticate(request_token) -> Identity | None``). :class:`TokenAuthenticator` is the
implementation with these tokens. ProConnect (the State's OpenID Connect federation for
public agents) will be another implementation: its ``authenticate`` receives the
ProConnect ID token / access token of the request, verifies it (issuer, audience,
signature through the provider's JWKS, expiry), and maps its claims to an
``Identity(siren=<claim siret[:9]>, email=<claim email>)``. :func:`authenticator_from_config`
picks the implementation from ``AIDES_AUTH`` (``jeton`` by default, ``proconnect`` later),
so the switch is configuration, not code in the web app.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import duckdb

ID_LENGTH = 12
MIN_PREFIX = 6
# A collectivité: a 9-digit SIREN, or DEP-xx / REG-xx for départements and régions.
COLLECTIVITE = re.compile(r"\d{9}|DEP-(\d{2}|2A|2B|\d{3})|REG-\d{2,3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Identity:
    """Who submits: the collectivité (SIREN, or DEP-xx / REG-xx) and the person's email."""

    siren: str
    email: str


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without the secret: what ``verify_token`` and ``list_tokens`` return."""

    id: str  # first 12 hex digits of the token's sha256
    siren: str
    email: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def identity(self) -> Identity:
        return Identity(self.siren, self.email)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class TokenError(ValueError):
    """A token operation that cannot be done (bad SIREN or email, unknown or ambiguous token)."""


def hash_token(token: str) -> str:
    """The sha256 (hex) that is stored instead of the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(conn: duckdb.DuckDBPyConnection, siren: str, email: str) -> str:
    """Create a token for one person of one collectivité and return it (shown once, never stored)."""
    siren, email = (siren or "").strip(), (email or "").strip()
    if not COLLECTIVITE.fullmatch(siren):
        raise TokenError(f"collectivité invalide : {siren!r} (attendu : un SIREN de 9 chiffres, ou DEP-xx / REG-xx)")
    if not _EMAIL.fullmatch(email):
        raise TokenError(f"adresse électronique invalide : {email!r}")
    token = secrets.token_urlsafe(32)
    digest = hash_token(token)
    conn.execute(
        "INSERT INTO collectivite_jetons (id, token_sha256, siren, email, created_at, revoked_at) "
        "VALUES (?, ?, ?, ?, ?, NULL)",
        [digest[:ID_LENGTH], digest, siren, email, datetime.now(UTC)],
    )
    return token


_COLUMNS = "id, token_sha256, siren, email, created_at, revoked_at"


def _info(row: tuple) -> TokenInfo:
    return TokenInfo(row[0], row[2], row[3], row[4], row[5])


def verify_token(conn: duckdb.DuckDBPyConnection, token: str) -> TokenInfo | None:
    """The token's owner if it is a valid, unrevoked token; None otherwise (never raises on input)."""
    if not isinstance(token, str) or not token or len(token) > 512:
        return None
    digest = hash_token(token)
    row = conn.execute(f"SELECT {_COLUMNS} FROM collectivite_jetons WHERE id = ?", [digest[:ID_LENGTH]]).fetchone()
    if row is None or not hmac.compare_digest(row[1], digest):
        return None
    info = _info(row)
    return info if info.active else None


def _find(conn: duckdb.DuckDBPyConnection, token_or_prefix_or_id: str) -> TokenInfo:
    key = (token_or_prefix_or_id or "").strip()
    digest = hash_token(key)
    row = conn.execute(f"SELECT {_COLUMNS} FROM collectivite_jetons WHERE token_sha256 = ?", [digest]).fetchone()
    if row is not None:
        return _info(row)
    if not re.fullmatch(rf"[0-9a-f]{{{MIN_PREFIX},64}}", key.lower()):
        raise TokenError(
            f"jeton inconnu : donnez le jeton, son identifiant ou au moins {MIN_PREFIX} "
            "caractères de l'identifiant (aides tokens list)"
        )
    prefix = key.lower()
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM collectivite_jetons WHERE starts_with(token_sha256, ?) ORDER BY id", [prefix]
    ).fetchall()
    if not rows:
        raise TokenError(f"aucun jeton dont l'identifiant commence par {prefix}")
    if len(rows) > 1:
        raise TokenError(
            f"{prefix} désigne plusieurs jetons ({', '.join(r[0] for r in rows)}) : donnez plus de caractères"
        )
    return _info(rows[0])


def revoke_token(conn: duckdb.DuckDBPyConnection, token_or_prefix_or_id: str) -> TokenInfo:
    """Revoke a token given as the token itself, its id, or an unambiguous id prefix; returns it.

    Revoking an already revoked token keeps its first revocation date.
    """
    info = _find(conn, token_or_prefix_or_id)
    if info.revoked_at is None:
        now = datetime.now(UTC)
        conn.execute("UPDATE collectivite_jetons SET revoked_at = ? WHERE id = ?", [now, info.id])
        info = _find(conn, info.id)
    return info


def list_tokens(conn: duckdb.DuckDBPyConnection) -> list[TokenInfo]:
    """Every token ever created (revoked ones included), oldest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM collectivite_jetons ORDER BY created_at, id").fetchall()
    return [_info(row) for row in rows]


# --------------------------------------------------------------------------- the login seam


@runtime_checkable
class Authenticator(Protocol):
    """What the web application asks: who presents this credential? None when nobody valid."""

    def authenticate(self, request_token: str) -> Identity | None: ...


class TokenAuthenticator:
    """Authenticates the tokens of ``collectivite_jetons``.

    ``connect`` opens a connection to the warehouse for one check (default: read-only,
    ``warehouse.db.connect_reader``); a connection is not held between requests.
    """

    def __init__(self, connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]] | None = None) -> None:
        if connect is None:
            from warehouse.db import connect_reader

            connect = connect_reader
        self._connect = connect

    def authenticate(self, request_token: str) -> Identity | None:
        with self._connect() as conn:
            info = verify_token(conn, request_token)
        return info.identity if info else None


def authenticator_from_config(kind: str | None = None) -> Authenticator:
    """The configured authenticator: ``kind`` or ``$AIDES_AUTH`` (``jeton`` by default).

    ``proconnect`` is the planned OpenID Connect implementation (see the module docstring);
    it is not written yet and is refused clearly rather than silently replaced by tokens.
    """
    kind = (kind or os.environ.get("AIDES_AUTH") or "jeton").strip().lower()
    if kind in ("jeton", "token", "tokens"):
        return TokenAuthenticator()
    if kind == "proconnect":
        raise NotImplementedError(
            "l'authentification ProConnect (OpenID Connect) n'est pas encore disponible : utilisez AIDES_AUTH=jeton"
        )
    raise ValueError(f"AIDES_AUTH={kind!r} inconnu (valeurs : jeton, proconnect)")
