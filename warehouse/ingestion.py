"""Store what ingestion produced: each source's records and rejections, its state, a run line.

A source's rows are replaced as a whole, in one transaction, only when its payload
changed; an unchanged or unavailable source keeps its previous rows untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from operator import attrgetter
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from sources.ingest import IngestOutcome, IngestStatus
from sources.record import LIST_FIELDS, OTHER_FIELDS, TEXT_FIELDS, AidRecord, GeoMention, ParseResult
from warehouse.holds import Hold, screen_payload
from warehouse.holds import pending_holds as pending_holds  # the API readers import from here too

# The record's stated fields, as sources/record.py derives them from its attributes and the schema.
_LIST_COLUMNS = LIST_FIELDS
_TEXT_COLUMNS = TEXT_FIELDS


def _getter(name: str) -> Callable[[AidRecord], Any]:
    """``attrgetter`` for an attribute (the fast path), ``AidRecord.value`` for another published field."""
    return attrgetter(name) if name not in OTHER_FIELDS else (lambda record: record.value(name))


# The frame's column order is the schema's: text columns, then the list columns.
_SCHEMA = pl.Schema(
    {
        **{
            name: pl.Utf8()
            for name in (
                "source",
                "native_id",
                "digest",
                *_TEXT_COLUMNS,
                "geo_inclusions",
                "geo_exclusions",
                "geo_expression",
                "acteurs",
                "raw",
            )
        },
        **{name: pl.List(pl.Utf8()) for name in _LIST_COLUMNS},
    }
)


class _NotAList(Exception):
    """A list field held None: the plain constructor says so."""


_ARROW_TEXT = pa.large_string()
_ARROW_LIST = pa.large_list(pa.large_string())
_RAW_ENCODER = json.JSONEncoder(
    ensure_ascii=False, default=str
)  # what json.dumps(…, ensure_ascii=False, default=str) builds


@dataclass(frozen=True)
class SourceRunLine:
    """What one source did in one run: the structured log line and the asset metadata."""

    source: str
    status: str
    stale: bool
    records: int
    rejected: int
    changed: bool
    digest: str | None
    version: str | None
    duration_s: float
    error: str | None
    hold_id: str | None = None  # the hold that kept this run's payload out (warehouse.holds)


def records_frame(source: str, digest: str, result: ParseResult) -> pl.DataFrame:
    """The parsed records as one typed frame, ready for the warehouse.

    Built column by column with Arrow's C++ converters (``attrgetter`` over the records,
    no per-record list copies), each distinct geographic mention serialised once. Records
    that break the record contract (a value Arrow refuses, a list field set to None) go
    through the plain constructor, which raises or converts exactly as it always did.
    """
    records = result.records
    try:
        return _records_frame_arrow(source, digest, records)
    except (pa.ArrowException, TypeError, ValueError, _NotAList):
        return _records_frame_plain(source, digest, records)


def _geo_json_column(mentions: list[list[GeoMention]]) -> list[str]:
    """``json.dumps([asdict(g) for g in ms], ensure_ascii=False)`` per record, each distinct mention encoded once."""
    memo: dict[GeoMention, str] = {}

    def encode(mention: GeoMention) -> str:
        text = memo.get(mention)
        if text is None:
            fields = (
                {"niveau": mention.niveau, "code": mention.code, "nom": mention.nom}
                if type(mention) is GeoMention
                else asdict(mention)
            )  # asdict's deep copy is the slow part
            text = memo[mention] = json.dumps(fields, ensure_ascii=False)
        return text

    # json.dumps joins list items with ", " (default separators, no indent).
    return ["[" + ", ".join(map(encode, ms)) + "]" if ms else "[]" for ms in mentions]


def _records_frame_arrow(source: str, digest: str, records: list) -> pl.DataFrame:
    n = len(records)
    columns: dict[str, pa.Array] = {
        "source": pa.array([source] * n, _ARROW_TEXT),
        "native_id": pa.array(list(map(str, map(attrgetter("native_id"), records))), _ARROW_TEXT),
        "digest": pa.array([digest] * n, _ARROW_TEXT),
    }
    for name in _TEXT_COLUMNS:
        columns[name] = pa.array(list(map(_getter(name), records)), _ARROW_TEXT)
    for name in _LIST_COLUMNS:
        column = pa.array(list(map(_getter(name), records)), _ARROW_LIST)
        if column.null_count:  # list(None) raises in the plain constructor
            raise _NotAList(name)
        columns[name] = column
    for name in ("geo_inclusions", "geo_exclusions"):
        columns[name] = pa.array(_geo_json_column(list(map(attrgetter(name), records))), _ARROW_TEXT)
    columns["geo_expression"] = pa.array(
        [None if e is None else _RAW_ENCODER.encode(e) for e in map(attrgetter("geo_expression"), records)],
        _ARROW_TEXT,
    )
    columns["acteurs"] = pa.array(_acteurs_column(records), _ARROW_TEXT)
    columns["raw"] = pa.array(list(map(_RAW_ENCODER.encode, map(attrgetter("raw"), records))), _ARROW_TEXT)
    return pl.from_arrow(pa.table({name: columns[name] for name in _SCHEMA}))  # type: ignore[return-value]


def _records_frame_plain(source: str, digest: str, records: list) -> pl.DataFrame:
    """The straightforward construction: the reference the Arrow path reproduces."""
    columns: dict[str, list] = {
        "source": [source] * len(records),
        "native_id": [str(r.native_id) for r in records],
        "digest": [digest] * len(records),
    }
    for name in _TEXT_COLUMNS:
        columns[name] = [r.value(name) for r in records]
    for name in _LIST_COLUMNS:
        columns[name] = [list(r.value(name)) for r in records]
    for name in ("geo_inclusions", "geo_exclusions"):
        columns[name] = [json.dumps([asdict(g) for g in getattr(r, name)], ensure_ascii=False) for r in records]
    columns["geo_expression"] = [
        None if r.geo_expression is None else json.dumps(r.geo_expression, ensure_ascii=False) for r in records
    ]
    columns["acteurs"] = _acteurs_column(records)
    columns["raw"] = [json.dumps(r.raw, ensure_ascii=False, default=str) for r in records]
    return pl.DataFrame(columns, schema=_SCHEMA)


def _acteurs_column(records: list) -> list[str | None]:
    """The stated actors as JSON (``[{"nom", "siren", "roles"}]``), null when the record states none."""
    return [
        json.dumps([{"nom": a.nom, "siren": a.siren, "roles": list(a.roles)} for a in r.acteurs], ensure_ascii=False)
        if r.acteurs
        else None
        for r in records
    ]


def previous_digest(conn: duckdb.DuckDBPyConnection, source: str) -> str | None:
    row = conn.execute("SELECT digest FROM source_state WHERE source = ?", [source]).fetchone()
    return row[0] if row else None


def _insert_rejections(conn: duckdb.DuckDBPyConnection, outcome: IngestOutcome) -> None:
    assert outcome.result is not None and outcome.digest is not None
    rejections = pl.DataFrame(
        {
            "source": [r.source for r in outcome.result.rejections],
            "digest": [outcome.digest] * len(outcome.result.rejections),
            "location": [r.location for r in outcome.result.rejections],
            "reason": [r.reason for r in outcome.result.rejections],
            "excerpt": [r.excerpt for r in outcome.result.rejections],
        },
        schema={name: pl.Utf8 for name in ("source", "digest", "location", "reason", "excerpt")},
    )
    conn.register("incoming_rejections", rejections)
    conn.execute("INSERT INTO source_rejections BY NAME SELECT * FROM incoming_rejections")
    conn.unregister("incoming_rejections")


def _store_rejections(conn: duckdb.DuckDBPyConnection, outcome: IngestOutcome) -> None:
    """The rejections of a payload that failed, beside the stored records' (once per payload)."""
    conn.execute("DELETE FROM source_rejections WHERE source = ? AND digest = ?", [outcome.source, outcome.digest])
    _insert_rejections(conn, outcome)


def _replace_source_rows(conn: duckdb.DuckDBPyConnection, outcome: IngestOutcome) -> None:
    assert outcome.result is not None and outcome.digest is not None
    frame = records_frame(outcome.source, outcome.digest, outcome.result)
    conn.execute("DELETE FROM source_records WHERE source = ?", [outcome.source])
    conn.execute("DELETE FROM source_rejections WHERE source = ?", [outcome.source])
    conn.register("incoming_records", frame)
    conn.execute("INSERT INTO source_records BY NAME SELECT * FROM incoming_records")
    conn.unregister("incoming_records")
    _insert_rejections(conn, outcome)
    conn.execute(
        """
        INSERT OR REPLACE INTO source_state VALUES (?, ?, ?, ?, now(), ?, ?)
        """,
        [
            outcome.source,
            outcome.digest,
            outcome.version,
            outcome.fetched_at,
            len(outcome.result.records),
            len(outcome.result.rejections),
        ],
    )


DEFAULT_MAX_DROP = 0.3  # a source losing more than 30 % of its records is held back (warehouse.holds)


def _hold_reason(outcome: IngestOutcome, previous: int, max_drop: float, hold: Hold) -> str:
    """Why the change is held, which hold it is and how to decide, with the first rejections
    (often the cause: a page that changed)."""
    assert outcome.result is not None
    new = len(outcome.result.records)
    reasons = list(dict.fromkeys(r.reason for r in outcome.result.rejections))[:3]
    why = (
        f"baisse de plus de {max_drop:.0%}"
        if new < previous * (1 - max_drop)
        else f"contenu déjà retenu le {hold.created_at:%d/%m/%Y}"
    )
    decision = (
        f"refusée par {hold.decided_by} le {hold.decided_at:%d/%m/%Y} ; pour l'accepter malgré tout : "
        if hold.status == "refused" and hold.decided_at
        else f"à examiner avec `aides holds {outcome.source}`, puis à acquitter avec "
    )
    return (
        f"changement retenu : {new} enregistrements au lieu de {previous} ({why}) ; "
        f"retenue {hold.hold_id}, {decision}`{hold.acknowledge_command()}`"
        + (f" ; rejets : {' | '.join(reasons)}" if reasons else "")
    )


def store_outcome(
    conn: duckdb.DuckDBPyConnection,
    outcome: IngestOutcome,
    run_id: str | None = None,
    max_drop: float = DEFAULT_MAX_DROP,
) -> SourceRunLine:
    """Persist one source's outcome atomically and return its run line.

    A parsed payload is screened by :func:`warehouse.holds.screen_payload`: one that dropped by
    more than ``max_drop`` against the last good run, or whose earlier hold nobody accepted, is
    held back (status ``held``, the hold's id in the line): the previous records stay in the
    catalogue until that very hold is acknowledged.
    """
    conn.execute("BEGIN TRANSACTION")
    try:
        hold = screen_payload(conn, outcome, max_drop, run_id) if outcome.status is IngestStatus.PARSED else None
        held = hold is not None
        if outcome.status is IngestStatus.PARSED and not held:
            _replace_source_rows(conn, outcome)
        state = conn.execute("SELECT records, rejected FROM source_state WHERE source = ?", [outcome.source]).fetchone()
        records, rejected = state if state else (0, 0)
        if outcome.status is IngestStatus.FAILED and outcome.result is not None:
            # an unreadable payload: its items are rejections of this run (the previous records stay)
            _store_rejections(conn, outcome)
            rejected = len(outcome.result.rejections)
        line = SourceRunLine(
            source=outcome.source,
            status="held" if held else outcome.status.value,
            stale=outcome.stale,
            records=records,
            rejected=rejected,
            changed=outcome.status is IngestStatus.PARSED and not held,
            digest=outcome.digest,
            version=outcome.version,
            duration_s=round(outcome.duration_s, 3),
            error=_hold_reason(outcome, records, max_drop, hold) if hold else outcome.error,
            hold_id=hold.hold_id if hold else None,
        )
        conn.execute(
            "INSERT INTO source_runs (run_id, source, run_at, status, stale, digest, version, records, rejected, "
            "duration_s, error, hold_id) VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                line.source,
                line.status,
                line.stale,
                line.digest,
                line.version,
                line.records,
                line.rejected,
                line.duration_s,
                line.error,
                line.hold_id,
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return line
