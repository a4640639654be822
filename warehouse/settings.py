"""Where the pipeline keeps its runtime data.

Everything the pipeline writes (the DuckDB file, snapshots, caches, exports, the store of
submitted files) lives under one git-ignored folder, ``data/`` at the project root by default,
never beside code, so that a fresh clone, the tests (which point ``AIDES_WAREHOUSE_DIR`` at a
temporary folder) and the Dagster UI all agree on one place.
"""

from __future__ import annotations

import os
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
