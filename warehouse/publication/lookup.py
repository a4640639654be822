"""Which aids apply to this commune? Answered from the latest release, never the network.

The release's ``aides-communes.parquet`` (commune → aid ids) is loaded once into a compact
index of integers: every aid is numbered by its position in id order, the pairs become one
``UInt32`` column of positions grouped by commune (ordered by commune, then aid id, as the
file is written) with one offset per commune. The file is read row group by row group through
its parquet dictionaries, so no per-pair string is ever built: 55 million pairs take 220 MB.
A lookup is then a dict access, a slice, a boolean filter (open statuses precomputed per aid)
and a sort of small integers (the (échelle, titre, id) order precomputed per aid, so that the
same question always gets its answers in the same order); its summaries come from a
per-aid cache of the summary columns only.

Codes that stand for a commune (an arrondissement municipal, a commune déléguée or associée,
a former code) are taken to their current commune by the geography module's
:class:`~warehouse.normalise.geography.GeoResolver`, the one resolver of the project. A
read-only connection cannot see the referential change, so from its second lookup the whole
referential is held in memory for that connection (one ``GeoResolver``); before that, and
always on a writable connection, only the referential rows of the requested code are read,
into a resolver of that code alone.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse.normalise.geography import GeoResolver

OPEN_STATUSES = ("ouverte", "permanente")
SUMMARY_COLUMNS = (
    "id",
    "titre",
    "echelle",
    "statut",
    "porteurs",
    "date_ouverture",
    "date_cloture",
    "url_source",
    "eligibilite_geographique",
    "sources",
)
# Summaries kept built, at most (about 1 kB each); beyond, the cache starts over.
SUMMARY_CACHE_MAX = 300_000
_HASH_SEED = 20261129


class UnknownCommuneError(LookupError):
    """The code is not a commune of the release."""


@dataclass
class LookupAnswer:
    commune: str  # the current commune answered for
    requested: str
    aides: list[dict]


class _NotCompact(Exception):
    """The pairs file is not in the publisher's layout: read it the general way."""


class CatalogueIndex:
    def __init__(self, release: Path) -> None:
        self.release = release
        schema = pq.read_schema(release / "aides.parquet")
        present = [c for c in SUMMARY_COLUMNS if c in schema.names]
        needed = list(dict.fromkeys(["id", "statut", "echelle", "titre", *present]))
        aides = pl.read_parquet(release / "aides.parquet", columns=needed)
        # A duplicated id answers with its last row, as a dict keyed by id would.
        aides = aides.unique(subset="id", keep="last", maintain_order=True).sort("id")
        pairs_path = release / "aides-communes.parquet"
        try:
            universe = aides.get_column("id")
            communes, offsets, pairs = _read_sorted_pairs(pairs_path, universe)
            unknown = None
        except _NotCompact:
            universe, communes, offsets, pairs = _read_any_pairs(pairs_path, aides.get_column("id"))
            unknown = ~universe.is_in(aides.get_column("id").implode())
            aides = pl.DataFrame({"id": universe}).join(aides, on="id", how="left", maintain_order="left")
            if not unknown.any():
                unknown = None
        self._ids: pl.Series = universe  # position → aid id, in id order
        self._unknown: pl.Series | None = unknown  # positions of ids the pairs name but aides.parquet lacks
        self._slot: dict[str, int] = {c: i for i, c in enumerate(communes) if offsets[i + 1] > offsets[i]}
        self._offsets: list[int] = offsets
        # NumPy, not polars: a lookup handles a few thousand integers, where each polars operation
        # costs its fixed overhead (2 ms of a 4 ms lookup at 1M records, measured)
        self._pairs: np.ndarray = pairs.to_numpy()  # UInt32 positions, grouped by commune
        self._open: np.ndarray = aides.get_column("statut").is_in(list(OPEN_STATUSES)).fill_null(False).to_numpy()
        # (échelle, titre, id) as one rank per position (nulls first): a lookup then sorts small
        # integers, and aids with the same échelle and titre always come in id order.
        by_order = aides.select("echelle", "titre").with_row_index("p").sort("echelle", "titre", "p")
        self._rank: np.ndarray = by_order.with_row_index("r").sort("p").get_column("r").to_numpy()
        self._summary = aides.select(present)
        self._cache: dict[int, dict] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API
    def aid_ids(self, commune: str, include_closed: bool = False) -> list[str]:
        """Ids of the aids covering a current commune (open ones unless ``include_closed``)."""
        positions = self._positions(commune, include_closed)
        return self._ids.gather(positions).to_list() if positions is not None else []

    def knows(self, commune: str) -> bool:
        return commune in self._slot

    def covering_ids(self, communes: list[str]) -> pl.Series:
        """Ids of the aids covering at least one of these current communes, whatever their status
        (each once, in id order): the aids that apply somewhere in a territory."""
        slices = [
            self._pairs[self._offsets[slot] : self._offsets[slot + 1]]
            for slot in (self._slot.get(commune) for commune in communes)
            if slot is not None
        ]
        if not slices:
            return pl.Series("id", [], dtype=pl.String)
        return self._ids.gather(np.unique(np.concatenate(slices)))  # unique values, sorted

    def summaries(self, ids: list[str]) -> list[dict]:
        """The summary columns of these aids, ordered by échelle then titre."""
        if not ids:
            return []
        wanted = pl.Series("id", ids, dtype=pl.String)
        size = self._ids.len()
        if not size:
            raise KeyError(ids[0])
        at = self._ids.search_sorted(wanted).cast(pl.UInt32)
        inside = at.clip(0, size - 1)
        found = (at < size) & self._ids.gather(inside).eq_missing(wanted)
        if self._unknown is not None:
            found = found & ~self._unknown.gather(inside)
        if not found.all():
            raise KeyError(wanted.filter(~found)[0])  # the first id the release does not describe
        return self._summaries_at(at.to_numpy())

    # ------------------------------------------------------------------ internals
    def answer(self, commune: str, include_closed: bool = False) -> list[dict]:
        """The summaries of the aids covering a current commune (``summaries(aid_ids(...))``)."""
        positions = self._positions(commune, include_closed)
        return self._summaries_at(positions) if positions is not None else []

    def _positions(self, commune: str, include_closed: bool) -> np.ndarray | None:
        slot = self._slot.get(commune)
        if slot is None:
            return None  # a commune that no published aid covers
        positions = self._pairs[self._offsets[slot] : self._offsets[slot + 1]]
        if include_closed:
            return positions
        if self._unknown is not None:
            unknown = positions[self._unknown.gather(positions).to_numpy()]
            if len(unknown):
                raise KeyError(self._ids[int(unknown[0])])  # an aid of the pairs missing from aides.parquet
        return positions[self._open[positions]]

    def _summaries_at(self, positions: np.ndarray) -> list[dict]:
        """Summary dicts of these positions (fresh copies of cached ones), sorted by (échelle, titre)."""
        if not len(positions):
            return []
        ordered = positions[np.argsort(self._rank[positions], kind="stable")].tolist()
        cache = self._cache
        got: dict[int, dict] = {}
        missing: list[int] = []
        for p in ordered:
            if p not in got:
                summary = cache.get(p)
                if summary is None:
                    missing.append(p)
                    got[p] = {}  # placeholder, filled below
                else:
                    got[p] = summary
        if missing:
            rows = self._summary[pl.Series(missing, dtype=pl.UInt32)]
            # column by column, then zipped: a third faster than ``to_dicts`` on the same rows
            names, columns = rows.columns, [column.to_list() for column in rows.iter_columns()]
            values = zip(*columns, strict=True)
            fetched = {p: dict(zip(names, row, strict=True)) for p, row in zip(missing, values, strict=True)}
            got.update(fetched)
            with self._lock:
                if len(cache) + len(fetched) > SUMMARY_CACHE_MAX:
                    cache.clear()
                cache.update(fetched)
        return [got[p].copy() for p in ordered]


def _read_sorted_pairs(path: Path, ids: pl.Series) -> tuple[list[str], list[int], pl.Series]:
    """Communes, offsets and positions of a pairs file ordered by (commune, aid_id) whose every
    aid is in ``ids`` (sorted) — the file as the publisher writes it. Each dictionary-encoded
    chunk is translated through its dictionaries (a few thousand strings), then by ``take`` over
    its indices; its commune runs give the offsets and the checks of that order."""
    file = pq.ParquetFile(path, read_dictionary=["commune", "aid_id"])
    if not {"commune", "aid_id"} <= set(file.schema_arrow.names):
        raise _NotCompact
    locate = _locator(ids)
    communes: list[str] = []
    counts: list[int] = []
    chunks: list[pl.Series] = []
    last_position = -1
    for table in _row_groups(file, ["commune", "aid_id"]):
        for batch in table.to_batches():
            if not batch.num_rows:
                continue
            commune, aid = batch.column(0), batch.column(1)
            if (
                not (pa.types.is_dictionary(commune.type) and pa.types.is_dictionary(aid.type))
                or commune.null_count
                or aid.null_count
            ):
                raise _NotCompact
            position = pl.Series(pc.take(locate(pl.Series(aid.dictionary).cast(pl.String)).to_arrow(), aid.indices))
            names = commune.dictionary.to_pylist()
            runs = pl.Series(commune.indices).rle().struct.unnest()
            start = 0
            for value, length in zip(
                runs.get_column("value").to_list(), runs.get_column("len").to_list(), strict=False
            ):
                name = names[value]
                if communes and name == communes[-1] and start == 0:  # the commune goes on from the last chunk
                    if position[0] < last_position:
                        raise _NotCompact
                elif communes and not name > communes[-1]:
                    raise _NotCompact  # communes out of order
                else:
                    communes.append(name)
                    counts.append(0)
                if not position.slice(start, length).is_sorted():
                    raise _NotCompact  # aids out of order within a commune
                counts[-1] += length
                start += length
            last_position = position[-1]
            chunks.append(position)
    offsets = [0]
    for count in counts:
        offsets.append(offsets[-1] + count)
    pairs = pl.concat(chunks, rechunk=False) if chunks else pl.Series("p", [], dtype=pl.UInt32)
    return communes, offsets, pairs


def _row_groups(file: pq.ParquetFile, columns: list[str]) -> Iterator[pa.Table]:
    """The row groups of a file in order, the next one read (in a thread) while this one is used."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(file.read_row_group, 0, columns=columns) if file.num_row_groups else None
        for group in range(file.num_row_groups):
            assert pending is not None  # submitted above whenever there is a row group
            table = pending.result()
            if group + 1 < file.num_row_groups:
                pending = reader.submit(file.read_row_group, group + 1, columns=columns)
            yield table


def _locator(ids: pl.Series):
    """Positions in ``ids`` (sorted, unique) of the values of a dictionary, by binary search over
    the ids' 64-bit hashes (three times faster than over the strings); _NotCompact if one is not there."""
    size = ids.len()
    hashed = pl.DataFrame({"h": ids.hash(_HASH_SEED), "p": pl.int_range(size, dtype=pl.UInt32, eager=True)}).sort("h")
    by_hash = hashed.get_column("h").n_unique() == size

    def locate(values: pl.Series) -> pl.Series:
        if not size:
            raise _NotCompact
        if by_hash:
            at = hashed.get_column("p").gather(
                hashed.get_column("h").search_sorted(values.hash(_HASH_SEED)).clip(0, size - 1)
            )
        else:
            at = ids.search_sorted(values).clip(0, size - 1).cast(pl.UInt32)
        if values.null_count() or not ids.gather(at).eq_missing(values).all():
            raise _NotCompact  # an aid id missing from aides.parquet
        return at

    return locate


def _read_any_pairs(path: Path, ids: pl.Series) -> tuple[pl.Series, list[str], list[int], pl.Series]:
    """The same from any pairs file (any order, ids unknown to aides.parquet): positions are
    taken over the union of both id sets, and the pairs sorted."""
    pairs = pl.read_parquet(path, columns=["commune", "aid_id"])
    universe = pl.concat([ids, pairs.get_column("aid_id").rename("id")]).drop_nulls().unique().sort()
    communes = pairs.get_column("commune").drop_nulls().unique().sort()
    numbered = (
        pairs.join(pl.DataFrame({"aid_id": universe}).with_row_index("p"), on="aid_id")
        .join(pl.DataFrame({"commune": communes}).with_row_index("c"), on="commune")
        .select("c", "p")
        .sort("c", "p")
    )
    offsets = (
        numbered.get_column("c")
        .search_sorted(pl.Series(range(communes.len() + 1), dtype=pl.UInt32), side="left")
        .to_list()
    )
    return universe, communes.to_list(), offsets, numbered.get_column("p").cast(pl.UInt32)


# ---------------------------------------------------------------------- communes
_COMMUNE_ROWS = "SELECT code, nom, siren, departement, region FROM ref_communes WHERE code = ?"
_ATTACHED_ROWS = "SELECT code, nom, type, commune FROM ref_communes_rattachees WHERE code = ?"


def _code_resolver(conn: duckdb.DuckDBPyConnection, code: str) -> GeoResolver:
    """A resolver knowing only the referential rows of ``code``: two indexed queries, where
    loading the whole referential would cost a few hundred milliseconds for one answer."""
    communes = conn.execute(_COMMUNE_ROWS, [code]).fetchall()
    # A current commune stands for itself: its attached rows could not change the answer.
    attached = [] if communes else conn.execute(_ATTACHED_ROWS, [code]).fetchall()
    return GeoResolver(
        communes, attached, codes_postaux=[], epci=[], epci_membres=[], departements=[], regions=[], pays=[], aliases=[]
    )


class _ConnectionState:
    __slots__ = ("calls", "resolver")

    def __init__(self) -> None:
        self.calls = 0
        self.resolver: GeoResolver | None = None


_STATES: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, _ConnectionState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _resolver_for(conn: duckdb.DuckDBPyConnection) -> GeoResolver | None:
    """The referential of a read-only connection, in memory from its second call on (its first
    call, often its only one, asks the database). None for a writable connection."""
    try:
        with _STATES_LOCK:
            state = _STATES.get(conn)
            if state is None:
                state = _STATES[conn] = _ConnectionState()
    except TypeError:  # not weak-referenceable: no caching
        return None
    if state.resolver is not None or state.calls < 0:
        return state.resolver
    state.calls += 1
    if state.calls < 2:
        return None
    rows = conn.execute(
        "SELECT bool_and(readonly) FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    if not (rows and rows[0][0]):
        state.calls = -1  # writable: the referential may change under it, always ask
        return None
    state.resolver = GeoResolver.from_warehouse(conn)
    return state.resolver


def _normalised(code: str) -> str:
    code = code.strip().upper().removeprefix("COM-")
    if len(code) == 4 and code.isdigit():
        code = "0" + code
    return code


def current_commune(
    code: str, conn: duckdb.DuckDBPyConnection | None, resolver: GeoResolver | None = None
) -> str | None:
    """The current commune a code stands for, through the referential; None if unknown.

    ``resolver``: one the caller already holds for this referential (the web application's),
    used instead of ``conn``. Without either, the code itself (the release alone knows it).
    """
    code = _normalised(code)
    if resolver is None and conn is not None:
        resolver = _resolver_for(conn) or _code_resolver(conn, code)
    return code if resolver is None else resolver.current_commune(code)


def lookup(
    index: CatalogueIndex, code: str, conn: duckdb.DuckDBPyConnection | None, include_closed: bool = False
) -> LookupAnswer:
    commune = current_commune(code, conn)
    # Without the referential, only the communes the release names are known.
    if commune is None or (conn is None and not index.knows(commune)):
        raise UnknownCommuneError(code)
    return LookupAnswer(commune, code, index.answer(commune, include_closed))
