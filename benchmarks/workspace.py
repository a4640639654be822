"""The benchmark's work folder: the cached COG, the cached payloads, one throw-away warehouse per run.

Why cached: the COG tarball comes through the npm client (once, verified by its pinned
integrity) and loading it takes seconds that are not part of any stage; payloads take
seconds to minutes to generate at 1M. Both are keyed so that a stale cache is never used:
the COG by its pinned version and integrity, payloads by size, seed and a digest of the
generator's source.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from sources import npm
from sources.packages import referential_pin
from warehouse.db import connect_writer
from warehouse.referential import load_referential
from warehouse.settings import DATA_ROOT, WarehousePaths

DEFAULT_WORKDIR = DATA_ROOT / "benchmarks" / "work"
_GENERATOR_FILES = ("generator.py", "distributions.py")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def cache(self) -> Path:
        return self.root / "cache"  # npm tarballs (sources.npm layout: cache/npm/<name>-<version>.tgz)

    def template(self) -> Path:
        """A warehouse holding only the COG, copied for every run."""
        pin = referential_pin()
        key = hashlib.sha256(f"{pin.name}{pin.version}{pin.integrity}".encode()).hexdigest()[:12]
        return self.root / "templates" / f"cog-{pin.version}-{key}"

    def payloads(self, size: int, seed: int) -> Path:
        digest = hashlib.sha256()
        for name in _GENERATOR_FILES:
            digest.update((Path(__file__).with_name(name)).read_bytes())
        return self.root / "payloads" / f"{size}-{seed}-{digest.hexdigest()[:10]}"

    def run_dir(self, size: int, seed: int) -> Path:
        return self.root / "runs" / f"{size}-{seed}"


def ensure_template(workspace: Workspace) -> WarehousePaths:
    """The COG-only warehouse, built once from the pinned package (through the npm client)."""
    workspace.root.mkdir(parents=True, exist_ok=True)
    ignore = workspace.root / ".gitignore"
    if not ignore.exists():  # gigabytes of throw-away data: never versioned, even by accident
        ignore.write_text("# Benchmark work folder (COG cache, payloads, warehouses): not versioned.\n*\n")
    folder = workspace.template()
    paths = WarehousePaths(folder)
    if (folder / "ready").exists():
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    pin = referential_pin()
    package = npm.fetch(pin.name, pin.version, pin.integrity, workspace.cache)
    with connect_writer(paths) as conn:
        load_referential(conn, package)
        conn.execute("CHECKPOINT")
    (folder / "ready").write_text(f"{pin.name} {pin.version}\n", encoding="utf-8")
    return paths


def fresh_warehouse(workspace: Workspace, size: int, seed: int) -> WarehousePaths:
    """A new warehouse for one run: the template's database copied, nothing else."""
    template = ensure_template(workspace)
    root = workspace.run_dir(size, seed)
    shutil.rmtree(root, ignore_errors=True)
    paths = WarehousePaths(root)
    paths.data_dir.mkdir(parents=True)
    paths.exports_dir.mkdir(parents=True)
    shutil.copy2(template.database, paths.database)
    return paths
