"""Finding a territory from what people type: names by prefix and approximately, ranked.

The geography resolver answers exactly (codes, postal codes, the forms sources write). People
type less: « Cherbourg » (for Cherbourg-en-Cotentin), « Evry », « St-Denis », « Marseille 13 ».
This index holds every current commune (with its population and postal codes), arrondissement
municipal, EPCI, département and région under its folded name (``sources.folding.fold``, « st » and
« ste » read as « saint » and « sainte »), and answers a name with:

1. the territories whose name is the query, then those whose name starts with it (a word
   boundary: « Evry » finds « Évry-Courcouronnes », not « Évryville »);
2. when none, approximate names (``rapidfuzz``, a kept library), each flagged as such;

ranked current communes first, then arrondissements, EPCI, départements, régions, and by
population within each; each listed once, labelled with its département. A single answer is
only chosen when it is the only one, or the only exact one and at least as populous as every
other: « Evry » lists Évry-Courcouronnes before the village of the Yonne, never silently one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
from rapidfuzz import fuzz, process

from sources.folding import fold

_KIND_ORDER = {"commune": 0, "arrondissement": 1, "epci": 2, "departement": 3, "region": 4}
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "s": "sur"}
_NUMBER = re.compile(r"^(.*?)\s+(\d{1,2})(?:e|er|eme|ème)?$")


def search_key(text: str) -> str:
    """The folded form names and queries are compared in."""
    words = fold(text).split()
    return " ".join(_ABBREVIATIONS.get(word, word) if len(words) > 1 else word for word in words)


@dataclass(frozen=True)
class Place:
    code: str  # the schema code the territory page takes: COM-, EPCI-, DEP-, REG-
    label: str
    kind: str
    population: int
    key: str


@dataclass(frozen=True)
class Found:
    place: Place
    match: str  # exact, prefix, approximate

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """Approximate ones last; then by kind and population (the exact name first among equals)."""
        closeness = {"exact": 0, "prefix": 1, "approximate": 2}[self.match]
        return (closeness == 2, _KIND_ORDER[self.place.kind], -self.place.population, closeness)


class TerritoryIndex:
    def __init__(self, places: list[Place], postal: dict[str, list[str]]) -> None:
        self.places = places
        self.postal = postal  # postal code → current commune codes (COM-…)
        self._by_key: dict[str, list[Place]] = {}
        for place in places:
            self._by_key.setdefault(place.key, []).append(place)
        self._keys = list(self._by_key)

    @classmethod
    def from_warehouse(cls, conn: duckdb.DuckDBPyConnection) -> TerritoryIndex:
        deps = dict(conn.execute("SELECT code, nom FROM ref_departements").fetchall())
        places: list[Place] = []
        postal: dict[str, list[str]] = {}
        for code, nom, dep, population, codes_postaux in conn.execute(
            "SELECT code, nom, departement, coalesce(population, 0), codes_postaux FROM ref_communes"
        ).fetchall():
            label = f"{nom} ({deps.get(dep, dep)}, {dep})"
            places.append(Place(f"COM-{code}", label, "commune", int(population), search_key(nom)))
            for postal_code in codes_postaux or []:
                postal.setdefault(postal_code, []).append(f"COM-{code}")
        populations = dict(conn.execute("SELECT code, coalesce(population, 0) FROM ref_communes").fetchall())
        names = dict(conn.execute("SELECT code, nom FROM ref_communes").fetchall())
        for _code, nom, commune in conn.execute(
            "SELECT code, nom, commune FROM ref_communes_rattachees WHERE type = 'arrondissement-municipal'"
        ).fetchall():
            if nom:
                label = f"{nom} (arrondissement de {names.get(commune, commune)})"
                places.append(
                    Place(f"COM-{commune}", label, "arrondissement", int(populations.get(commune, 0)), search_key(nom))
                )
        for siren, nom, population in conn.execute(
            "SELECT siren, nom, coalesce(population, 0) FROM ref_epci"
        ).fetchall():
            places.append(Place(f"EPCI-{siren}", nom, "epci", int(population), search_key(nom)))
        for code, nom in deps.items():
            places.append(Place(f"DEP-{code}", f"{nom} (département, {code})", "departement", 0, search_key(nom)))
        for code, nom in conn.execute("SELECT code, nom FROM ref_regions").fetchall():
            places.append(Place(f"REG-{code}", f"{nom} (région)", "region", 0, search_key(nom)))
        return cls(places, postal)

    def by_name(self, text: str, limit: int = 20) -> list[Found]:
        """Territories whose name is, starts with, or (when none) resembles ``text``, best first."""
        key = search_key(text)
        if not key:
            return []
        found: dict[str, Found] = {}

        def keep(place: Place, match: str) -> None:
            candidate = Found(place, match)
            known = found.get(place.code)
            if known is None or candidate.rank < known.rank:
                found[place.code] = candidate

        numbered = _NUMBER.match(key)  # « Marseille 13 », « Paris 11e »: that arrondissement
        if numbered:
            for place in self.places:
                if place.kind == "arrondissement" and place.key.startswith(numbered.group(1) + " "):
                    if re.search(rf"\b{int(numbered.group(2))}(e|er|eme)?\b", place.key):
                        keep(place, "exact")
        for name, places in self._by_key.items():
            if name == key:
                for place in places:
                    keep(place, "exact")
            elif name.startswith(key + " "):
                for place in places:
                    keep(place, "prefix")
        if not found:
            for name, _score, _ in process.extract(key, self._keys, scorer=fuzz.ratio, score_cutoff=85, limit=limit):
                for place in self._by_key[name]:
                    keep(place, "approximate")
        return sorted(found.values(), key=lambda f: f.rank)[:limit]

    @staticmethod
    def chosen(found: list[Found]) -> Found | None:
        """The one answer to go to without asking, or None: the list is shown. Only a single
        exact (or single) name goes straight through: one commune of that name at least as
        populous as every other commune found, else one territory of that name."""
        if len(found) == 1 and found[0].match != "approximate":
            return found[0]
        exact = [f for f in found if f.match == "exact"]
        communes = [f for f in found if f.place.kind in ("commune", "arrondissement")]
        exact_communes = [f for f in exact if f.place.kind in ("commune", "arrondissement")]
        if len(exact_communes) == 1 and all(exact_communes[0].place.population >= f.place.population for f in communes):
            return exact_communes[0]
        if not exact_communes and len(exact) == 1:
            return exact[0]
        return None
