"""Ingest one source: collect, detect change, parse; degrade to the last good snapshot.

A source whose payload digest equals the one its stored records came from is not
parsed again. A source that cannot be collected is served from its last collection
in the snapshot store and flagged stale; one that never had a collection is reported
unavailable, never empty. A payload the adapter cannot parse at all (it raises: a bug, or
a shape nobody foresaw) is reported ``failed`` with where it broke, and the source keeps
its previous records: one broken source never stops the others nor empties the catalogue.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sources.base import CollectContext, Payload, SourceSpec, adapter_module
from sources.fetch.client import FetchError
from sources.fetch.snapshots import Collection
from sources.fetch.transport import ReplayMissError
from sources.npm import NpmPackageError
from sources.record import ParseResult

# Failures of collection that degrade a source instead of stopping the run.
COLLECT_ERRORS = (FetchError, NpmPackageError, ReplayMissError, OSError, ValueError, KeyError)


class IngestStatus(str, Enum):
    PARSED = "parsed"  # new payload, parsed
    UNCHANGED = "unchanged"  # same payload as the stored records: not parsed again
    UNAVAILABLE = "unavailable"  # could not be collected and never was
    FAILED = "failed"  # collected, but the adapter raised while parsing: previous records kept


@dataclass
class IngestOutcome:
    source: str
    status: IngestStatus
    stale: bool  # served from the last good snapshot because collection failed
    digest: str | None
    version: str | None
    fetched_at: str | None
    result: ParseResult | None  # PARSED, or FAILED on an unreadable payload (its rejections); else None
    error: str | None
    duration_s: float


def _payload_from(collection: Collection, ctx: CollectContext) -> Payload:
    return Payload([(doc, ctx.store.get(doc.sha256)) for doc in collection.documents], collection.version)


def ingest(spec: SourceSpec, ctx: CollectContext, previous_digest: str | None) -> IngestOutcome:
    """Collect and, if it changed since ``previous_digest``, parse one source."""
    started = time.monotonic()
    adapter = adapter_module(spec)
    error: str | None = None
    stale = False
    if _not_replayed(spec, ctx):
        # A replay folder holds only the fixtures of the sources replayed: the others keep their state.
        last = ctx.store.last_collection(spec.name)
        reason = f"non rejouée : pas de {spec.name}/index.json dans {ctx.replay_root}"
        if last is None or last.digest != previous_digest:
            return IngestOutcome(
                spec.name, IngestStatus.UNAVAILABLE, False, None, None, None, None, reason, time.monotonic() - started
            )
        return IngestOutcome(
            spec.name,
            IngestStatus.UNCHANGED,
            False,
            last.digest,
            last.version,
            last.fetched_at,
            None,
            reason,
            time.monotonic() - started,
        )
    try:
        payload = adapter.collect(spec, ctx)
        for _document, content in payload.documents:
            ctx.store.put(content)  # npm members and the like are archived too
        collection = ctx.store.save_collection(spec.name, [doc for doc, _ in payload.documents], payload.version)
    except COLLECT_ERRORS as exc:
        error = f"{exc.reason} ({exc.url})" if isinstance(exc, FetchError) else f"{type(exc).__name__} : {exc}"
        last = ctx.store.last_collection(spec.name)
        if last is None:
            return IngestOutcome(
                spec.name, IngestStatus.UNAVAILABLE, False, None, None, None, None, error, time.monotonic() - started
            )
        collection, payload, stale = last, _payload_from(last, ctx), True

    def outcome(status: IngestStatus, stale_: bool, result: ParseResult | None, error_: str | None) -> IngestOutcome:
        return IngestOutcome(
            spec.name,
            status,
            stale_,
            collection.digest,
            collection.version,
            collection.fetched_at,
            result,
            error_,
            time.monotonic() - started,
        )

    if collection.digest == previous_digest:
        return outcome(IngestStatus.UNCHANGED, stale, None, error)
    try:
        result = adapter.parse(spec, payload)
    except Exception as exc:  # noqa: BLE001 — isolation: reported with its location, never silent
        return outcome(IngestStatus.FAILED, previous_digest is not None, None, parse_failure(exc))
    if result.unreadable:
        # a payload that is not the declared shape fails loudly: its items are counted as
        # rejections, the previous records stay
        reasons = "; ".join(result.unreadable)
        return outcome(
            IngestStatus.FAILED,
            previous_digest is not None,
            result,
            f"illisible comme {spec.adapter} ({len(result.rejections)} éléments rejetés) : {reasons}",
        )
    return outcome(IngestStatus.PARSED, stale, result, error)


def _not_replayed(spec: SourceSpec, ctx: CollectContext) -> bool:
    """Replaying a folder that has no fixtures for this web source."""
    if ctx.replay_root is None or ctx.transport is not None or spec.transport != "http":
        return False
    return not (ctx.replay_root / spec.name / "index.json").is_file()


def parse_failure(exc: Exception) -> str:
    """``échec de l'analyse`` with the exception and the line that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        path = Path(frames[-1].filename)
        root = Path(__file__).resolve().parents[1]
        shown = path.relative_to(root) if path.is_relative_to(root) else path.name
        where = f" ({shown}:{frames[-1].lineno})"
    return f"échec de l'analyse : {type(exc).__name__} : {exc}{where}"
