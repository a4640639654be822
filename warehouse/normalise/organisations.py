"""The organisations referential: which organisation a financer's or porteur's name designates,
with its SIREN and its territory.

Built from data in the repository (``warehouse/organisations/*.csv``: national operators and
agencies, agences de l'eau, établissements publics fonciers, departmental bodies without a
naming rule, the SIREN of départements and régions, name templates of deconcentrated services
and departmental bodies) and from the COG the warehouse holds (every commune, EPCI,
département and région, each template instantiated for every département or région with
the COG's linking article: « DDT du Tarn », « CAUE de l'Essonne », « DREAL Bretagne »).

Names are compared folded (``sources.folding.fold``), also without a trailing « (SIGLE) » or
a leading article; a name that does not resolve whole is split as a list (« Conseil
départemental du Gers;CAUE du Gers ») and resolves part by part. Matching is exact on the
folded names: « DDT du Tarn » is never taken for « DDT du Tarn-et-Garonne ».
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sources.folding import fold

DATA_DIR = Path(__file__).resolve().parents[1] / "organisations"
FRANCE = "PAYS-99100"

RESOLVED, PARTIAL, AMBIGUOUS, UNRESOLVED = "resolved", "partial", "ambiguous", "unresolved"

# The COG's typeLiaison (TNCC): how a name is linked to what precedes it (as warehouse/normalise/porteurs.py).
_LIAISON = {0: "de ", 1: "d'", 2: "du ", 3: "de la ", 4: "des ", 5: "de l'", 6: "des ", 7: "de las ", 8: "de los "}
_ARTICLES = ("la ", "le ", "les ", "l ")
_ACRONYM_TAIL = re.compile(r"\s*\(([^()]+)\)\s*$")
# Separators of a list of names, tried in this order on what did not resolve whole.
_SEPARATORS = (re.compile(r"\s*[;|\n]\s*"), re.compile(r"\s+/\s+|\s*,\s*|\s+\+\s+"), re.compile(r"\s+(?:et|&)\s+"))


@dataclass(frozen=True)
class Organisation:
    """One organisation: its name, SIREN when known, kind, and the territory it implies."""

    nom: str
    siren: str | None
    type: str
    niveau: str
    perimetre: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "nom": self.nom,
            "siren": self.siren,
            "type": self.type,
            "niveau": self.niveau,
            "perimetre": list(self.perimetre),
        }


@dataclass(frozen=True)
class Part:
    """One name of a list, and what it resolved to."""

    texte: str
    status: str
    organisations: tuple[Organisation, ...]


@dataclass(frozen=True)
class OrgResolution:
    """What a stated name (or list of names) designates."""

    query: str
    status: str  # resolved | partial (some parts of a list) | ambiguous | unresolved
    parts: tuple[Part, ...]
    reason: str | None

    @property
    def organisations(self) -> tuple[Organisation, ...]:
        """The organisations resolved without doubt."""
        return tuple(org for part in self.parts if part.status == RESOLVED for org in part.organisations)

    @property
    def codes(self) -> tuple[str, ...]:
        """The territory of the resolved organisations, as schema codes."""
        return tuple(dict.fromkeys(code for org in self.organisations for code in org.perimetre))

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "status": self.status,
            "organisations": [org.as_json() for org in self.organisations],
            "codes": list(self.codes),
            "parts": [
                {"texte": part.texte, "status": part.status, "candidats": [org.as_json() for org in part.organisations]}
                for part in self.parts
            ]
            if len(self.parts) > 1 or self.status == AMBIGUOUS
            else [],
            "reason": self.reason,
        }


def _codes(perimetre: str) -> tuple[str, ...]:
    return tuple(FRANCE if code == "PAYS-FR" else code for code in perimetre.split("|") if code)


def _read(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return [{key: (value or "").strip() for key, value in row.items()} for row in csv.DictReader(handle)]


def _loose_keys(name: str) -> list[str]:
    """Weaker keys of « Nom (SIGLE) »: the name without its sigle, and the sigle alone (looked up
    only when no name matches whole: « Bpifrance (EPIC) » must not take « Bpifrance »)."""
    tail = _ACRONYM_TAIL.search(name)
    return [key for key in (fold(name[: tail.start()]), fold(tail.group(1))) if key] if tail else []


def _without_article(key: str) -> str | None:
    return next((key[len(article) :] for article in _ARTICLES if key.startswith(article)), None)


class OrganisationIndex:
    """Folded names → organisations; explicit rows win over template instances and the COG."""

    def __init__(self, collectivities: Callable[[str], Organisation | None] | None = None) -> None:
        self._explicit: dict[str, list[Organisation]] = defaultdict(list)
        self._derived: dict[str, list[Organisation]] = defaultdict(list)
        self._loose: dict[str, list[Organisation]] = defaultdict(list)
        self._collectivities = collectivities
        self._cache: dict[str, OrgResolution] = {}

    def add(self, names: list[str], organisation: Organisation, explicit: bool) -> None:
        table = self._explicit if explicit else self._derived
        for name in names:
            for key, where in [(fold(name), table)] + [(loose, self._loose) for loose in _loose_keys(name)]:
                if key and organisation not in where[key]:
                    where[key].append(organisation)

    def __len__(self) -> int:
        return len(self._explicit.keys() | self._derived.keys() | self._loose.keys())

    # ------------------------------------------------------------------ building
    @classmethod
    def from_warehouse(
        cls, conn: duckdb.DuckDBPyConnection, territories: Callable[[str], str | None] | None = None
    ) -> OrganisationIndex:
        """The repository's data files and the COG of the warehouse's referential.

        ``territories`` reads a collectivité's name (« Ville d'Angers », « CU Angers Loire
        Métropole ») as one schema code, or None: the geography resolver's exact answer. A name
        no row nor template knows is tried there, and its collectivité named with its SIREN."""
        collectivities = _Collectivities(conn)
        index = cls(collectivities.reader(territories) if territories is not None else None)
        for file in ("organisations.csv", "organismes_locaux.csv"):
            for row in _read(file):
                org = Organisation(
                    row["nom"], row["siren"] or None, row["type"], row["niveau"], _codes(row["perimetre"])
                )
                index.add([row["nom"], *row["alias"].split("|")], org, explicit=True)
        sirens = collectivities.councils
        councils = [
            ("departement", f"DEP-{code}", nom, liaison)
            for code, nom, liaison in conn.execute("SELECT code, nom, type_liaison FROM ref_departements").fetchall()
        ] + [
            ("region", f"REG-{code}", nom, liaison)
            for code, nom, liaison in conn.execute("SELECT code, nom, type_liaison FROM ref_regions").fetchall()
        ]
        templates = _read("modeles_departementaux.csv")
        for niveau, code, nom, liaison in councils:
            de = _LIAISON.get(int(liaison), "de ") + nom if liaison is not None else "de " + nom
            known = sirens.get(code, {})
            for alias in (known.get("alias") or "").split("|"):
                if alias:
                    index.add(
                        [alias], Organisation(alias, known.get("siren") or None, "collectivite", niveau, (code,)), True
                    )
            for template in templates:
                if template["niveau"] != niveau:
                    continue
                name = template["modele"].replace("{de}", de).replace("{nom}", nom)
                siren = (known.get("siren") or None) if template["type"] == "collectivite" else None
                index.add([name], Organisation(name, siren, template["type"], niveau, (code,)), explicit=False)
        return index

    # ------------------------------------------------------------------ resolving
    def resolve(self, text: str) -> OrgResolution:
        """What ``text`` designates; never raises."""
        query = text if isinstance(text, str) else ""
        cached = self._cache.get(query)
        if cached is None:
            cached = self._cache[query] = self._resolve(query)
        return cached

    def _lookup(self, name: str) -> Part:
        key = fold(name)
        keys = [key, *[k for k in [_without_article(key)] if k]]
        for table, candidates in (
            (self._explicit, keys),
            (self._derived, keys),
            (self._loose, keys + [k for k in _loose_keys(name)]),
        ):
            for candidate in candidates:
                found = table.get(candidate)
                if found:
                    distinct = tuple(dict.fromkeys(found))
                    same = len({(org.siren or org.nom, org.perimetre) for org in distinct}) == 1
                    return Part(name, RESOLVED if same else AMBIGUOUS, distinct[:1] if same else distinct)
        collectivity = self._collectivities(name) if self._collectivities is not None else None
        if collectivity is not None:
            return Part(name, RESOLVED, (collectivity,))
        return Part(name, UNRESOLVED, ())

    def _parts(self, text: str, level: int = 0) -> list[Part]:
        whole = self._lookup(text)
        if whole.status != UNRESOLVED or level >= len(_SEPARATORS):
            return [whole]
        pieces = [piece for piece in _SEPARATORS[level].split(text) if piece.strip()]
        if len(pieces) < 2:
            return self._parts(text, level + 1)
        parts = [part for piece in pieces for part in self._parts(piece.strip(), level + 1)]
        return parts if any(part.status != UNRESOLVED for part in parts) else [whole]

    def _resolve(self, query: str) -> OrgResolution:
        text = query.strip()
        if not text:
            return OrgResolution(query, UNRESOLVED, (), "nom vide")
        parts = tuple(self._parts(text))
        statuses = {part.status for part in parts}
        if statuses == {RESOLVED}:
            return OrgResolution(query, RESOLVED, parts, None)
        if len(parts) == 1 and statuses == {AMBIGUOUS}:
            names = ", ".join(f"{org.nom} ({', '.join(org.perimetre)})" for org in parts[0].organisations)
            return OrgResolution(query, AMBIGUOUS, parts, f"plusieurs organisations portent ce nom : {names}")
        if RESOLVED in statuses:
            missing = "; ".join(part.texte for part in parts if part.status != RESOLVED)
            return OrgResolution(query, PARTIAL, parts, f"parties non reconnues : {missing}")
        return OrgResolution(query, UNRESOLVED, parts, "organisation inconnue du référentiel")


class _Collectivities:
    """Every collectivité of the COG by schema code, named as a porteur and with its SIREN."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        from warehouse.normalise.porteurs import collectivity_names

        self.councils = {row["code"]: row for row in _read("collectivites.csv")}
        sirens = dict(
            conn.execute(
                "SELECT 'COM-' || code, siren FROM ref_communes UNION ALL SELECT 'EPCI-' || siren, siren FROM ref_epci"
            ).fetchall()
        )
        sirens.update({code: row["siren"] or None for code, row in self.councils.items()})
        self._names = {code: (nom, sirens.get(code)) for code, nom in collectivity_names(conn).iter_rows()}

    def reader(self, territories: Callable[[str], str | None]) -> Callable[[str], Organisation | None]:
        def read(name: str) -> Organisation | None:
            code = territories(name)
            if code is None:
                return None
            named = self._names.get(code)
            if named is None:
                return None
            niveau = {"COM": "commune", "EPCI": "epci", "DEP": "departement", "REG": "region"}[code.split("-")[0]]
            return Organisation(named[0], named[1], "collectivite", niveau, (code,))

        return read
