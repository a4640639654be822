"""What the public API serves: one published release, held whole in memory, swapped atomically.

The API never reads the warehouse being written: it reads the release folders under
``exports/releases/`` (``aides.parquet``, ``aides-communes.parquet``, ``changements.csv``,
``datapackage.json``). A :class:`ReleaseSnapshot` is everything one release answers with
(its aids, their lists and porteurs decoded for filtering, the commune index, the text index);
:class:`ReleaseStore` notices a new ``exports/latest`` on the next request, builds the new
snapshot while the current one keeps answering, then swaps one reference. A request takes the
snapshot once and uses only it: it never sees half of two releases.

The territory referential (names, postal codes, the communes of an EPCI, a département or a
région) is read once from the warehouse (``WarehouseAccess.resolver``) and kept: it changes with
the COG, not with releases; when the warehouse is busy being written, the one held is used.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import polars as pl

from schemas import MULTI_VALUE_SEPARATOR, published_fields
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.lookup import OPEN_STATUSES, CatalogueIndex
from warehouse.publication.release import list_releases
from warehouse.publication.release_files import compute_changes
from warehouse.settings import WarehousePaths
from webapp.api.search import SearchIndex

LOG = logging.getLogger("webapp.api")
MULTI = tuple(f.name for f in published_fields() if f.multi_valued)
DATETIMES = tuple(f.name for f in published_fields() if f.type == "datetime")
REMOVED = "supprimée"


def _created(folder: Path) -> datetime:
    """When the release was published: its datapackage's ``created``, else the folder's time."""
    try:
        created = json.loads((folder / "datapackage.json").read_text(encoding="utf-8")).get("created")
        if created:
            return datetime.fromisoformat(created).astimezone(UTC).replace(microsecond=0)
    except (OSError, ValueError, AttributeError):
        pass
    return datetime.fromtimestamp(folder.stat().st_mtime, UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Publication:
    version: str
    folder: Path
    created: datetime


def publications(paths: WarehousePaths) -> list[Publication]:
    """Every complete release, oldest first."""
    exports = paths.exports_dir
    found = []
    for version in list_releases(exports):
        folder = exports / "releases" / version
        if (folder / "aides.parquet").is_file():
            found.append(Publication(version, folder, _created(folder)))
    return found


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(MULTI_VALUE_SEPARATOR) if part]


def aid_json(row: dict[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
    """An aid of ``aides.parquet`` as the API answers it: the schema's field names, lists as
    arrays, porteurs as objects, dates as ISO 8601 in UTC; only ``fields`` when given."""
    out: dict[str, Any] = {}
    for name in fields or [f.name for f in published_fields()]:
        value = row.get(name)
        if name == "porteurs":
            out[name] = json.loads(value) if value else []
        elif name in MULTI:
            out[name] = _split(value)
        else:
            out[name] = _json_value(value)
    return out


@dataclass
class History:
    """What earlier releases say of ids that are no longer published."""

    removed: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # id → (version, date) of removal
    redirects: dict[str, str] = field(default_factory=dict)  # merged id → surviving id

    @classmethod
    def read(cls, releases: list[Publication]) -> History:
        history = cls()
        for publication in releases:
            changes = publication.folder / "changements.csv"
            if changes.is_file():
                frame = pl.read_csv(changes, infer_schema_length=0)
                for aid_id in frame.filter(pl.col("changement") == REMOVED)["id"].to_list():
                    history.removed[aid_id] = (publication.version, publication.created)
            redirects = publication.folder / "redirections.csv"
            if redirects.is_file():
                frame = pl.read_csv(redirects, infer_schema_length=0)
                history.redirects.update(dict(zip(frame["ancien_id"], frame["id"], strict=True)))
        return history


class ReleaseSnapshot:
    """One release, ready to answer: aids by id, filters, communes, text search, changes since."""

    def __init__(self, publication: Publication, earlier: list[Publication]) -> None:
        self.publication = publication
        self.version = publication.version
        self.created = publication.created
        self.etag = f'W/"{publication.version}"'
        self.last_modified = format_datetime(publication.created, usegmt=True)
        aides = pl.read_parquet(publication.folder / "aides.parquet")
        self.aides = aides.unique("id", keep="last").sort("id")
        self.position = {aid_id: i for i, aid_id in enumerate(self.aides["id"].to_list())}
        self.lists = self.aides.select(
            "id",
            *(pl.col(name).fill_null("").str.split(MULTI_VALUE_SEPARATOR).alias(name) for name in MULTI),
            _porteur_keys().alias("porteurs"),
        )
        # What every list request filters and sorts on, computed once: the aids with their lists
        # (``_<field>``), their position, whether open, and their rank in (titre, id) order.
        ranked = self.aides.select("id", "titre").with_row_index("_pos").sort("titre", "id", nulls_last=True)
        self.base = (
            self.aides.with_row_index("_pos")
            .join(self.lists.rename(lambda c: c if c == "id" else f"_{c}"), on="id", maintain_order="left")
            .join(ranked.with_row_index("_rang").select("_pos", "_rang"), on="_pos", maintain_order="left")
            .with_columns(pl.col("statut").is_in(list(OPEN_STATUSES)).alias("_ouverte"))
        )
        self.index = CatalogueIndex(publication.folder)
        self.search = SearchIndex(self.aides)
        self.history = History.read([*earlier, publication])
        self.earlier = {p.version: p for p in earlier}
        self._changes: OrderedDict[str, pl.DataFrame] = OrderedDict()
        self._territories: OrderedDict[str, pl.Series] = OrderedDict()
        self._lock = threading.Lock()

    def rows_at(self, positions: pl.Series) -> list[dict[str, Any]]:
        """The aids at these positions, in this order, as dicts."""
        return self.aides[positions.cast(pl.UInt32)].to_dicts() if positions.len() else []

    def row(self, aid_id: str) -> dict[str, Any] | None:
        position = self.position.get(aid_id)
        return None if position is None else self.aides.row(position, named=True)

    def territory_ids(self, key: str, communes: list[str]) -> pl.Series:
        """Ids of the aids that apply in at least one of ``communes`` (cached per territory)."""
        with self._lock:
            found = self._territories.get(key)
        if found is None:
            found = self.index.covering_ids(communes)
            with self._lock:
                self._territories[key] = found
                while len(self._territories) > 256:
                    self._territories.popitem(last=False)
        return found

    def changes_since(self, version: str) -> pl.DataFrame:
        """(id, changement, champs) from release ``version`` to this one; ``""``: from nothing."""
        with self._lock:
            cached = self._changes.get(version)
        if cached is not None:
            return cached
        if version == self.version:
            changes = _no_changes()
        else:
            previous = pl.read_parquet(self.earlier[version].folder / "aides.parquet") if version else None
            changes = compute_changes(previous, self.aides)
        with self._lock:
            self._changes[version] = changes
            while len(self._changes) > 16:
                self._changes.popitem(last=False)
        return changes


def _no_changes() -> pl.DataFrame:
    return pl.DataFrame(schema={"id": pl.String, "changement": pl.String, "champs": pl.String})


def _porteur_keys() -> pl.Expr:
    """Each aid's porteurs as SIRENs and lower-cased names, for the ``porteur`` filter."""
    actor = pl.Struct({"nom": pl.Utf8, "siren": pl.Utf8, "roles": pl.List(pl.Utf8)})
    decoded = pl.col("porteurs").str.json_decode(pl.List(actor))
    return pl.concat_list(
        decoded.list.eval(pl.element().struct.field("siren")).list.drop_nulls(),
        decoded.list.eval(pl.element().struct.field("nom").str.to_lowercase()),
    )


class ReleaseStore:
    """The snapshot of the latest release, replaced when a newer one is published."""

    def __init__(self, paths: WarehousePaths, access: Any) -> None:
        self.paths = paths
        self.access = access  # webapp.queries.WarehouseAccess: the referential
        self._snapshot: ReleaseSnapshot | None = None
        self._loading = threading.Lock()
        self._resolver: GeoResolver | None = None
        self._territories: Any = None

    def _latest_version(self) -> str | None:
        """The version ``exports/latest`` points to (one readlink, no listing), else None."""
        link = self.paths.exports_dir / "latest"
        try:
            return link.resolve(strict=True).name
        except OSError:
            return None

    def current(self) -> ReleaseSnapshot | None:
        """The snapshot to answer this request with (built at the first call, swapped when a newer
        release is found; while a newer one is built, other requests keep the current one)."""
        snapshot = self._snapshot
        if snapshot is not None and snapshot.version == self._latest_version():
            return snapshot
        releases = publications(self.paths)
        if not releases:
            return None
        newest = releases[-1]
        if snapshot is not None and snapshot.version == newest.version:
            return snapshot
        if snapshot is not None and not self._loading.acquire(blocking=False):
            return snapshot  # another request is building the new one
        if snapshot is None:
            self._loading.acquire()
        try:
            if self._snapshot is None or self._snapshot.version != newest.version:
                LOG.info("API : publication %s chargée", newest.version)
                self._snapshot = ReleaseSnapshot(newest, releases[:-1])
            return self._snapshot
        finally:
            self._loading.release()

    def territory_index(self) -> Any:
        """Names people type → territories (webapp/territory_search.py): loaded once like the
        resolver, kept when the warehouse is busy; None until it could be read."""
        if self._territories is None:
            try:
                with self.access.reader(timeout_s=5.0) as conn:
                    self._territories = self.access.territory_index(conn)
            except Exception:  # noqa: BLE001 - the resolver's exact answers still serve
                LOG.warning("API : index des noms de territoires indisponible pour l'instant", exc_info=True)
        return self._territories

    def resolver(self) -> GeoResolver | None:
        """The referential's resolver: loaded once, kept when the warehouse is busy."""
        if self._resolver is not None:
            return self._resolver
        try:
            with self.access.reader(timeout_s=5.0) as conn:
                self._resolver = self.access.resolver(conn)
        except Exception:  # noqa: BLE001 - busy, missing: the API answers what it can without it
            LOG.warning("API : référentiel géographique indisponible pour l'instant", exc_info=True)
        return self._resolver
