"""Publish the catalogue as a release: versioned, validated, swapped in atomically.

    exports/
      releases/2026-11-29.1/   aides.csv, aides.parquet, dispositif-aide.csv,
      releases/2026-11-29.2/   aides-communes.parquet, aides-zones.parquet, communes-zones.parquet,
                               changements.csv, provenance.csv, couverture.csv, CHANGELOG.md,
                               README.md, datapackage.json
      latest -> releases/2026-11-29.2

Why it is built this way:

- **Only changes are published.** The new rows of ``aides.parquet`` are compared with the
  previous release's ``aides.parquet`` (same ids, same values in every field, same columns and
  types; row order ignored), and its ``provenance.csv`` and ``couverture.csv`` with the new ones.
  Nothing changed: no release, ``published=False``. Any change — including ``date_collecte``, or
  a collectivité's review that changes its coverage row — publishes one.
- **Versions** are ``<date in Paris>.<n>``: ``2026-11-29.1``, then ``2026-11-29.2`` for a
  second release the same day. Ordered by (date, n), never by text.
- **Atomic.** Every file is written in ``exports/.building-<version>/``, then validated
  (blocking): the project's validator on the whole ``datapackage.json`` (:func:`check_package`,
  :mod:`schemas.datapackage`: frictionless's rules — schemas, bytes, sha256, row counts of the
  CSV files, footers of the Parquet files — checked in DuckDB) and our own checks of the Parquet
  files against the CSV (same columns, types, rows and ids; every pair of
  ``aides-communes.parquet`` names a published aid and a current commune; ``aides-zones.parquet``
  names every published aid and only them, ``communes-zones.parquet`` only current communes;
  ``dispositif-aide.csv`` holds every aid but the ones left out, and no ``EPCI-…`` code). When
  ``AIDES_PUBLIC_URL`` is set, the package names its files by their public addresses; it is
  validated with those addresses mapped back to the folder's files (:func:`check_package`,
  :func:`validate_package`), never over the network. Only then is the folder renamed into
  ``releases/<version>`` and ``latest`` re-pointed: a new relative symlink is made under a
  temporary name and ``os.replace``-d over ``latest`` (one ``rename(2)``, so a reader sees the
  old or the new release, never none). On any failure the temporary folder is removed, the
  previous release and ``latest`` stay as they were, and :class:`ReleaseError` says in
  French which file failed and why.
- **The project's validator gates the swap; frictionless checks every published release.** Both
  apply the same Table Schema rules with the same verdicts (``tests/test_validator_differential.py``
  corrupts releases in generated ways and compares their errors one by one), but frictionless reads
  row by row in Python (16,000 rows/s at 100,000 records, 38 % of the end-to-end time) and the
  project's validator in DuckDB, about ten times faster (150,000 to 180,000 rows/s at 20,000
  records on the shared 2-core machine, 9 to 12 times frictionless): it decides whether a
  release is swapped in. frictionless, the consumers' own tool, then validates each published
  release in the blocking asset check ``publication_valide`` (``pipelines/defs/publication/assets.py``,
  its verdict kept per release, :func:`validate_package` here): a second implementation, and the
  verdict consumers will get. A release frictionless refuses after the gate let it through stops
  what depends on it, and is a difference between the validators to add to the differential test.
- **No sudden collapse.** A catalogue with no published aid is never published, and one that
  lost more than ``max_drop`` (default half) of the previous release's aids is held back:
  :class:`PublicationHeld` names both counts, the hold is recorded in ``publication_holds``
  and ``aides acknowledge publication`` lets the next run publish it. (Each source's own
  drops are held earlier, in :mod:`warehouse.ingestion`; this gate catches the rest.)
- **One publisher at a time**: a file lock (``exports/.publication.lock``) is held for the
  whole publication, so a leftover ``.building-*`` folder (a killed run) can safely be
  removed by the next one.

What goes in each file is in :mod:`warehouse.publication.release_files`. No Dagster here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import frictionless
import polars as pl

from schemas import OFFICIAL_FIELDS, field_names
from schemas.datapackage import PackageReport
from schemas.datapackage import validate_package as validate_datapackage
from warehouse.locks import LockTimeout, exclusive_lock
from warehouse.normalise.geography import GeoResolver
from warehouse.publication import release_files as rf
from warehouse.publication.coverage import coverage_frame, coverage_schema
from warehouse.referential import loaded_version
from warehouse.settings import WarehousePaths, public_url

PARIS = ZoneInfo("Europe/Paris")
RELEASES = "releases"
LATEST = "latest"
_BUILDING_PREFIX = ".building-"
_LATEST_TMP_PREFIX = ".latest-"
_LOCK_NAME = ".publication.lock"
_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(\d+)$")
_ERRORS_SHOWN = 10


class ReleaseError(RuntimeError):
    """A release could not be built or validated; the previous one is untouched."""


class PublicationHeld(ReleaseError):
    """The catalogue lost too many aids at once: held back until acknowledged."""


DEFAULT_MAX_DROP = 0.5


@dataclass
class ReleaseResult:
    published: bool  # False when the content did not change (no new release)
    version: str | None  # e.g. "2026-11-29.1"
    path: Path | None  # exports/releases/<version>/
    counts: dict[str, int] = field(default_factory=dict)  # rows per resource
    changes: dict[str, int] = field(default_factory=dict)  # ajoutée / modifiée / supprimée
    excluded_from_dispositif_aide: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)


# --------------------------------------------------------------------------- releases on disk


def version_key(version: str) -> tuple[str, int]:
    match = _VERSION.match(version)
    if not match:
        raise ValueError(f"version de publication invalide : {version!r}")
    return match.group(1), int(match.group(2))


def list_releases(exports: Path) -> list[str]:
    """The complete releases, oldest first."""
    folder = exports / RELEASES
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    return sorted(names, key=version_key)


def next_version(exports: Path, now: datetime) -> str:
    """``<date in Paris>.<n>``, n one more than the day's last release."""
    day = now.astimezone(PARIS).date().isoformat()
    used = [version_key(v)[1] for v in list_releases(exports) if version_key(v)[0] == day]
    return f"{day}.{max(used, default=0) + 1}"


def point_latest(exports: Path, version: str) -> None:
    """Make ``exports/latest`` a relative symlink to ``releases/<version>``, atomically."""
    temporary = exports / f"{_LATEST_TMP_PREFIX}{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(Path(RELEASES) / version, temporary)
    try:
        os.replace(temporary, exports / LATEST)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def _publication_lock(exports: Path, timeout_s: float = 600.0) -> Iterator[None]:
    try:
        with exclusive_lock(exports / _LOCK_NAME, timeout_s):
            yield
    except LockTimeout:
        raise ReleaseError(
            f"Une autre publication est en cours dans {exports} ; abandon après {timeout_s:.0f} s d'attente."
        ) from None


def _remove_leftovers(exports: Path) -> None:
    """Temporary folders and links of an interrupted publication (we hold the lock)."""
    for entry in exports.iterdir():
        if entry.name.startswith(_BUILDING_PREFIX) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.name.startswith(_LATEST_TMP_PREFIX) and entry.is_symlink():
            entry.unlink()


# --------------------------------------------------------------------------- publish


def publish_release(
    conn: duckdb.DuckDBPyConnection,
    paths: WarehousePaths,
    resolver: GeoResolver,
    now: datetime | None = None,
    sources: list[dict] | None = None,
    max_drop: float = DEFAULT_MAX_DROP,
) -> ReleaseResult:
    """Publish the catalogue's published aids as a new release if their content changed.

    ``sources``: the catalogue's source declarations (dicts with ``name``, ``title`` or
    ``publisher``, ``path`` or ``homepage``), for the package's ``sources`` and the notes.
    ``now`` must be time-zone aware (default: the current time).
    """
    now = now or datetime.now(PARIS)
    if now.tzinfo is None:
        raise ValueError("publish_release : `now` doit porter un fuseau horaire")
    try:
        base_url = public_url()  # checked before anything is written
    except ValueError as exc:
        raise ReleaseError(f"Publication refusée : {exc}") from None
    exports = paths.exports_dir
    with _publication_lock(exports):
        _remove_leftovers(exports)
        (exports / RELEASES).mkdir(exist_ok=True)
        text = rf.catalogue_frame(conn)
        try:
            typed = rf.typed_frame(text)
        except Exception as exc:  # a cell published_frame wrote in an unexpected form
            raise ReleaseError(f"{rf.AIDES_PARQUET} : une valeur ne peut pas être typée ({exc})") from exc
        releases = list_releases(exports)
        previous_version = releases[-1] if releases else None
        previous = _read_previous(exports, previous_version)
        provenance = rf.neutralise_formulas(rf.provenance_frame(conn, text), rf.provenance_schema())
        coverage = rf.neutralise_formulas(coverage_frame(conn, resolver.organisations), coverage_schema())
        if (
            previous is not None
            and previous_version is not None
            and rf.same_content(previous, typed)
            and _same_csv(exports, previous_version, rf.PROVENANCE_CSV, provenance)
            and _same_csv(exports, previous_version, rf.COVERAGE_CSV, coverage)
        ):
            if not (exports / LATEST).resolve() == (exports / RELEASES / previous_version).resolve():
                point_latest(exports, previous_version)  # repair a missing or stale link
            return ReleaseResult(False, None, None, {"aides": typed.height}, dict.fromkeys(rf.CHANGE_KINDS, 0), [])
        _guard_collapse(conn, typed.height, previous_version, previous, max_drop)
        version = next_version(exports, now)
        building = exports / f"{_BUILDING_PREFIX}{version}"
        target = exports / RELEASES / version
        step = _Step()
        try:
            building.mkdir()
            result = _write_files(
                conn,
                building,
                version,
                now,
                text,
                typed,
                provenance,
                previous,
                previous_version,
                resolver,
                sources,
                step,
                base_url,
                coverage,
            )
            step.current = "validation"
            validate_release(conn, building, text, typed, result)
            step.current = f"renommage en {target}"
            os.rename(building, target)
            step.current = f"mise à jour du lien {LATEST}"
            try:
                point_latest(exports, version)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
        except ReleaseError:
            shutil.rmtree(building, ignore_errors=True)
            raise
        except Exception as exc:
            shutil.rmtree(building, ignore_errors=True)
            raise ReleaseError(f"Publication {version} abandonnée ({step.current}) : {exc}") from exc
        result.path = target
        return result


def _guard_collapse(
    conn: duckdb.DuckDBPyConnection,
    count: int,
    previous_version: str | None,
    previous: pl.DataFrame | None,
    max_drop: float,
) -> None:
    """Refuse an empty catalogue; hold back one that lost more than ``max_drop`` of its aids."""
    if count == 0:
        raise ReleaseError(
            "Publication refusée : le catalogue ne contient aucune aide publiable "
            "(référentiel ou sources absents ?) ; la publication précédente reste en ligne."
        )
    if previous is None or previous_version is None or count >= previous.height * (1 - max_drop):
        return
    rows = conn.execute(
        "SELECT acknowledged_at IS NOT NULL FROM publication_holds WHERE previous_version = ? AND new_aides = ?",
        [previous_version, count],
    ).fetchall()
    row = rows[0] if rows else None
    if row and row[0]:
        return
    if row is None:
        conn.execute(
            "INSERT INTO publication_holds VALUES (?, ?, ?, now(), NULL, NULL)",
            [previous_version, previous.height, count],
        ).fetchall()
    raise PublicationHeld(
        f"Publication retenue : {count} aides publiables au lieu de {previous.height} dans {previous_version} "
        f"(baisse de plus de {max_drop:.0%}) ; la publication {previous_version} reste en ligne. "
        "Si la baisse est voulue : `aides acknowledge publication`, puis relancer la publication."
    )


def acknowledge_publication_hold(conn: duckdb.DuckDBPyConnection, who: str) -> int:
    """Accept the held releases; the next publication goes ahead. Returns how many."""
    return len(
        conn.execute(
            "UPDATE publication_holds SET acknowledged_at = now(), acknowledged_by = ? "
            "WHERE acknowledged_at IS NULL RETURNING previous_version",
            [who],
        ).fetchall()
    )


def _same_csv(exports: Path, version: str, filename: str, frame: pl.DataFrame) -> bool:
    """The previous release's ``filename`` has the same rows as ``frame`` (false when it has no such
    file: it was published before the file existed). Used for provenance.csv (the same source
    records behind the aids) and couverture.csv (the same coverage)."""
    path = exports / RELEASES / version / filename
    try:
        previous = pl.read_csv(path, infer_schema=False)
    except Exception:  # absent or unreadable: publish a release that has it
        return False
    return previous.columns == frame.columns and previous.equals(frame.cast(pl.Utf8))


def _read_previous(exports: Path, version: str | None) -> pl.DataFrame | None:
    if version is None:
        return None
    path = exports / RELEASES / version / rf.AIDES_PARQUET
    try:
        return pl.read_parquet(path)
    except Exception:  # unreadable: the new release is compared with nothing, and says so
        return None


class _Step:
    """What the publication is doing, for the error message ("écriture de aides.csv"…)."""

    def __init__(self) -> None:
        self.current = "préparation"


def _write_files(
    conn: duckdb.DuckDBPyConnection,
    folder: Path,
    version: str,
    now: datetime,
    text: pl.DataFrame,
    typed: pl.DataFrame,
    provenance: pl.DataFrame,
    previous: pl.DataFrame | None,
    previous_version: str | None,
    resolver: GeoResolver,
    sources: list[dict] | None,
    step: _Step,
    base_url: str | None = None,
    coverage: pl.DataFrame | None = None,
) -> ReleaseResult:
    """Write every file of the release in ``folder``; ``step`` follows the file being written.

    ``provenance``: the source records behind each published aid, formulas neutralised;
    ``base_url``: the site's public address, for the paths of ``datapackage.json`` (None: file names);
    ``coverage``: the rows of couverture.csv, formulas neutralised (None: computed here)."""
    schema = rf.aides_schema()
    official_schema = rf.official_schema()

    step.current = f"écriture de {rf.AIDES_CSV}"
    written = rf.neutralise_formulas(text, schema)
    rf.write_csv(written, folder / rf.AIDES_CSV)

    step.current = f"écriture de {rf.AIDES_PARQUET}"
    typed.write_parquet(folder / rf.AIDES_PARQUET, compression="zstd")

    step.current = f"écriture de {rf.DISPOSITIF_CSV}"
    official = written.select(OFFICIAL_FIELDS)
    kept, excluded = rf.dispositif_frame(conn, official, resolver, official_schema)
    rf.write_csv(kept, folder / rf.DISPOSITIF_CSV)
    naming_epci = official.filter(
        pl.any_horizontal(pl.col(f).str.contains("EPCI-", literal=True) for f in rf.GEO_FIELDS)
    ).select("id")
    epci_written = kept.join(naming_epci, on="id", how="semi").height

    step.current = f"écriture de {rf.COMMUNES_PARQUET}"
    pairs = rf.write_communes_parquet(conn, text, folder / rf.COMMUNES_PARQUET)

    step.current = f"écriture de {rf.ZONES_PARQUET} et {rf.COMMUNE_ZONES_PARQUET}"
    zones, commune_zones = rf.write_zones_parquets(
        conn, text, folder / rf.ZONES_PARQUET, folder / rf.COMMUNE_ZONES_PARQUET
    )

    step.current = f"écriture de {rf.CHANGES_CSV}"
    changes = rf.compute_changes(previous, typed)
    rf.write_csv(changes, folder / rf.CHANGES_CSV)

    step.current = f"écriture de {rf.PROVENANCE_CSV}"
    rf.write_csv(provenance, folder / rf.PROVENANCE_CSV)

    step.current = f"écriture de {rf.REDIRECTS_CSV}"
    redirects = rf.redirects_frame(conn, typed.get_column("id"))
    rf.write_csv(redirects, folder / rf.REDIRECTS_CSV)

    step.current = f"écriture de {rf.COVERAGE_CSV}"
    if coverage is None:
        coverage = rf.neutralise_formulas(coverage_frame(conn, resolver.organisations), coverage_schema())
    rf.write_csv(coverage, folder / rf.COVERAGE_CSV)

    counts = {
        "aides": text.height,
        "aides-parquet": typed.height,
        "dispositif-aide": kept.height,
        "aides-communes": pairs,
        "aides-zones": zones,
        "communes-zones": commune_zones,
        "changements": changes.height,
        "provenance": provenance.height,
        "redirections": redirects.height,
        "couverture": coverage.height,
    }
    per_source = rf.source_counts(text)

    step.current = f"écriture de {rf.CHANGELOG_MD}"
    published_at = now.astimezone(PARIS).strftime("%Y-%m-%d à %H:%M")
    previous_label = previous_version
    if previous_version and previous is None:
        previous_label = (
            f"{previous_version} (son {rf.AIDES_PARQUET} est illisible : "
            "les changements sont comptés comme si elle était vide)"
        )
    notes = rf.changelog(
        version,
        published_at,
        previous_label,
        counts,
        changes,
        rf.titles_frame(text, previous),
        excluded,
        per_source,
        rf.source_titles(sources),
        epci_written,
    )
    (folder / rf.CHANGELOG_MD).write_text(notes, encoding="utf-8")
    step.current = f"écriture de {rf.README_MD}"
    referential = loaded_version(conn)
    readme = rf.readme(version, f"{referential[0]} {referential[1]}" if referential else None, base_url)
    (folder / rf.README_MD).write_text(readme, encoding="utf-8")

    step.current = f"écriture de {rf.DATAPACKAGE_JSON}"
    resources = [
        rf.csv_resource(folder, "aides", rf.AIDES_CSV, "Aides à la transition écologique (CSV)", schema, text.height),
        rf.csv_resource(
            folder,
            "dispositif-aide",
            rf.DISPOSITIF_CSV,
            "Aides au schéma dispositif-aide v0.2.0 d'Etalab",
            official_schema,
            kept.height,
        ),
        rf.parquet_resource(
            folder, "aides-communes", rf.COMMUNES_PARQUET, "Aides par commune", rf.communes_schema(), pairs
        ),
        rf.parquet_resource(
            folder,
            "aides-zones",
            rf.ZONES_PARQUET,
            "Codes géographiques de chaque aide (forme compacte de aides-communes)",
            rf.zones_schema(),
            zones,
            f"Une ligne par code de la couverture (exclusion fausse) ou des exclusions (exclusion vraie) de chaque "
            f"aide. Avec {rf.COMMUNE_ZONES_PARQUET} : les aides d'une commune sont celles dont un code de couverture "
            f"couvre la commune et aucun code d'exclusion, exactement les lignes de {rf.COMMUNES_PARQUET}.",
        ),
        rf.parquet_resource(
            folder,
            "communes-zones",
            rf.COMMUNE_ZONES_PARQUET,
            "Codes géographiques qui couvrent chaque commune",
            rf.commune_zones_schema(),
            commune_zones,
            "Pour chaque commune actuelle, les codes qui la couvrent : COM- elle-même, EPCI- son EPCI, DEP- son "
            "département, REG- sa région, PAYS-99100.",
        ),
        rf.parquet_resource(
            folder,
            "aides-parquet",
            rf.AIDES_PARQUET,
            "Aides à la transition écologique (Parquet)",
            schema,
            typed.height,
        ),
        rf.csv_resource(
            folder,
            "changements",
            rf.CHANGES_CSV,
            "Changements depuis la publication précédente",
            rf.changes_schema(),
            changes.height,
        ),
        rf.csv_resource(
            folder,
            "provenance",
            rf.PROVENANCE_CSV,
            "Enregistrements des sources derrière chaque aide publiée",
            rf.provenance_schema(),
            provenance.height,
        ),
        rf.csv_resource(
            folder,
            "redirections",
            rf.REDIRECTS_CSV,
            "Identifiants d'aides fusionnées, et l'aide publiée qui remplace chacune",
            rf.redirects_schema(),
            redirects.height,
        ),
        rf.csv_resource(
            folder,
            "couverture",
            rf.COVERAGE_CSV,
            "Couverture du catalogue : aides propres et relecture de chaque collectivité",
            coverage_schema(),
            coverage.height,
        ),
    ]
    created = now.astimezone(PARIS).isoformat(timespec="seconds")
    package = rf.datapackage(version, created, rf.package_sources(sources, per_source), resources, base_url)
    rf.write_json(package, folder / rf.DATAPACKAGE_JSON)

    return ReleaseResult(
        published=True,
        version=version,
        path=None,
        counts=counts,
        changes=rf.change_counts(changes),
        excluded_from_dispositif_aide=list(excluded.iter_rows()),
    )


# --------------------------------------------------------------------------- validation


def validate_release(
    conn: duckdb.DuckDBPyConnection, folder: Path, text: pl.DataFrame, typed: pl.DataFrame, result: ReleaseResult
) -> None:
    """Blocking checks of a built release folder; raises ReleaseError naming the file."""
    _check_package(folder)
    _check_aides_parquet(folder, typed)
    _check_dispositif(folder, text, result)
    _check_communes(conn, folder, text, result.counts["aides-communes"])
    _check_zones(conn, folder, text, result.counts["aides-zones"], result.counts["communes-zones"])
    _check_provenance(folder, text)


def _check_provenance(folder: Path, text: pl.DataFrame) -> None:
    """Every published aid is traced to at least one source record, and only published aids are."""
    traced = pl.read_csv(folder / rf.PROVENANCE_CSV, infer_schema=False).get_column("aid_id")
    published = set(text.get_column("id").to_list())
    untraced = published - set(traced.to_list())
    unknown = set(traced.to_list()) - published
    if untraced or unknown:
        raise ReleaseError(
            f"{rf.PROVENANCE_CSV} : {len(untraced)} aide(s) publiée(s) sans enregistrement source "
            f"({', '.join(sorted(untraced)[:3])}), {len(unknown)} identifiant(s) absent(s) de {rf.AIDES_CSV} "
            f"({', '.join(sorted(unknown)[:3])})"
        )


def validate_package(folder: Path) -> frictionless.Report:
    """frictionless's report on a release folder's ``datapackage.json``: every resource checked
    (schema, bytes, sha256, rows of the CSV files) against the folder's files, public addresses
    included (:func:`release_files.local_package`: no network). Not the gate (:func:`check_package`
    is): the second opinion on each published release, in the ``publication_valide`` asset check."""
    descriptor = folder / rf.DATAPACKAGE_JSON
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    if not any("://" in str(r.get("path", "")) for r in package.get("resources", [])):
        return frictionless.validate(str(descriptor))
    return frictionless.validate(rf.local_package(package, folder), basepath=str(folder))


def check_package(folder: Path) -> PackageReport:
    """The project's validator on a release folder's ``datapackage.json`` (:mod:`schemas.datapackage`):
    every resource against the folder's files, public addresses included (no network)."""
    package = json.loads((folder / rf.DATAPACKAGE_JSON).read_text(encoding="utf-8"))
    return validate_datapackage(folder, rf.local_package(package, folder), limit=_ERRORS_SHOWN)


def _check_package(folder: Path) -> None:
    """The gate: the release is swapped in only if the project's validator finds nothing."""
    try:
        report = check_package(folder)
    except ValueError as exc:
        raise ReleaseError(f"Publication refusée : {rf.DATAPACKAGE_JSON} : {exc}") from exc
    if report.valid:
        return
    problems = [f"{error.resource or rf.DATAPACKAGE_JSON} : {error.message}" for error in report.errors]
    shown = "\n  - ".join(problems[:_ERRORS_SHOWN])
    more = f"\n  … et {report.total - len(problems[:_ERRORS_SHOWN])} autre(s)" if report.total > _ERRORS_SHOWN else ""
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.counts.items()))
    raise ReleaseError(
        f"Publication refusée : le validateur du projet signale {report.total} erreur(s) ({kinds}) :\n  - {shown}{more}"
    )


def _check_aides_parquet(folder: Path, typed: pl.DataFrame) -> None:
    parquet = pl.read_parquet(folder / rf.AIDES_PARQUET)
    names = field_names()
    if parquet.columns != names:
        raise ReleaseError(f"{rf.AIDES_PARQUET} : colonnes {parquet.columns} au lieu de celles du schéma {names}")
    expected = rf.expected_parquet_types()
    wrong = [f"{n} ({parquet.schema[n]} au lieu de {expected[n]})" for n in names if parquet.schema[n] != expected[n]]
    if wrong:
        raise ReleaseError(f"{rf.AIDES_PARQUET} : types inattendus : {', '.join(wrong)}")
    if not parquet.equals(typed):
        raise ReleaseError(f"{rf.AIDES_PARQUET} : le fichier relu diffère des lignes à publier")
    csv = rf.read_csv_text(folder / rf.AIDES_CSV)
    if csv.columns != names:
        raise ReleaseError(f"{rf.AIDES_CSV} : en-tête {csv.columns} au lieu des champs du schéma {names}")
    as_csv = rf.neutralise_formulas(rf.text_of_typed(parquet))
    if as_csv.height != csv.height:
        raise ReleaseError(f"{rf.AIDES_PARQUET} : {as_csv.height} lignes, {rf.AIDES_CSV} : {csv.height} lignes")
    if not as_csv.equals(csv):
        differing = [n for n in names if not as_csv.get_column(n).equals(csv.get_column(n))]
        column = differing[0] if differing else names[0]
        mask = ~as_csv.get_column(column).eq_missing(csv.get_column(column))
        row = int(mask.arg_true()[0]) if mask.any() else 0
        raise ReleaseError(
            f"{rf.AIDES_PARQUET} et {rf.AIDES_CSV} diffèrent (colonnes {', '.join(differing)}) ; première différence "
            f"ligne {row + 2} du CSV, id {csv.get_column('id')[row]}, champ {column} : "
            f"{as_csv.get_column(column)[row]!r} ≠ {csv.get_column(column)[row]!r}"
        )


def _check_dispositif(folder: Path, text: pl.DataFrame, result: ReleaseResult) -> None:
    csv = rf.read_csv_text(folder / rf.DISPOSITIF_CSV)
    if tuple(csv.columns) != OFFICIAL_FIELDS:
        raise ReleaseError(f"{rf.DISPOSITIF_CSV} : en-tête {csv.columns} au lieu des 15 champs officiels")
    excluded = {aid for aid, _reason in result.excluded_from_dispositif_aide}
    expected = set(text.get_column("id").to_list()) - excluded
    found = set(csv.get_column("id").to_list())
    if found != expected:
        extra, missing = sorted(found - expected), sorted(expected - found)
        raise ReleaseError(f"{rf.DISPOSITIF_CSV} : identifiants inattendus {extra[:5]}, manquants {missing[:5]}")
    epci = csv.filter(pl.any_horizontal(pl.col(f).str.contains("EPCI-", literal=True) for f in rf.GEO_FIELDS))
    if epci.height:
        raise ReleaseError(
            f"{rf.DISPOSITIF_CSV} : {epci.height} ligne(s) gardent un code EPCI au lieu de ses communes "
            f"({', '.join(epci.get_column('id').head(3).to_list())})"
        )


def _check_zones(
    conn: duckdb.DuckDBPyConnection, folder: Path, text: pl.DataFrame, zones_rows: int, commune_rows: int
) -> None:
    """aides-zones.parquet names every published aid (with a code of its coverage) and only them;
    communes-zones.parquet names only current communes; both have their columns and row counts."""
    files = (
        (rf.ZONES_PARQUET, rf.zones_schema(), zones_rows),
        (rf.COMMUNE_ZONES_PARQUET, rf.commune_zones_schema(), commune_rows),
    )
    frames = {}
    for name, schema, rows in files:
        frame = frames[name] = pl.read_parquet(folder / name)
        wanted = {f["name"]: pl.Boolean if f["type"] == "boolean" else pl.String for f in schema["fields"]}
        if dict(frame.schema) != wanted:
            raise ReleaseError(f"{name} : colonnes {dict(frame.schema)} au lieu de {wanted}")
        if frame.height != rows:
            raise ReleaseError(f"{name} : {frame.height} lignes relues au lieu de {rows}")
    zones = frames[rf.ZONES_PARQUET]
    published = set(text.get_column("id").to_list())
    covered = set(zones.filter(~pl.col("exclusion")).get_column("aid_id").to_list())
    unknown = set(zones.get_column("aid_id").to_list()) - published
    if covered != published or unknown:
        missing = sorted(published - covered)
        raise ReleaseError(
            f"{rf.ZONES_PARQUET} : {len(missing)} aide(s) publiée(s) sans code de couverture ({', '.join(missing[:3])}), "
            f"{len(unknown)} identifiant(s) absent(s) de {rf.AIDES_CSV} ({', '.join(sorted(unknown)[:3])})"
        )
    name = "_release_commune_zones"
    conn.register(name, frames[rf.COMMUNE_ZONES_PARQUET].select("commune"))
    try:
        (unknown_communes,) = conn.execute(
            f"SELECT count(*) FROM {name} WHERE commune NOT IN (SELECT code FROM ref_communes)"
        ).fetchall()[0]
    finally:
        conn.unregister(name)
    if unknown_communes:
        raise ReleaseError(
            f"{rf.COMMUNE_ZONES_PARQUET} : {unknown_communes} ligne(s) de commune inconnue du référentiel"
        )


def _check_communes(conn: duckdb.DuckDBPyConnection, folder: Path, text: pl.DataFrame, rows: int) -> None:
    path = str(folder / rf.COMMUNES_PARQUET).replace("'", "''")
    columns = conn.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    found = [(c[0], c[1]) for c in columns]
    wanted = [(name, "VARCHAR") for name in rf.COMMUNES_COLUMNS]
    if found != wanted:
        raise ReleaseError(f"{rf.COMMUNES_PARQUET} : colonnes {found} au lieu de {wanted}")
    name = "_release_ids"
    conn.register(name, text.select("id"))
    try:
        total, unknown_aids, unknown_communes = conn.execute(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE p.aid_id NOT IN (SELECT id FROM {name})),
                   count(*) FILTER (WHERE p.commune NOT IN (SELECT code FROM ref_communes))
            FROM read_parquet('{path}') p
            """
        ).fetchall()[0]
    finally:
        conn.unregister(name)
    if total != rows:
        raise ReleaseError(f"{rf.COMMUNES_PARQUET} : {total} lignes relues au lieu de {rows}")
    if unknown_aids or unknown_communes:
        raise ReleaseError(
            f"{rf.COMMUNES_PARQUET} : {unknown_aids} ligne(s) d'aide non publiée, "
            f"{unknown_communes} ligne(s) de commune inconnue du référentiel"
        )
