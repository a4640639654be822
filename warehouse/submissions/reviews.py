"""« Relu, rien à signaler »: an agent's statement that their territory's aids were read, kept append-only.

Why: the coverage of the catalogue (``warehouse.publication.coverage``) must tell a collectivité
whether anyone of theirs checked what the catalogue says about them. A submitted file says so,
but an agent who finds nothing to change has nothing to submit; this records that they looked.

Like a submission (``warehouse.submissions.store``), a review is a statement: it is recorded
once, with who made it (the collectivité and the person, as their access token names them, and
the token's id) and when, and never changed afterwards. This module only ever INSERTs into
``relectures`` (migration 0019), each row under a fresh UUID, so a second review is a second
row and the first one stays as it was; nothing here updates or deletes. The caller holds the
warehouse's single writer (``warehouse.db.connect_writer``, the web application's
``WarehouseAccess.writer``), as for submissions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from warehouse.submissions.tokens import COLLECTIVITE, Identity

MAX_NOTE = 1000
# A territory the coverage lists: the schema code of a commune, an EPCI, a département or a région.
TERRITORY = re.compile(r"COM-(\d{5}|2[AB]\d{3})|EPCI-\d{9}|DEP-(\d{2}|2A|2B|\d{3})|REG-\d{2,3}")
REVIEW_KIND = "rien_a_signaler"
"""The ``nature_relecture`` of such a review in ``couverture.csv`` (a submission is ``soumission``)."""


class ReviewRefused(ValueError):
    """The review cannot be recorded as asked (unknown territory code, invalid collectivité)."""


@dataclass(frozen=True)
class Review:
    """One recorded review."""

    id: str
    territoire: str
    siren: str
    email: str
    jeton: str | None
    relu_le: datetime
    note: str | None


def record_review(
    conn: duckdb.DuckDBPyConnection,
    territory: str,
    identity: Identity,
    token_id: str | None = None,
    note: str | None = None,
) -> Review:
    """Append one review of ``territory`` (a schema code) by ``identity``; never replaces a row."""
    if not TERRITORY.fullmatch(territory or ""):
        raise ReviewRefused(f"territoire invalide : {territory!r}")
    if not COLLECTIVITE.fullmatch(identity.siren or ""):
        raise ReviewRefused(f"collectivité invalide : {identity.siren!r}")
    text = _clean_note(note)
    review = Review(str(uuid.uuid4()), territory, identity.siren, identity.email, token_id, datetime.now(UTC), text)
    conn.execute(
        "INSERT INTO relectures (id, territoire, siren, email, jeton, relu_le, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [review.id, review.territoire, review.siren, review.email, review.jeton, review.relu_le, review.note],
    )
    return review


def reviews_of(conn: duckdb.DuckDBPyConnection, siren: str, limit: int = 5) -> list[Review]:
    """A collectivité's latest reviews, the most recent first (none before migration 0019)."""
    exists = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'relectures'").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT id, territoire, siren, email, jeton, relu_le, note FROM relectures WHERE siren = ? "
        "ORDER BY relu_le DESC, id LIMIT ?",
        [siren, limit],
    ).fetchall()
    return [Review(*row) for row in rows]


def _clean_note(note: str | None) -> str | None:
    """The note as text: control characters (but line breaks) removed, at most MAX_NOTE characters."""
    if note is None:
        return None
    text = re.sub(r"[\x00-\x09\x0b-\x1f\x7f]", "", str(note)).strip()[:MAX_NOTE]
    return text or None
