"""What a source is (a declarative entry) and what an adapter provides.

Each adapter is a module of ``sources.adapters`` with two functions:

    collect(spec: SourceSpec, ctx: CollectContext) -> Payload
        obtains the raw documents (through ``ctx.client(spec)`` for the web, or
        ``ctx.npm_package(...)`` for npm packages); may raise FetchError / NpmPackageError.
    parse(spec: SourceSpec, payload: Payload) -> ParseResult
        turns documents into AidRecords; never raises on bad input: every item it
        cannot use becomes a Rejection with its location and reason, so that
        items seen = records + rejections.

Generic adapters (OpenDataSoft, configurable HTML scraper, dispositif-aide CSV) read
what differs between sites from ``spec.config``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sources.fetch.client import FetchPolicy, PoliteClient
from sources.fetch.snapshots import Document, SnapshotStore, collection_digest, sha256_of
from sources.fetch.transport import LiveTransport, RecordingTransport, ReplayTransport, Transport
from sources.npm import NpmPackage
from sources.npm import fetch as npm_fetch
from sources.npm import resolve as npm_resolve


@dataclass(frozen=True)
class SourceSpec:
    """A source as declared in one of ``sources/catalogue/*.toml`` (read by ``sources.registry``)."""

    name: str  # identifier used in the published `sources` column: lower-case, digits, hyphens
    adapter: str  # module of sources.adapters
    level: str  # commune, epci, departement, region, national, multi
    publisher: str
    licence: str
    homepage: str
    transport: str  # npm, http, local (files in the warehouse)
    schedule: str  # cron expression
    config: dict[str, Any] = field(default_factory=dict)
    precedence: int = 50  # higher wins when sources disagree on the same aid

    @property
    def pool(self) -> str:
        """Concurrency pool: one per host for the web, one for the npm client."""
        if self.transport == "npm":
            return "npm"
        from urllib.parse import urlsplit

        url = self.config.get("url") or self.config.get("archive_url") or self.homepage
        host = urlsplit(url).netloc or self.name
        return "host_" + "".join(c if c.isalnum() else "_" for c in host)


@dataclass
class Payload:
    """The raw documents of one collection, in order, with their bytes."""

    documents: list[tuple[Document, bytes]]
    version: str | None = None  # package version, for npm sources

    @classmethod
    def build(cls, parts: list[tuple[str, bytes, str]], version: str | None = None) -> Payload:
        """From (name, content, media type) triples."""
        return cls([(Document(name, sha256_of(content), media), content) for name, content, media in parts], version)

    @property
    def digest(self) -> str:
        return collection_digest([doc for doc, _ in self.documents], self.version)

    def content(self, name: str) -> bytes:
        for document, content in self.documents:
            if document.name == name:
                return content
        raise KeyError(name)


@dataclass
class CollectContext:
    """What adapters need to collect: a transport, the snapshot store, the npm cache."""

    store: SnapshotStore
    npm_cache_dir: Path
    policy: FetchPolicy
    transport: Transport | None = None  # None: live network
    replay_root: Path | None = None  # fixtures/<source>/ replayed instead of the network
    record_root: Path | None = None  # live responses recorded into fixtures/<source>/
    npm_pins: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (version, integrity) overrides

    def client(self, spec: SourceSpec) -> PoliteClient:
        transport: Transport
        if self.transport is not None:
            transport = self.transport
        elif self.replay_root is not None:
            transport = ReplayTransport.from_folder(self.replay_root / spec.name)
        elif self.record_root is not None:
            transport = RecordingTransport(
                LiveTransport(), self.record_root / spec.name, f"Enregistré depuis {spec.homepage} ({spec.publisher})"
            )
        else:
            transport = LiveTransport()
        return PoliteClient(spec.name, transport, self.policy, self.store)

    def npm_package(self, name: str, spec_or_version: str = "latest") -> NpmPackage:
        """A package by name, at a pinned version or at what ``spec_or_version`` designates today."""
        if name in self.npm_pins:
            version, integrity = self.npm_pins[name]
        else:
            version, integrity = npm_resolve(name, spec_or_version)
        return npm_fetch(name, version, integrity, self.npm_cache_dir)


def adapter_module(spec: SourceSpec) -> ModuleType:
    return importlib.import_module(f"sources.adapters.{spec.adapter}")
