"""Where the pipeline keeps its runtime data.

Everything the pipeline writes (the DuckDB file, snapshots, caches, exports, the store of
submitted files) lives under one git-ignored folder, ``data/`` at the project root by default,
never beside code, so that a fresh clone, the tests (which point ``AIDES_WAREHOUSE_DIR`` at a
temporary folder) and the Dagster UI all agree on one place. ``AIDES_PUBLIC_URL`` says where the
public downloads them from (:func:`public_url`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = PROJECT_ROOT / "data"


@dataclass(frozen=True)
class WarehousePaths:
    """The files and folders of one warehouse."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def database(self) -> Path:
        return self.data_dir / "catalogue.duckdb"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "catalogue.duckdb.writer-lock"

    @property
    def cache_dir(self) -> Path:
        """Downloaded packages, kept so that an unchanged version is not fetched again."""
        return self.root / "cache"

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def submissions_dir(self) -> Path:
        """The append-only store of the files collectivités submitted."""
        return self.root / "submissions"


def warehouse_paths() -> WarehousePaths:
    """The warehouse in use: ``$AIDES_WAREHOUSE_DIR`` or the project's ``data/``."""
    override = os.environ.get("AIDES_WAREHOUSE_DIR")
    return WarehousePaths(Path(override).resolve() if override else DATA_ROOT)


PUBLIC_URL_VARIABLE = "AIDES_PUBLIC_URL"
_PUBLIC_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")


def public_url() -> str | None:
    """The public base address of the site serving the releases (``$AIDES_PUBLIC_URL``, e.g.
    ``https://aides.exemple.gouv.fr``, or with a path prefix), without a trailing slash; None when
    unset or empty. A release's ``datapackage.json`` then names its files
    ``<base>/telechargements/<version>/<file>``. Raises ValueError for a value that is not an
    ``http(s)://`` address without query or fragment."""
    value = os.environ.get(PUBLIC_URL_VARIABLE, "").strip()
    if not value:
        return None
    if not _PUBLIC_URL.fullmatch(value):
        raise ValueError(
            f"{PUBLIC_URL_VARIABLE}={value!r} : adresse publique invalide "
            "(attendu : http(s)://hôte[/chemin], sans paramètres ni ancre)"
        )
    return value.rstrip("/")
