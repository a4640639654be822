"""Exact geography: a source's geographic conditions evaluated as set algebra over the COG.

A record that states the structure of its conditions (``geo_expression``, see
``sources/geo_expression.py``) applies exactly in the current communes where that
expression may hold. Each place becomes the set of communes it covers (the same
definition as the release's per-commune file, ``TERRITORY_COMMUNES_SQL``); ``toutes`` /
``une`` / ``non`` are intersections, unions and complements.

Conditions that name no place (age, income, bike…) are *undecided*: they may hold
anywhere, so they never narrow the territory, and an aid is published wherever it is not
certainly excluded. Each expression is therefore evaluated in three-valued logic as two
sets, the communes where it certainly holds (``sure``) and where it may hold
(``possible``): ``non`` swaps them (``possible(non e) = all − sure(e)``), so that
"not applicable if income > X" excludes nothing while "not applicable in Paris" excludes
Paris. This is what the publicodes engine answers when only the place is known.

The set is then published as the shortest list of codes plus exclusions found by
walking the hierarchy (France → régions → départements → EPCI → communes): at each
territory, either the territory minus the communes it lacks, or its parts, whichever
needs fewer codes; the result is checked to give back the set exactly.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from sources.geo_expression import places as expression_mentions
from sources.record import GeoMention
from warehouse.db import query_frame
from warehouse.normalise.geography import FRANCE
from warehouse.referential import TERRITORY_COMMUNES_SQL

Mention = tuple[str | None, str | None, str | None]  # (niveau, code, nom), as stated


@dataclass(frozen=True)
class Cover:
    """A set of communes as published codes: inclusions minus exclusions."""

    inclusions: tuple[str, ...]
    exclusions: tuple[str, ...]

    @property
    def cost(self) -> int:
        return len(self.inclusions) + len(self.exclusions)


_EMPTY = Cover((), ())


class Territories:
    """Every territory code and the current communes it covers, as sets of integers."""

    def __init__(self, pairs: pl.DataFrame) -> None:
        communes = pairs.filter(pl.col("code").str.starts_with("COM-")).get_column("commune").unique().sort()
        self.communes: list[str] = communes.to_list()
        rank = pl.DataFrame({"commune": communes}).with_row_index("c")
        grouped = pairs.join(rank, on="commune").group_by("code").agg(pl.col("c"))
        self.members: dict[str, frozenset[int]] = {code: frozenset(ranks) for code, ranks in grouped.iter_rows()}
        self.universe: frozenset[int] = frozenset(range(len(self.communes)))
        self.commune_code = [f"COM-{code}" for code in self.communes]
        # hierarchy: région → départements, département → EPCI (meeting it) and communes
        self.regions = sorted(code for code in self.members if code.startswith("REG-"))
        departements_of: dict[str, list[str]] = defaultdict(list)
        region_of = {c: code for code in self.regions for c in self.members[code]}
        for code in sorted(self.members):
            if code.startswith("DEP-"):
                some = next(iter(self.members[code]))
                departements_of[region_of[some]].append(code)
        self.departements_of = dict(departements_of)
        epcis_of: dict[str, list[str]] = defaultdict(list)
        departement_of = {c: code for codes in departements_of.values() for code in codes for c in self.members[code]}
        for code in sorted(self.members):
            if code.startswith("EPCI-"):
                for dep in sorted({departement_of[c] for c in self.members[code]}):
                    epcis_of[dep].append(code)
        self.epcis_of = dict(epcis_of)

    @classmethod
    def from_warehouse(cls, conn: duckdb.DuckDBPyConnection) -> Territories:
        return cls(query_frame(conn, f"SELECT code, commune FROM ({TERRITORY_COMMUNES_SQL})"))

    def covered(self, codes: Iterable[str]) -> frozenset[int]:
        out: set[int] = set()
        for code in codes:
            out |= self.members.get(code, frozenset())
        return frozenset(out)

    def of_cover(self, cover: Cover) -> frozenset[int]:
        return self.covered(cover.inclusions) - self.covered(cover.exclusions)

    # -- evaluation --------------------------------------------------------------------

    def evaluate(
        self, expression: Any, places: dict[Mention, tuple[str, ...] | None]
    ) -> tuple[frozenset[int], frozenset[int]]:
        """(sure, possible): the communes where ``expression`` certainly / possibly holds.

        ``places`` gives each stated place's resolved codes, or None when it did not
        resolve: such a place is undecided (it may hold anywhere).
        """
        if expression is True:
            return self.universe, self.universe
        if expression is False:
            return frozenset(), frozenset()
        ((key, value),) = expression.items()
        if key == "lieu":
            codes = places.get((value.get("niveau"), value.get("code"), value.get("nom")))
            if codes is None:
                return frozenset(), self.universe
            found = self.covered(codes)
            return found, found
        if key == "autre":
            return frozenset(), self.universe
        if key == "non":
            sure, possible = self.evaluate(value, places)
            return self._complement(possible), self._complement(sure)
        parts = [self.evaluate(item, places) for item in value]
        # "all" and "anywhere" are the same object throughout: skipping them keeps an
        # expression of many undecided conditions cheap.
        if key == "toutes":
            sure, possible = self.universe, self.universe
            for s, p in parts:
                sure = sure if s is self.universe else s if sure is self.universe else sure & s
                possible = possible if p is self.universe else p if possible is self.universe else possible & p
            return sure, possible
        if key == "une":
            sure, possible = frozenset(), frozenset()
            for s, p in parts:
                sure = self.universe if s is self.universe or sure is self.universe else sure | s
                possible = self.universe if p is self.universe or possible is self.universe else possible | p
            return sure, possible
        raise ValueError(f"expression géographique : clé inconnue {key!r}")

    def _complement(self, found: frozenset[int]) -> frozenset[int]:
        if found is self.universe:
            return frozenset()
        return self.universe if not found else self.universe - found

    # -- the shortest codes -------------------------------------------------------------

    def cover(self, target: frozenset[int]) -> Cover:
        """The shortest inclusions and exclusions found that give exactly ``target``."""
        if not target:
            return _EMPTY
        if target == self.universe:
            return Cover((FRANCE,), ())
        parts = _join(self._mixed_region(region, target) for region in self.regions)
        if parts.cost > 2:  # France minus what it lacks may be shorter, however many communes that is
            national = Cover((FRANCE,), self._exact(self.universe - target).inclusions)
            parts = national if national.cost < parts.cost else parts
        if self.of_cover(parts) != target:  # never expected; the plain list is always right
            parts = Cover(tuple(sorted(self.commune_code[c] for c in target)), ())
        return Cover(tuple(sorted(parts.inclusions)), tuple(sorted(parts.exclusions)))

    def _exact(self, target: frozenset[int]) -> Cover:
        """Codes of territories entirely inside ``target`` whose union is ``target`` (no exclusion)."""
        codes: list[str] = []
        left = set(target)
        for region in self.regions:
            members = self.members[region]
            if not members & left:
                continue
            if members <= target and len(self.departements_of[region]) > 1:
                codes.append(region)
                left -= members
                continue
            for dep in self.departements_of[region]:
                dmembers = self.members[dep]
                if not dmembers & left:
                    continue
                if dmembers <= target:
                    # the most specific code of the same communes, as the resolver writes it
                    codes.append(self.commune_code[next(iter(dmembers))] if len(dmembers) == 1 else dep)
                    left -= dmembers
                    continue
                for epci in self.epcis_of.get(dep, ()):
                    emembers = self.members[epci]
                    if emembers & left and emembers <= target and len(emembers) > 1:
                        codes.append(epci)
                        left -= emembers
                for c in sorted(dmembers & left):
                    codes.append(self.commune_code[c])
                    left.discard(c)
        return Cover(tuple(codes), ())

    def _minus(self, code: str, target: frozenset[int]) -> Cover:
        """``code`` minus the communes of it that ``target`` lacks."""
        return Cover((code,), self._exact(self.members[code] - target).inclusions)

    def _mixed_region(self, region: str, target: frozenset[int]) -> Cover:
        if len(self.departements_of[region]) == 1:  # Mayotte, Guyane…: the département says it
            return self._mixed_departement(self.departements_of[region][0], target)
        members = self.members[region]
        inside = members & target
        if not inside:
            return _EMPTY
        if inside == members:
            return Cover((region,), ())
        parts = _join(self._mixed_departement(dep, target) for dep in self.departements_of[region])
        minus = self._minus(region, target) if parts.cost > 2 else None
        return minus if minus is not None and minus.cost < parts.cost else parts

    def _mixed_departement(self, dep: str, target: frozenset[int]) -> Cover:
        members = self.members[dep]
        inside = members & target
        if not inside:
            return _EMPTY
        if inside == members:  # Paris: the commune says it
            return Cover((self.commune_code[next(iter(members))] if len(members) == 1 else dep,), ())
        pieces: list[Cover] = []
        left = set(inside)
        for epci in self.epcis_of.get(dep, ()):
            emembers = self.members[epci]
            here = emembers & left
            if not here:
                continue
            if emembers <= target and len(emembers) > 1:
                pieces.append(Cover((epci,), ()))
                left -= emembers
            elif len(emembers) - len(emembers & target) + 1 < len(here):
                pieces.append(self._minus(epci, target))
                left -= emembers
        pieces.extend(Cover((self.commune_code[c],), ()) for c in sorted(left))
        parts = _join(pieces)
        minus = self._minus(dep, target) if parts.cost > 2 else None
        return minus if minus is not None and minus.cost < parts.cost else parts


def _join(covers: Iterable[Cover]) -> Cover:
    inclusions: dict[str, None] = {}
    exclusions: dict[str, None] = {}
    for cover in covers:
        inclusions.update(dict.fromkeys(cover.inclusions))
        exclusions.update(dict.fromkeys(cover.exclusions))
    return Cover(tuple(inclusions), tuple(exclusions))


def exact_geography(records: pl.DataFrame, resolved_places: pl.DataFrame, territories: Territories) -> pl.DataFrame:
    """Per record with a ``geo_expression``: its exact inclusions and exclusions.

    ``records`` has ``record_key`` and ``geo_expression`` (JSON text); ``resolved_places``
    the resolver's answer per distinct place (niveau, code, nom, status, codes). Records
    whose expression covers no French commune (an aid for Monaco) are left out: their
    stated places stand. Each distinct expression is evaluated once.
    """
    places: dict[Mention, tuple[str, ...] | None] = {
        (niveau, code, nom): tuple(codes) if status == "resolved" else None
        for niveau, code, nom, status, codes in resolved_places.select(
            "niveau", "code", "nom", "status", "codes"
        ).iter_rows()
    }
    with_expression = records.filter(pl.col("geo_expression").is_not_null()).select("record_key", "geo_expression")
    covers: dict[str, Cover] = {}
    for text in with_expression.get_column("geo_expression").unique().to_list():
        expression = json.loads(text)
        if any(places.get(_key(mention)) is None for mention, _ in expression_mentions(expression)):
            covers[text] = _EMPTY  # a place did not resolve: the stated places stand (and are reported)
            continue
        _, possible = territories.evaluate(expression, places)
        covers[text] = territories.cover(possible)
    rows = [
        (key, list(covers[text].inclusions), list(covers[text].exclusions))
        for key, text in with_expression.iter_rows()
        if covers[text].inclusions
    ]
    return pl.DataFrame(
        rows,
        schema={
            "record_key": pl.Utf8,
            "eligibilite_geographique": pl.List(pl.Utf8),
            "eligibilite_geographique_exclusions": pl.List(pl.Utf8),
        },
        orient="row",
    )


def _key(mention: GeoMention) -> Mention:
    return (mention.niveau, mention.code, mention.nom)


def expression_places(records: pl.DataFrame) -> pl.DataFrame:
    """Every distinct place the expressions of ``records`` name (niveau, code, nom)."""
    found: dict[Mention, None] = {}
    for text in records.get_column("geo_expression").drop_nulls().unique().to_list():
        for mention, _ in expression_mentions(json.loads(text)):
            found[_key(mention)] = None
    return pl.DataFrame(list(found), schema={"niveau": pl.Utf8, "code": pl.Utf8, "nom": pl.Utf8}, orient="row")


def expression_place_rows(records: pl.DataFrame) -> pl.DataFrame:
    """(geo_expression, niveau, code, nom): each distinct expression of ``records`` and the places it names."""
    rows = [
        (text, *_key(mention))
        for text in records.get_column("geo_expression").drop_nulls().unique().to_list()
        for mention, _ in expression_mentions(json.loads(text))
    ]
    return pl.DataFrame(
        rows,
        schema={"geo_expression": pl.Utf8, "niveau": pl.Utf8, "code": pl.Utf8, "nom": pl.Utf8},
        orient="row",
    ).unique()
