"""Which aids apply to this commune? Answered from the latest release, never the network.

The release's ``aides-communes.parquet`` (commune → aid ids) is loaded once into a
sorted index; a lookup is then a binary search and a slice, so it stays in the
microseconds whatever the catalogue's size. Codes that stand for a commune (an
arrondissement municipal, a commune déléguée or associée, a former code) are taken to
their current commune through the warehouse's referential when it is there.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

OPEN_STATUSES = ("ouverte", "permanente")
SUMMARY_COLUMNS = ("id", "titre", "echelle", "statut", "porteurs", "date_ouverture", "date_cloture",
                   "url_source", "eligibilite_geographique", "sources")


class UnknownCommuneError(LookupError):
    """The code is not a commune of the release."""


@dataclass
class LookupAnswer:
    commune: str  # the current commune answered for
    requested: str
    aides: list[dict]


class CatalogueIndex:
    def __init__(self, release: Path) -> None:
        pairs = pl.read_parquet(release / "aides-communes.parquet", columns=["commune", "aid_id"]).sort("commune", "aid_id")
        self.release = release
        self._communes: list[str] = []
        self._starts: list[int] = []
        counts = pairs.group_by("commune", maintain_order=True).len()
        offset = 0
        for commune, length in counts.iter_rows():
            self._communes.append(commune)
            self._starts.append(offset)
            offset += length
        self._starts.append(offset)
        self._aid_ids: list[str] = pairs.get_column("aid_id").to_list()
        aides = pl.read_parquet(release / "aides.parquet")
        self._position = {aid_id: i for i, aid_id in enumerate(aides.get_column("id").to_list())}
        self._statut: list[str] = aides.get_column("statut").to_list()
        self._aides = aides

    def aid_ids(self, commune: str, include_closed: bool = False) -> list[str]:
        """Ids of the aids covering a current commune (open ones unless ``include_closed``)."""
        at = bisect.bisect_left(self._communes, commune)
        if at == len(self._communes) or self._communes[at] != commune:
            return []  # a commune that no published aid covers
        ids = self._aid_ids[self._starts[at]:self._starts[at + 1]]
        if include_closed:
            return ids
        return [i for i in ids if self._statut[self._position[i]] in OPEN_STATUSES]

    def knows(self, commune: str) -> bool:
        at = bisect.bisect_left(self._communes, commune)
        return at < len(self._communes) and self._communes[at] == commune

    def summaries(self, ids: list[str]) -> list[dict]:
        rows = self._aides[[self._position[i] for i in ids]]
        present = [c for c in SUMMARY_COLUMNS if c in rows.columns]
        return rows.select(present).sort(["echelle", "titre"]).to_dicts()


def current_commune(code: str, conn: duckdb.DuckDBPyConnection | None) -> str | None:
    """The current commune a code stands for, through the referential; None if unknown."""
    code = code.strip().upper().removeprefix("COM-")
    if len(code) == 4 and code.isdigit():
        code = "0" + code
    if conn is None:
        return code
    if conn.execute("SELECT 1 FROM ref_communes WHERE code = ?", [code]).fetchone():
        return code
    row = conn.execute(
        "SELECT min(commune), count(DISTINCT commune) FROM ref_communes_rattachees WHERE code = ?", [code]
    ).fetchone()
    return row[0] if row and row[1] == 1 else None


def lookup(index: CatalogueIndex, code: str, conn: duckdb.DuckDBPyConnection | None,
           include_closed: bool = False) -> LookupAnswer:
    commune = current_commune(code, conn)
    # Without the referential, only the communes the release names are known.
    if commune is None or (conn is None and not index.knows(commune)):
        raise UnknownCommuneError(code)
    return LookupAnswer(commune, code, index.summaries(index.aid_ids(commune, include_closed)))
