"""The geographic conditions of an aid as the source structures them: a boolean expression.

Publicodes models (and any source that states "all of these / one of these / not
applicable if") do not state a list of territories but a condition such as
``région = '24' AND (epci = 'CC du Perche' OR epci = 'CC du Bonnevalais' …)``. Reading it
as the union of the places it mentions publishes the aid in the whole région; keeping
the structure lets normalisation compute exactly where the aid applies
(``warehouse/normalise/geo_sets.py``).

An expression is plain JSON, so that it is stored with the record as the source stated it:

- ``{"lieu": {"niveau": "epci", "code": null, "nom": "CC du Perche"}}``: the place
  (a :class:`~sources.record.GeoMention`, resolved later like any other mention);
- ``{"toutes": [e, …]}`` all of them, ``{"une": [e, …]}`` one of them, ``{"non": e}``;
- ``{"autre": "vélo . électrique"}``: a condition that does not name a place (age,
  income, bike…); it never narrows the territory, since it may hold anywhere;
- ``true`` / ``false``: a condition the source states as a constant.

Nothing here resolves a name or evaluates anything: adapters build, normalisation reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from sources.record import GeoMention

Expression = dict[str, Any] | bool


def place(mention: GeoMention) -> Expression:
    return {"lieu": asdict(mention)}


def other(text: str) -> Expression:
    return {"autre": text}


def _combined(key: str, items: list[Expression], neutral: bool) -> Expression:
    """``key`` ("toutes" / "une") of ``items``, flattened: ``neutral`` constants dropped, the
    other constant absorbing everything, a single item returned as it is."""
    kept: list[Expression] = []
    for item in items:
        if item is neutral:
            continue
        if item is (not neutral):
            return not neutral
        kept.extend(item[key] if isinstance(item, dict) and key in item else [item])
    if not kept:
        return neutral
    return kept[0] if len(kept) == 1 else {key: kept}


def all_of(items: list[Expression]) -> Expression:
    return _combined("toutes", items, neutral=True)


def any_of(items: list[Expression]) -> Expression:
    return _combined("une", items, neutral=False)


def negation(item: Expression) -> Expression:
    if isinstance(item, bool):
        return not item
    if "non" in item:
        return item["non"]
    return {"non": item}


def places(expression: Any, negated: bool = False) -> Iterator[tuple[GeoMention, bool]]:
    """Every place of the expression, with whether it stands under an odd number of ``non``."""
    if isinstance(expression, dict):
        if "lieu" in expression:
            yield GeoMention(**expression["lieu"]), negated
        elif "non" in expression:
            yield from places(expression["non"], not negated)
        else:
            for key in ("toutes", "une"):
                for item in expression.get(key, ()):
                    yield from places(item, negated)


def has_place(expression: Any) -> bool:
    return next(places(expression), None) is not None


def check(expression: Any, depth: int = 0) -> None:
    """Raise ValueError (French) when ``expression`` is not of the grammar above."""
    if depth > 200:
        raise ValueError("expression géographique trop profonde")
    if isinstance(expression, bool):
        return
    if not isinstance(expression, dict) or len(expression) != 1:
        raise ValueError(f"expression géographique invalide : {expression!r}"[:300])
    ((key, value),) = expression.items()
    if key == "lieu":
        GeoMention(**value)
    elif key == "autre":
        if not isinstance(value, str):
            raise ValueError(f"condition « autre » : texte attendu, pas {value!r}")
    elif key == "non":
        check(value, depth + 1)
    elif key in ("toutes", "une"):
        if not isinstance(value, list):
            raise ValueError(f"« {key} » : liste attendue, pas {type(value).__name__}")
        for item in value:
            check(item, depth + 1)
    else:
        raise ValueError(f"expression géographique : clé inconnue {key!r}")
