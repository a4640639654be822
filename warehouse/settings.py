"""Where the pipeline keeps its runtime data.

Everything the pipeline writes (the DuckDB file, snapshots, caches, exports, the store of
submitted files) lives under one git-ignored folder, ``data/`` at the project root by default,
never beside code, so that a fresh clone, the tests (which point ``AIDES_WAREHOUSE_DIR`` at a
temporary folder) and the Dagster UI all agree on one place. ``AIDES_PUBLIC_URL`` says where the
public downloads them from (:func:`public_url`); ``AIDES_LIENS_*`` pace the link check
(:func:`link_check_settings`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import timedelta
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


LINKS_INTERVAL_VARIABLE = "AIDES_LIENS_INTERVALLE_JOURS"
LINKS_PER_RUN_VARIABLE = "AIDES_LIENS_PAR_RUN"
LINKS_MAX_SECONDS_VARIABLE = "AIDES_LIENS_DUREE_MAX_S"


@dataclass(frozen=True)
class LinkCheckSettings:
    """How the link check spreads its work: a link is checked again only once ``interval`` has
    passed since its last check, so a run costs what changed, not the whole catalogue; a run
    checks at most ``per_run`` links and starts none after ``max_seconds``, so that the due links
    of a large or slow catalogue spread over several runs instead of making one run long."""

    interval: timedelta = timedelta(days=7)
    per_run: int = 100
    max_seconds: float = 300.0


def _number(variable: str, minimum: float, integer: bool) -> float | None:
    """The number in ``$variable`` (None when unset or empty); ValueError, in French, otherwise."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    try:
        number = int(value) if integer else float(value.replace(",", "."))
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number < minimum:
        kind = "un nombre entier" if integer else "un nombre"
        raise ValueError(f"{variable}={value!r} : attendu {kind} supérieur ou égal à {minimum:g}")
    return number


def link_check_settings() -> LinkCheckSettings:
    """The link check's pacing: ``$AIDES_LIENS_INTERVALLE_JOURS`` (days between two checks of one
    link, decimals allowed, 0 checks every link every run; 7 by default), ``$AIDES_LIENS_PAR_RUN``
    (links checked at most per run, 0 checks none; 100 by default) and ``$AIDES_LIENS_DUREE_MAX_S``
    (seconds after which a run starts no new check; 300 by default). Raises ValueError for a
    value that is not such a number."""
    default = LinkCheckSettings()
    days = _number(LINKS_INTERVAL_VARIABLE, 0, integer=False)
    per_run = _number(LINKS_PER_RUN_VARIABLE, 0, integer=True)
    seconds = _number(LINKS_MAX_SECONDS_VARIABLE, 1, integer=False)
    return LinkCheckSettings(
        interval=default.interval if days is None else timedelta(days=days),
        per_run=default.per_run if per_run is None else int(per_run),
        max_seconds=default.max_seconds if seconds is None else seconds,
    )


WRITER_MEMORY_VARIABLE = "AIDES_DUCKDB_MEMOIRE"
WRITER_MEMORY_DEFAULT_GB = 2.0


def writer_memory_limit_gb() -> float:
    """What DuckDB may hold in memory for the writer, in GB: ``$AIDES_DUCKDB_MEMOIRE`` (decimals
    allowed), 2 by default. DuckDB's own default is 80 % of the machine: its buffer pool then keeps
    every block a stage read or wrote, 1.3 GB of the catalogue build's 9.6 GB peak at 1M records
    (issue 18, measured), on top of the polars frames. Above the limit it spills to disk
    (``<entrepôt>.tmp``); the catalogue build and the publication ran at 1M records with 1 GB."""
    value = _number(WRITER_MEMORY_VARIABLE, 0.1, integer=False)
    return WRITER_MEMORY_DEFAULT_GB if value is None else value
