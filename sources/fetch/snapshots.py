"""Content-addressed archive of every raw response, with a manifest.

Each body is stored once under ``objects/<sha256[:2]>/<sha256>``; ``manifest.jsonl``
has one line per response (source, URL, status, headers, sha256, fetched_at) and
``collections.jsonl`` one line per successful collection of a source, listing the
documents it was made of. A source that cannot be reached is served again from its
last collection.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Document:
    """One raw piece of a source's payload: a page, a file, a package member."""

    name: str  # URL, or path inside a package
    sha256: str
    media_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Collection:
    """Everything collected from one source in one run."""

    source: str
    digest: str  # identifies the whole payload: unchanged digest, unchanged source
    documents: tuple[Document, ...]
    version: str | None
    fetched_at: str


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def collection_digest(documents: list[Document] | tuple[Document, ...], version: str | None = None) -> str:
    """A digest of the payload as a whole (names and contents, in order)."""
    digest = hashlib.sha256((version or "").encode())
    for document in documents:
        digest.update(b"\0" + document.name.encode() + b"\0" + document.sha256.encode())
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._latest: dict[str, dict] | None = None

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def collections(self) -> Path:
        return self.root / "collections.jsonl"

    def _append(self, path: Path, entry: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fcntl.flock(handle, fcntl.LOCK_UN)

    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Store a body once; return its sha256."""
        sha = sha256_of(content)
        path = self.object_path(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(content)
            tmp.replace(path)
        return sha

    def get(self, sha256: str) -> bytes:
        return self.object_path(sha256).read_bytes()

    def record_response(self, source: str, url: str, status: int, headers: dict[str, str], content: bytes) -> str:
        """Archive a response body and add its line to the manifest."""
        sha = self.put(content)
        entry = {
            "source": source,
            "url": url,
            "status": status,
            "headers": headers,
            "sha256": sha,
            "fetched_at": _now(),
        }
        self._append(self.manifest, entry)
        if self._latest is not None and status == 200:
            self._latest[url] = entry
        return sha

    def latest_response(self, url: str) -> dict | None:
        """The last 200 response archived for a URL (for conditional requests)."""
        if self._latest is None:
            self._latest = {}
            if self.manifest.exists():
                for line in self.manifest.read_text(encoding="utf-8").splitlines():
                    entry = json.loads(line)
                    if entry["status"] == 200:
                        self._latest[entry["url"]] = entry
        return self._latest.get(url)

    def save_collection(self, source: str, documents: list[Document], version: str | None = None) -> Collection:
        collection = Collection(source, collection_digest(documents, version), tuple(documents), version, _now())
        entry = asdict(collection)
        self._append(self.collections, entry)
        return collection

    def last_collection(self, source: str) -> Collection | None:
        """The most recent successful collection of a source, if it ever had one."""
        if not self.collections.exists():
            return None
        found = None
        for line in self.collections.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["source"] == source:
                found = entry
        if found is None:
            return None
        documents = tuple(Document(**doc) for doc in found["documents"])
        return Collection(found["source"], found["digest"], documents, found["version"], found["fetched_at"])
