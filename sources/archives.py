"""Files of a repository archive (``.tar.gz`` as GitHub's codeload serves it, or ``.zip``),
by their path in the repository.

An archive of a repository holds its files under one top folder (``aides-jeunes-main/…``);
paths are given without it, in Unicode NFC (macOS-made archives store NFD names). A document
that is not a readable archive raises :class:`ArchiveError`, naming why.
"""

from __future__ import annotations

import io
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Literal


class ArchiveError(ValueError):
    """Not a readable ``.tar.gz`` / ``.zip`` archive, or the file wanted is not in it."""


def _inner(name: str) -> str:
    parts = PurePosixPath(unicodedata.normalize("NFC", name)).parts
    return "/".join(parts[1:]) if len(parts) > 1 else ""


_TAR_MAGIC: tuple[tuple[bytes, Literal["r:gz", "r:bz2", "r:xz"]], ...] = (
    (b"\x1f\x8b", "r:gz"),
    (b"BZh", "r:bz2"),
    (b"\xfd7zXZ\x00", "r:xz"),
)


def is_zip(content: bytes) -> bool:
    return content[:4] == b"PK\x03\x04"


def archive_files(content: bytes, wanted: Callable[[str], bool] = lambda path: True) -> dict[str, bytes]:
    """The files whose repository path ``wanted`` accepts, by that path."""
    files: dict[str, bytes] = {}
    try:
        if is_zip(content):
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                for info in archive.infolist():
                    path = _inner(info.filename)
                    if not info.is_dir() and path and wanted(path):
                        files[path] = archive.read(info)
            return files
        mode = next((mode for magic, mode in _TAR_MAGIC if content.startswith(magic)), None)
        if mode is None:
            raise ArchiveError("archive illisible : ni .tar.gz (ni .tar.bz2, .tar.xz) ni .zip")
        with tarfile.open(fileobj=io.BytesIO(content), mode=mode) as tar:
            for member in tar:
                path = _inner(member.name)
                if member.isfile() and path and wanted(path):
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        files[path] = extracted.read()
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"archive illisible ({type(exc).__name__} : {exc})") from exc
    return files


def archive_member(content: bytes, member: str) -> bytes:
    """The one file at ``member`` (path in the repository)."""
    found = archive_files(content, lambda path: path == member.strip("/"))
    if not found:
        raise ArchiveError(f"le fichier {member!r} est absent de l'archive")
    return next(iter(found.values()))
