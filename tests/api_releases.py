"""Release folders for the API's tests, without running the pipeline.

The aids are the golden reference's (``tests/golden/release.json``: the replayed release, as
text), typed as ``aides.parquet`` types them; each release folder holds what the API reads:
``aides.parquet``, ``aides-communes.parquet`` (the communes its ``COM-`` codes name),
``changements.csv`` (computed from the previous one as the publisher computes it) and
``datapackage.json`` (its ``created``); ``exports/latest`` points to the last one written.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path

import polars as pl

from warehouse.publication.release_files import compute_changes, typed_frame, write_csv
from warehouse.settings import WarehousePaths

GOLDEN = Path(__file__).resolve().parent / "golden" / "release.json"
_FIXED = {"<masqué>": "2026-11-29T05:00:00Z", "<heure de collecte>": "2026-11-29T05:00:00Z"}


def golden_aids() -> pl.DataFrame:
    """The golden release's aids, typed, with stable UUIDs for their record keys."""
    rows = json.loads(GOLDEN.read_text(encoding="utf-8"))["aides.csv"]
    text = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("id").map_elements(lambda key: str(uuid.uuid5(uuid.NAMESPACE_URL, key)), return_dtype=pl.Utf8),
        *(pl.col(c).replace(_FIXED) for c in ("date_collecte", "date_mise_a_jour")),
    )
    text = text.with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in text.columns)
    return typed_frame(text).unique("id", keep="first").sort("id")


def write_release(paths: WarehousePaths, version: str, aides: pl.DataFrame, created: datetime) -> Path:
    """A release folder ``version`` holding ``aides``; ``exports/latest`` points to it."""
    releases = paths.exports_dir / "releases"
    previous = sorted(releases.glob("*/aides.parquet")) if releases.is_dir() else []
    folder = releases / version
    folder.mkdir(parents=True)
    aides.write_parquet(folder / "aides.parquet")
    pairs = (
        aides.select("id", "statut", pl.col("eligibilite_geographique").str.split("|").alias("code"))
        .explode("code")
        .filter(pl.col("code").str.starts_with("COM-"))
        .select(pl.col("code").str.slice(4).alias("commune"), pl.col("id").alias("aid_id"), "statut")
        .unique()
        .sort("commune", "aid_id")
    )
    pairs.write_parquet(folder / "aides-communes.parquet")
    before = pl.read_parquet(previous[-1]) if previous else None
    write_csv(compute_changes(before, aides), folder / "changements.csv")
    (folder / "datapackage.json").write_text(json.dumps({"version": version, "created": created.isoformat()}))
    latest = paths.exports_dir / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    os.symlink(Path("releases") / version, latest)
    return folder
