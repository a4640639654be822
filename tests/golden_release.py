"""A release built from the recorded fixtures, reduced to what must not change when code moves.

Every declared source is replayed (web and API sources from ``tests/fixtures/<name>/``,
the npm models at pinned versions), the catalogue is built for a fixed day and published at a
fixed time. Aid ids are random UUIDs, so each is replaced by the record keys that make up the
aid; the publication files are then kept row by row. ``tests/golden/release.json`` holds the
reference; regenerate it (only when a change of behaviour is intended) with

    .venv/bin/python -m tests.golden_release --write
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden" / "release.json"
TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 6, 0, tzinfo=ZoneInfo("Europe/Paris"))
# The npm models at the versions the reference was built with.
NPM_PINS = {
    "@betagouv/aides-velo": (
        "3.6.1",
        "sha512-tAiBPcvIOs6c99Kf1WEZE3B+qlRcVPJ7Mlyv7HCH/BHUwR3Xr6fTyMs/L/lln6tR5Nn/J4BBDV1LchMF/+s6lg==",
    ),
    "mesaidesreno": (
        "2.3.1",
        "sha512-kA5j4ykNP+ZVwgwESbSJtpyiL+IzZBsQbjlorWq3L/UQ5O7FIUFsX7Foa+tPhBqXKcH/hToN6KVXXO3LckbrdA==",
    ),
}
# Filled from the time of the fetch, not from the sources.
_MASKED = ("date_collecte", "derniere_collecte")
# Filled from the time of the fetch when a source gives no date of its own.
_FETCH_TIMES = ("date_mise_a_jour",)


def build(tmp: Path, referential_package) -> dict:  # noqa: ANN001 - an npm.NpmPackage
    """Ingest every source, build, publish; return the release reduced to comparable rows."""
    import os

    from sources.base import CollectContext
    from sources.fetch import FetchPolicy, ReplayTransport, SnapshotStore
    from sources.ingest import ingest
    from sources.registry import load_specs
    from warehouse.db import connect_writer
    from warehouse.ingestion import previous_digest, store_outcome
    from warehouse.normalise.catalogue import build_catalogue
    from warehouse.normalise.geography import GeoResolver
    from warehouse.publication.release import publish_release
    from warehouse.referential import load_referential
    from warehouse.settings import WarehousePaths

    paths = WarehousePaths(tmp / "warehouse")
    started = datetime.now(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S")
    saved = {k: os.environ.get(k) for k in ("AIDES_WAREHOUSE_DIR", "MANCHE_API_USERNAME", "MANCHE_API_PASSWORD")}
    os.environ.update(AIDES_WAREHOUSE_DIR=str(paths.root), MANCHE_API_USERNAME="t", MANCHE_API_PASSWORD="t")
    try:
        specs = load_specs()
        with connect_writer(paths) as conn:
            load_referential(conn, referential_package)
        for spec in specs:
            folder = FIXTURES / spec.name
            transport = ReplayTransport.from_folder(folder) if (folder / "index.json").exists() else None
            ctx = CollectContext(
                SnapshotStore(tmp / "snap"),
                tmp / "npm",
                FetchPolicy(user_agent="t", min_interval_s=0),
                transport=transport,
                npm_pins=NPM_PINS,
            )
            with connect_writer(paths) as conn:
                store_outcome(conn, ingest(spec, ctx, previous_digest(conn, spec.name)), "test")
        with connect_writer(paths) as conn:
            build_catalogue(conn, specs, TODAY)
            keys = dict(
                conn.execute(
                    "SELECT aid_id::VARCHAR, string_agg(record_key, ' + ' ORDER BY record_key) "
                    "FROM aides_provenance GROUP BY ALL"
                ).fetchall()
            )
            result = publish_release(conn, paths, GeoResolver.from_warehouse(conn), now=NOW)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert result.path is not None
    return reduce_release(result.path, keys, started)


def _rows(path: Path, keys: dict[str, str], started: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    for row in rows:
        for name in ("id", "aide_id", "aid_id"):
            if name in row:
                row[name] = keys.get(row[name], row[name])
        for name in _MASKED:
            if name in row:
                row[name] = "<masqué>"
        for name in _FETCH_TIMES:
            if row.get(name, "") >= started:
                row[name] = "<heure de collecte>"
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False))


def reduce_release(folder: Path, keys: dict[str, str], started: str) -> dict:
    communes = pl.read_parquet(folder / "aides-communes.parquet")
    by_aid: dict[str, list[str]] = {}
    for aid, commune, statut in communes.select("aid_id", "commune", "statut").iter_rows():
        by_aid.setdefault(keys.get(aid, aid), []).append(f"{commune}:{statut}")
    digests = {
        aid: f"{len(pairs)} {hashlib.sha256(' '.join(sorted(pairs)).encode()).hexdigest()[:16]}"
        for aid, pairs in sorted(by_aid.items())
    }
    coverage = _rows(folder / "couverture.csv", keys, started)
    levels: dict[str, list[int]] = {}
    for row in coverage:
        counts = levels.setdefault(row["niveau"], [0, 0])
        counts[0] += 1
        counts[1] += row["a_des_aides_propres"] == "true"
    return {
        "aides.csv": _rows(folder / "aides.csv", keys, started),
        "dispositif-aide.csv": _rows(folder / "dispositif-aide.csv", keys, started),
        "changements.csv": _rows(folder / "changements.csv", keys, started),
        "provenance.csv": _rows(folder / "provenance.csv", keys, started),
        # every territory is listed; only the rows with own aids are kept whole, to stay readable
        "couverture.csv": [row for row in coverage if row["a_des_aides_propres"] == "true"],
        "couverture.csv par niveau": {
            level: f"{n} territoires, {own} avec aides propres" for level, (n, own) in levels.items()
        },
        "aides-communes.parquet": {"colonnes": communes.columns, "communes_par_aide": digests},
    }


def main() -> None:
    import tempfile

    from sources import npm
    from sources.packages import referential_pin

    with tempfile.TemporaryDirectory() as tmp:
        pin = referential_pin()
        package = npm.fetch(pin.name, pin.version, pin.integrity, Path(tmp) / "npm-cache")
        reduced = build(Path(tmp), package)
    if "--write" in sys.argv:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(reduced, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"écrit {GOLDEN} ({len(reduced['aides.csv'])} aides)")
    else:
        print(json.dumps({k: len(v) for k, v in reduced.items()}))


if __name__ == "__main__":
    main()
