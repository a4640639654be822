"""The fetch layer: polite HTTP client, transports (live, replay, recording), snapshot store."""

from sources.fetch.client import (
    FetchedDocument,
    FetchError,
    FetchPolicy,
    PoliteClient,
    RobotsDisallowedError,
    UnreachableError,
)
from sources.fetch.snapshots import Collection, Document, SnapshotStore
from sources.fetch.transport import LiveTransport, RecordingTransport, ReplayMissError, ReplayTransport, TransportError

__all__ = [
    "Collection",
    "Document",
    "FetchError",
    "FetchPolicy",
    "FetchedDocument",
    "LiveTransport",
    "PoliteClient",
    "RecordingTransport",
    "ReplayMissError",
    "ReplayTransport",
    "RobotsDisallowedError",
    "SnapshotStore",
    "TransportError",
    "UnreachableError",
]
