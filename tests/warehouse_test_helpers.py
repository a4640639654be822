"""Warehouses the tests read: with the hand-made minimal referential, or with the real COG one."""

from __future__ import annotations

from pathlib import Path

from paths import FIXTURES

from sources.npm import NpmPackage
from warehouse.db import connect_writer
from warehouse.referential import load_referential
from warehouse.settings import WarehousePaths

# Paris, Lyon, Villeurbanne, Caen… (see tests/fixtures/soumissions/README.md).
MINIMAL_REFERENTIAL = FIXTURES / "soumissions" / "referentiel-minimal.sql"


def load_minimal_referential(paths: WarehousePaths) -> None:
    """Load the hand-made referential into the warehouse ``paths``."""
    with connect_writer(paths) as conn:
        conn.execute(MINIMAL_REFERENTIAL.read_text(encoding="utf-8"))


def warehouse_with_referential(root: Path, package: NpmPackage) -> WarehousePaths:
    """A warehouse at ``root`` holding the COG referential of ``package`` (the real one, fetched)."""
    paths = WarehousePaths(root)
    with connect_writer(paths) as conn:
        load_referential(conn, package)
    return paths
