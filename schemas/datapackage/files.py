"""A resource's bytes: size, digest, and the line breaks a CSV reader must account for.

frictionless checks a resource's declared ``bytes`` and ``hash`` (``sha256:…`` or ``md5``) against
the bytes it read, and its ``rows`` against the rows it read; the same checks are here, on the
same bytes, in one pass that also looks at what a CSV reader must account for: adjacent line
breaks (``\\n\\n``, ``\\n\\r``, ``\\r\\r``), which outside a quoted cell only occur around a blank
line (Python's csv module reads an empty row there, DuckDB skips it: :mod:`schemas.datapackage.csv_reader`
compares them with the ones inside the cells), and spaces beside a lone quote. Chunks never
split a run of line breaks, so counts add up exactly as over the whole file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.datapackage.errors import PackageError

BREAK_PAIRS: tuple[str, ...] = ("\n\n", "\n\r", "\r\r")
_CHUNK = 1 << 23


@dataclass
class FileFacts:
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)  # algorithm -> hex digest (file_digests)
    pairs: dict[str, int] = field(default_factory=dict)  # BREAK_PAIRS -> occurrences (non-overlapping)
    starts_with_break: bool = False
    spaced_quote: bool = False  # a space next to a lone quote (see csv_reader.spacing_patterns)


def read_facts(
    path: Path,
    count_breaks: bool,
    misplaced: tuple[re.Pattern[bytes], ...] = (),
    algorithms: tuple[str, ...] = (),
    quote: bytes = b'"',
) -> FileFacts:
    """Size, digests and (for a CSV file) adjacent line breaks of ``path``, in one pass of 8 MiB
    chunks; ``misplaced``: byte patterns a CSV file must not hold near a ``quote`` (``spaced_quote``:
    whether one was found)."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    facts = FileFacts(pairs=dict.fromkeys(BREAK_PAIRS, 0))
    tail = b""
    with open(path, "rb") as handle:
        first = True
        while chunk := handle.read(_CHUNK):
            while count_breaks and chunk[-1:] in (b"\n", b"\r"):  # never split a run of line breaks
                more = handle.read(1)
                if not more:
                    break
                chunk += more
            if first:
                facts.starts_with_break = chunk[:1] in (b"\n", b"\r")
                first = False
            facts.size += len(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
            if misplaced and not facts.spaced_quote and (quote in chunk or quote in tail):
                window = tail + chunk
                facts.spaced_quote = any(pattern.search(window) for pattern in misplaced)
            tail = chunk[-2:]
            if count_breaks:
                facts.pairs["\n\n"] += chunk.count(b"\n\n")
                if b"\r" in chunk:
                    facts.pairs["\n\r"] += chunk.count(b"\n\r")
                    facts.pairs["\r\r"] += chunk.count(b"\r\r")
    facts.digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    return facts


def declared_hash(resource: dict[str, Any]) -> tuple[str, str] | None:
    """(algorithm, hex digest) of the resource's ``hash``, as frictionless parses it (no prefix: md5);
    None when absent or of an algorithm frictionless ignores."""
    value = resource.get("hash")
    if not value:
        return None
    algorithm, _, digest = str(value).rpartition(":")
    algorithm = algorithm or "md5"
    return (algorithm, digest) if algorithm in ("md5", "sha256") else None


def file_errors(name: str, resource: dict[str, Any], facts: FileFacts, rows: int | None) -> list[PackageError]:
    """``hash-count``, ``byte-count`` and ``row-count`` errors, checked as frictionless checks them
    (a declared 0 or nothing is not checked; a file resource read no rows)."""
    errors = []
    expected_hash = declared_hash(resource)
    if expected_hash and facts.digests.get(expected_hash[0]) != expected_hash[1]:
        errors.append(
            PackageError(
                name,
                "hash-count",
                f"empreinte {expected_hash[0]} {facts.digests.get(expected_hash[0])} au lieu de {expected_hash[1]} "
                "déclarée : le fichier n'est pas celui que décrit le paquet",
            )
        )
    if resource.get("bytes") and resource["bytes"] != facts.size:
        errors.append(PackageError(name, "byte-count", f"{facts.size} octets au lieu de {resource['bytes']} déclarés"))
    if resource.get("rows") and resource["rows"] != rows:
        errors.append(
            PackageError(
                name, "row-count", f"{rows if rows is not None else 'aucune'} ligne(s) au lieu de {resource['rows']}"
            )
        )
    return errors
