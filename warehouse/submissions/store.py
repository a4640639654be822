"""The append-only store of accepted submissions, and the log of refused attempts.

Why append-only: a submission is a statement by a collectivité; the catalogue must be able to
say, later, which file said what and who sent it. So the bytes of every accepted file are
written once, under ``<warehouse>/submissions/<UTC timestamp>-<siren>-<sha256[:12]>.csv``,
created exclusively (an existing file is never overwritten, never modified: it is made
read-only) and recorded in table ``soumissions``. The name the file had on the agent's computer
is kept as metadata only: it is NEVER used to build a path (``../../etc/passwd`` is just a
string in a column). Names start with the UTC timestamp, so sorting them gives the order of
arrival (``sources/adapters/soumissions.py`` relies on it: later submissions win).

A file written otherwise than the documented format (Windows-1252, ``;``, ``31/12/2026``, an
Excel workbook…) is stored as the validator read it (``SubmissionReport.canonical``), and its
own bytes are kept, write-once too, under ``originaux/`` with the same name; ``sha256`` is the
digest of the agent's bytes.

Refused attempts (invalid file, out of territory, unknown token…) go to ``soumissions_refusees``
with their reason; their bytes are not kept.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.settings import WarehousePaths
from warehouse.submissions.checks import SubmissionReport
from warehouse.submissions.spreadsheet import is_xlsx
from warehouse.submissions.tokens import COLLECTIVITE, Identity

ORIGINALS = "originaux"
"""Subfolder of the store where the agent's own bytes are kept when the stored file is their
reading in the documented format (the catalogue reads only the store's top-level ``*.csv``)."""


class SubmissionRefused(ValueError):
    """The store was asked to keep a file whose report is not valid (or not this file's)."""


@dataclass(frozen=True)
class SubmissionReceipt:
    """What the store kept: the submission's id, where, the bytes' sha256, when, how many rows."""

    id: str
    siren: str
    email: str
    received_at: datetime
    sha256: str
    filename: str | None  # the uploaded name, metadata only
    rows: int
    path: Path  # absolute path of the stored file

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "siren": self.siren,
            "email": self.email,
            "recu_le": self.received_at.isoformat(),
            "sha256": self.sha256,
            "fichier": self.filename,
            "lignes": self.rows,
            "chemin": str(self.path),
        }


def submissions_dir(paths: WarehousePaths) -> Path:
    """``<data folder>/submissions``."""
    return paths.submissions_dir


def store_submission(
    paths: WarehousePaths,
    conn: duckdb.DuckDBPyConnection,
    content: bytes,
    filename: str | None,
    identity: Identity,
    report: SubmissionReport,
) -> SubmissionReceipt:
    """Keep an accepted file: write its bytes once and record it. Raises SubmissionRefused when
    ``report`` is not valid or was not made for these bytes."""
    digest = hashlib.sha256(content).hexdigest()
    if not report.valid:
        raise SubmissionRefused(
            f"fichier refusé : {len(report.errors)} erreur(s) ; seul un fichier valide est conservé"
        )
    if report.sha256 != digest:
        raise SubmissionRefused("le rapport de validation ne porte pas sur ce fichier (empreintes différentes)")
    if not COLLECTIVITE.fullmatch(identity.siren or ""):
        raise SubmissionRefused(f"collectivité invalide : {identity.siren!r}")
    received_at = datetime.now(UTC)
    folder = submissions_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{received_at.strftime('%Y%m%dT%H%M%S%fZ')}-{identity.siren}-{digest[:12]}"
    # The catalogue reads the file in the documented format; a file the agent wrote otherwise
    # (Windows-1252, « ; », 31/12/2026, .xlsx…) is stored as read, its own bytes kept beside it.
    path = _write_once(folder, stem, report.canonical if report.canonical is not None else content)
    if report.canonical is not None:
        _write_once(folder / ORIGINALS, stem, content, ".xlsx" if is_xlsx(content) else ".csv")
    submission_id = str(uuid.uuid4())
    try:
        conn.execute(
            "INSERT INTO soumissions (id, siren, email, received_at, sha256, filename, rows, path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                submission_id,
                identity.siren,
                identity.email,
                received_at,
                digest,
                _metadata_name(filename),
                report.rows,
                path.relative_to(paths.root).as_posix(),
            ],
        )
    except Exception:
        # Not recorded: the file must not stay behind as an unrecorded submission.
        path.chmod(0o644)
        path.unlink(missing_ok=True)
        raise
    return SubmissionReceipt(
        submission_id, identity.siren, identity.email, received_at, digest, _metadata_name(filename), report.rows, path
    )


def _write_once(folder: Path, stem: str, content: bytes, suffix: str = ".csv") -> Path:
    """Create ``folder/stem.csv`` exclusively (``stem-2.csv``… if taken), fsync it, make it read-only."""
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = folder / (f"{stem}{suffix}" if attempt == 1 else f"{stem}-{attempt}{suffix}")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        path.chmod(0o444)
        return path
    raise FileExistsError(f"{folder / stem}.csv : trop de fichiers du même nom")


def _metadata_name(filename: str | None) -> str | None:
    """The uploaded name as metadata: control characters removed, at most 255 characters."""
    if filename is None:
        return None
    return re.sub(r"[\x00-\x1f\x7f]", "", str(filename))[:255]


def log_refused(conn: duckdb.DuckDBPyConnection, identity: Identity | None, reason: str, filename: str | None) -> str:
    """Record a refused attempt (``identity`` None when nobody was identified); returns its id."""
    refusal_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO soumissions_refusees (id, siren, email, received_at, reason, filename) VALUES (?, ?, ?, ?, ?, ?)",
        [
            refusal_id,
            identity.siren if identity else None,
            identity.email if identity else None,
            datetime.now(UTC),
            str(reason),
            _metadata_name(filename),
        ],
    )
    return refusal_id


def list_submissions(
    paths: WarehousePaths, conn: duckdb.DuckDBPyConnection, siren: str | None = None
) -> list[SubmissionReceipt]:
    """The accepted submissions, oldest first; only one collectivité's when ``siren`` is given."""
    where, params = ("WHERE siren = ?", [siren]) if siren is not None else ("", [])
    rows = conn.execute(
        f"SELECT id, siren, email, received_at, sha256, filename, rows, path FROM soumissions {where} "
        "ORDER BY received_at, path",
        params,
    ).fetchall()
    return [SubmissionReceipt(r[0], r[1], r[2], r[3], r[4], r[5], r[6], paths.root / r[7]) for r in rows]
