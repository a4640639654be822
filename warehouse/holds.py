"""Held changes of a source, one per payload: their evidence, the decisions about them, their application.

Why: a payload that loses more than ``baisse_max`` of a source's records is usually a broken page,
sometimes a genuine drop. Someone must look at *that* payload and decide. Accepting "whatever is
pending for the source" once let two unreadable pages through along with a genuine drop, and the
same broken page was applied when it came back. So:

- each held payload is one hold with a short id (``R-`` and 8 hex digits of
  ``sha256(source|digest)``), typed in ``aides acknowledge SOURCE HOLD_ID``, and its evidence
  (records before and after, rejections and the first five of them, the reason, the run);
- a payload with an open hold (pending or refused) is held again each time it is served, whatever
  the counts are then, until that very hold is accepted; a drop of another payload is another hold;
- accepting a hold lets its payload through on the next run that serves it, once: the run records
  the application and the hold is closed; no decision ever touches another hold.

Evidence rows are only inserted (``source_holds``); decisions and applications are events appended
to ``source_hold_events``; ``source_hold_states`` (migration 0020) reads one row per hold.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

import duckdb

from sources.ingest import IngestOutcome

HoldStatus = Literal["pending", "accepted", "refused", "applied"]
FIRST_REJECTIONS = 5
EXCERPT_LIMIT = 200
_STATUS_ORDER = "CASE status WHEN 'pending' THEN 0 WHEN 'accepted' THEN 1 WHEN 'refused' THEN 2 ELSE 3 END"
_HOLD_ID = re.compile(r"(?i)(?:r-?)?([0-9a-f]{8})")


class HoldError(ValueError):
    """A decision that cannot be recorded: unknown hold, another source's, or already decided."""


@dataclass(frozen=True)
class RejectionSample:
    """One of the first rejections of a held payload: often the cause (a page that changed)."""

    location: str
    reason: str
    excerpt: str


@dataclass(frozen=True)
class Hold:
    """One held payload of a source, with its evidence and where the decisions about it stand."""

    hold_id: str
    source: str
    digest: str
    previous_digest: str | None
    records_before: int
    records_after: int
    rejected: int | None  # None: not kept (holds recorded before migration 0020)
    first_rejections: tuple[RejectionSample, ...]
    reason: str
    created_at: datetime
    run_id: str | None
    status: HoldStatus
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None
    applied_at: datetime | None
    applied_run_id: str | None
    times_held: int
    last_held_at: datetime | None

    @property
    def id(self) -> str:
        """The hold's id (``R-1a2b3c4d``), as readers of the quality report name it."""
        return self.hold_id

    @property
    def blocking(self) -> bool:
        """The payload stays out when served: nobody accepted it yet (pending or refused)."""
        return self.status in ("pending", "refused")

    def acknowledge_command(self) -> str:
        return f"aides acknowledge {self.source} {self.hold_id}"

    def evidence(self) -> dict[str, Any]:
        """The hold as the UI and ``aides holds --json`` show it (French keys, JSON values)."""
        return {
            "id": self.hold_id,
            "source": self.source,
            "statut": self.status,
            "raison": self.reason,
            "enregistrements_avant": self.records_before,
            "enregistrements_apres": self.records_after,
            "nb_rejets": self.rejected,
            "premiers_rejets": [
                {"emplacement": r.location, "raison": r.reason, "extrait": r.excerpt} for r in self.first_rejections
            ],
            "empreinte": self.digest,
            "empreinte_precedente": self.previous_digest,
            "retenue_le": _iso(self.created_at),
            "run_id": self.run_id,
            "fois_retenue": self.times_held,
            "derniere_retenue_le": _iso(self.last_held_at),
            "decision_le": _iso(self.decided_at),
            "decision_par": self.decided_by,
            "note": self.decision_note,
            "appliquee_le": _iso(self.applied_at),
            "appliquee_par_le_run": self.applied_run_id,
            "pour_accepter": self.acknowledge_command() if self.blocking else None,
        }

    def evidence_json(self) -> str:
        return json.dumps(self.evidence(), ensure_ascii=False)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def hold_id_for(source: str, digest: str, attempt: int = 0) -> str:
    """The id of a payload's hold: stable, short enough to type; ``attempt`` > 0 for a later hold
    of the same payload (after an earlier one was applied) or the rare collision."""
    key = f"{source}|{digest}" + (f"|{attempt}" if attempt else "")
    return "R-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def normalise_hold_id(text: str) -> str:
    """``r-1A2B3C4D``, ``1a2b3c4d`` → ``R-1a2b3c4d``; anything else is returned as typed (unknown)."""
    match = _HOLD_ID.fullmatch(text.strip())
    return "R-" + match.group(1).lower() if match else text.strip()


def _holds(conn: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[Hold]:
    names = [field.name for field in fields(Hold)]  # first_rejections is JSON in the view
    cursor = conn.execute(
        f"SELECT {', '.join(names)} FROM source_hold_states WHERE {where} "
        f"ORDER BY {_STATUS_ORDER}, created_at DESC, hold_id",
        params,
    )
    found = []
    for row in cursor.fetchall():
        values = dict(zip(names, row, strict=True))
        samples = tuple(
            RejectionSample(s.get("emplacement", ""), s.get("raison", ""), s.get("extrait") or "")
            for s in json.loads(values.pop("first_rejections") or "[]")
        )
        found.append(Hold(first_rejections=samples, **values))
    return found


def list_holds(conn: duckdb.DuckDBPyConnection, source: str | None = None) -> list[Hold]:
    """Every hold (of ``source``), pending first, then accepted, refused, applied; newest first."""
    return _holds(conn, "source = ?", [source]) if source else _holds(conn, "true", [])


def pending_holds(conn: duckdb.DuckDBPyConnection, source: str | None = None) -> list[Hold]:
    """The holds waiting for a decision (of ``source``), newest first: what the UI must not show green."""
    if source:
        return _holds(conn, "status = 'pending' AND source = ?", [source])
    return _holds(conn, "status = 'pending'", [])


def get_hold(conn: duckdb.DuckDBPyConnection, hold_id: str) -> Hold | None:
    found = _holds(conn, "hold_id = ?", [normalise_hold_id(hold_id)])
    return found[0] if found else None


def _decidable(conn: duckdb.DuckDBPyConnection, source: str, hold_id: str) -> Hold:
    hold = get_hold(conn, hold_id)
    if hold is None:
        raise HoldError(
            f"Aucun changement retenu {normalise_hold_id(hold_id)} pour la source « {source} » : "
            f"voir `aides holds {source}`."
        )
    if hold.source != source:
        raise HoldError(
            f"Le changement retenu {hold.hold_id} est celui de la source « {hold.source} », "
            f"pas de « {source} » : rien n'est enregistré."
        )
    if hold.status == "applied":
        raise HoldError(
            f"Le changement retenu {hold.hold_id} de « {source} » est déjà appliqué "
            f"(run {hold.applied_run_id}, le {_day(hold.applied_at)}) : rien n'est enregistré."
        )
    return hold


def _day(moment: datetime | None) -> str:
    return moment.strftime("%d/%m/%Y à %H:%M") if moment else "?"


def _decide(conn: duckdb.DuckDBPyConnection, hold: Hold, event: str, who: str) -> Hold:
    conn.execute(
        "INSERT INTO source_hold_events (hold_id, event, event_at, event_by) VALUES (?, ?, now(), ?)",
        [hold.hold_id, event, who],
    )
    decided = get_hold(conn, hold.hold_id)
    assert decided is not None
    return decided


def acknowledge_hold(conn: duckdb.DuckDBPyConnection, source: str, hold_id: str, who: str) -> Hold:
    """Accept exactly one held payload of ``source`` (pending, or refused before): the next run that
    serves it applies it. Raises :class:`HoldError` (in French) for any other case."""
    hold = _decidable(conn, source, hold_id)
    if hold.status == "accepted":
        raise HoldError(
            f"Le changement retenu {hold.hold_id} de « {source} » est déjà acquitté "
            f"(par {hold.decided_by}, le {_day(hold.decided_at)}) : il sera appliqué au prochain run qui le sert."
        )
    return _decide(conn, hold, "accepted", who)


def refuse_hold(conn: duckdb.DuckDBPyConnection, source: str, hold_id: str, who: str) -> Hold:
    """Refuse one held payload (pending, or accepted but not applied yet): it stays held whenever
    it is served, until someone accepts it."""
    hold = _decidable(conn, source, hold_id)
    if hold.status == "refused":
        raise HoldError(
            f"Le changement retenu {hold.hold_id} de « {source} » est déjà refusé "
            f"(par {hold.decided_by}, le {_day(hold.decided_at)})."
        )
    return _decide(conn, hold, "refused", who)


def screen_payload(
    conn: duckdb.DuckDBPyConnection, outcome: IngestOutcome, max_drop: float, run_id: str | None
) -> Hold | None:
    """The hold that keeps this parsed payload out, or None when it may replace the source's records.

    An open hold of the same payload decides: pending or refused, it is held again; accepted, it is
    applied now (the application is recorded in the caller's transaction). Otherwise a drop of more
    than ``max_drop`` against the stored records opens a new hold.
    """
    assert outcome.result is not None and outcome.digest is not None
    open_holds = _holds(conn, "source = ? AND digest = ? AND status <> 'applied'", [outcome.source, outcome.digest])
    if open_holds:
        hold = open_holds[0]
        if hold.status != "accepted":
            return hold
        conn.execute(
            "INSERT INTO source_hold_events (hold_id, event, event_at, run_id) VALUES (?, 'applied', now(), ?)",
            [hold.hold_id, run_id],
        )
        return None
    state = conn.execute("SELECT digest, records FROM source_state WHERE source = ?", [outcome.source]).fetchone()
    previous_digest, previous = state if state else (None, 0)
    new = len(outcome.result.records)
    if not previous or new >= previous * (1 - max_drop):
        return None
    return _record_hold(conn, outcome, previous_digest, previous, max_drop, run_id)


def _record_hold(
    conn: duckdb.DuckDBPyConnection,
    outcome: IngestOutcome,
    previous_digest: str | None,
    previous: int,
    max_drop: float,
    run_id: str | None,
) -> Hold:
    assert outcome.result is not None and outcome.digest is not None
    candidates = [hold_id_for(outcome.source, outcome.digest, attempt) for attempt in range(20)]
    taken = {
        row[0]
        for row in conn.execute(
            "SELECT hold_id FROM source_holds WHERE list_contains(?, hold_id)", [candidates]
        ).fetchall()
    }
    hold_id = next(candidate for candidate in candidates if candidate not in taken)
    rejections = outcome.result.rejections
    new = len(outcome.result.records)
    conn.execute(
        "INSERT INTO source_holds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?)",
        [
            hold_id,
            outcome.source,
            outcome.digest,
            previous_digest,
            previous,
            new,
            len(rejections),
            json.dumps(
                [
                    {"emplacement": r.location, "raison": r.reason, "extrait": (r.excerpt or "")[:EXCERPT_LIMIT]}
                    for r in rejections[:FIRST_REJECTIONS]
                ],
                ensure_ascii=False,
            ),
            f"baisse de {1 - new / previous:.0%} : {new} enregistrements au lieu de {previous} "
            f"(au plus {max_drop:.0%} admis)",
            run_id,
        ],
    )
    hold = get_hold(conn, hold_id)
    assert hold is not None
    return hold
