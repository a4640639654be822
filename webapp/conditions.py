"""An aid's conditions in plain French, read from the fields of the published schema.

Which fields (each declared once, in ``schemas/schema.json``; shown in the schema's column order,
only those an aid fills):

- eligibility: ``cibles`` and the eligibility fields records state (``sources.record.ELIGIBILITY_FIELDS``);
- amount: ``montant_max``, ``taux_max``, ``plafond_depense``, ``montants_conditionnels``;
- calendar: ``date_ouverture``, ``date_cloture``, ``recurrence``.

How each reads comes from the schema too: the field's title is the label; its type and
description give the unit (« en euros » → €, « en pourcentage » → %, « en années » → ans,
« de salariés » → salariés); a pair ``X_min`` / ``X_max`` reads as one range under what their
titles share (« Âge minimal », « Âge maximal » → « Âge : de 16 à 25 ans »), and so do the two
dates; a field whose values are enumerated lists them on one line, joined by « ou » when the
schema says the aid funds « l'un ou l'autre »; a list of free texts (``montants_conditionnels``)
gives one line each. A ceiling with a period field that names it (``plafond_rfr_par_part`` and
``plafond_rfr_periode``) reads « Revenu fiscal de référence par part : 15 400 € au plus par an ».
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from schemas import PublishedField, load_schema, published_fields
from sources.record import ELIGIBILITY_FIELDS
from webapp.french import capitalised, date_fr, empty, montant, nombre, pourcentage

SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("eligibilite", frozenset(("cibles", *ELIGIBILITY_FIELDS))),
    ("montant", frozenset(("montant_max", "taux_max", "plafond_depense", "montants_conditionnels"))),
    ("calendrier", frozenset(("date_ouverture", "date_cloture", "recurrence"))),
)
"""The parts of an aid page's conditions, by key, and the published fields each one reads."""

CONDITION_FIELDS: frozenset[str] = frozenset().union(*(members for _key, members in SECTIONS))
"""Every published field the conditions show."""

SUMMARY_FIELDS: frozenset[str] = frozenset(("cibles", "age_min", "age_max", "effectif_min", "effectif_max"))
"""The conditions a territory table sums up under each aid's title: who, and how old or how big."""

DATE_RANGE = ("date_ouverture", "date_cloture")

_UNITS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\ben euros\b"), "€"),
    (re.compile(r"\ben pourcentage\b"), "%"),
    (re.compile(r"\ben années\b"), "an"),
    (re.compile(r"\bde salariés\b"), "salarié"),
)
"""What a number counts, read from its field's description in the schema."""

_EITHER = re.compile(r"l'un ou l'autre")
_CEILING_TITLE = re.compile(r"^Plafond (?:du |de la |de l'|des )", re.IGNORECASE)
_BIG_AMOUNT = re.compile(r"(?<![\d.,])(\d{4,})(?=\s?€)")
_PER_PERIOD = re.compile(r"\s?€/(an|mois)\b")


@dataclass(frozen=True)
class Condition:
    """One line of an aid's conditions: « Âge : de 16 à 25 ans »."""

    fields: tuple[str, ...]  # the published fields it reads
    label: str
    text: str  # the value(s) in plain French; empty when ``items`` holds them
    items: tuple[str, ...] = ()  # several free texts, one per line (``montants_conditionnels``)


@dataclass(frozen=True)
class _Reading:
    """How one line reads, decided once from the schema."""

    fields: tuple[PublishedField, ...]
    label: str
    read: Callable[[Mapping[str, Any], _Reading], tuple[str, tuple[str, ...]] | None]


# --------------------------------------------------------------------------- values


@cache
def _descriptions() -> dict[str, str]:
    return {field["name"]: field.get("description", "") for field in load_schema()["fields"]}


def unit_of(field: PublishedField) -> str | None:
    """What a number of ``field`` counts (€, %, an, salarié), from its description; None if unsaid."""
    description = _descriptions().get(field.name, "")
    return next((unit for pattern, unit in _UNITS if pattern.search(description)), None)


def quantity(field: PublishedField, value: Any, with_unit: bool = True) -> str:
    """A number of ``field`` in French with its unit: 15 400 €, 40 %, 18 ans, 1 salarié."""
    unit = unit_of(field)
    if unit == "€":
        return montant(value) if with_unit else nombre(value, 0 if float(value).is_integer() else 2)
    if unit == "%":
        return pourcentage(value) if with_unit else nombre(value, 0 if float(value).is_integer() else 1)
    text = nombre(value, 0 if float(value).is_integer() else 1)
    if unit and with_unit:
        text += f"\u00a0{unit}{'s' if abs(float(value)) >= 2 else ''}"
    return text


def _values(value: Any) -> list[str]:
    if isinstance(value, str):  # a cell of the published CSV
        value = value.split("|")
    return [str(v).strip() for v in value or [] if not empty(v) and str(v).strip()]


def readable_amount(text: str) -> str:
    """A conditional amount as the catalogue publishes it, easier to read: thousands grouped,
    comparisons as signs, periods in words (« … <= 14089 €/an » → « … ≤ 14 089 € par an »)."""
    text = _BIG_AMOUNT.sub(lambda match: nombre(int(match.group(1))), text)
    text = _PER_PERIOD.sub(lambda match: f"\u00a0€ par {match.group(1)}", text)
    return text.replace(" <= ", " ≤ ").replace(" >= ", " ≥ ")


def _single(aid: Mapping[str, Any], reading: _Reading) -> tuple[str, tuple[str, ...]] | None:
    field = reading.fields[0]
    value = aid.get(field.name)
    if empty(value):
        return None
    if field.multi_valued:
        values = _values(value)
        if not values:
            return None
        if field.values is None:  # free texts: one line each
            return "", tuple(readable_amount(v) for v in values)
        joined = " ou " if _EITHER.search(_descriptions().get(field.name, "")) else ", "
        return joined.join(values), ()
    if field.type in ("number", "integer"):
        return quantity(field, value), ()
    if field.type in ("date", "datetime"):
        return date_fr(value), ()
    return str(value), ()


def _range(aid: Mapping[str, Any], reading: _Reading) -> tuple[str, tuple[str, ...]] | None:
    low_field, high_field = reading.fields
    low, high = aid.get(low_field.name), aid.get(high_field.name)
    if empty(low) and empty(high):
        return None
    if low_field.type in ("date", "datetime"):
        if not empty(low) and not empty(high):
            return f"du {date_fr(low)} au {date_fr(high)}", ()
        return (f"à partir du {date_fr(low)}" if empty(high) else f"jusqu'au {date_fr(high)}"), ()
    if not empty(low) and not empty(high):
        if low == high:
            return quantity(low_field, low), ()
        if unit_of(low_field) in ("€", "%"):  # the sign after each bound: de 600 € à 2 000 €
            return f"de {quantity(low_field, low)} à {quantity(high_field, high)}", ()
        return f"de {quantity(low_field, low, with_unit=False)} à {quantity(high_field, high)}", ()
    return (f"au moins {quantity(low_field, low)}" if empty(high) else f"au plus {quantity(high_field, high)}"), ()


def _ceiling(aid: Mapping[str, Any], reading: _Reading) -> tuple[str, tuple[str, ...]] | None:
    ceiling, period = reading.fields
    value = aid.get(ceiling.name)
    if empty(value):
        return None
    per = aid.get(period.name)
    return f"{quantity(ceiling, value)} au plus" + ("" if empty(per) else f" par {per}"), ()


# --------------------------------------------------------------------------- readings


def _shared_words(first: str, second: str) -> str:
    shared = []
    for a, b in zip(first.split(), second.split(), strict=False):
        if a != b:
            break
        shared.append(a)
    return " ".join(shared) or first


def _period_of(field: PublishedField, fields: list[PublishedField]) -> PublishedField | None:
    """The field that gives the period of ``field`` (its description names ``field``)."""
    return next(
        (
            other
            for other in fields
            if other.name.endswith("_periode") and re.search(rf"\b{field.name}\b", _descriptions().get(other.name, ""))
        ),
        None,
    )


@cache
def _readings(members: frozenset[str]) -> tuple[_Reading, ...]:
    """The lines of a section, in the schema's order, each field read once."""
    fields = [f for f in published_fields() if f.name in members]
    by_name = {f.name: f for f in fields}
    readings: list[_Reading] = []
    used: set[str] = set()
    periods = {period.name for f in fields if (period := _period_of(f, fields)) is not None}
    for field in fields:
        if field.name in used or field.name in periods:
            continue
        partner = None
        if field.name == DATE_RANGE[0]:
            partner = by_name.get(DATE_RANGE[1])
        elif field.name.endswith("_min"):
            partner = by_name.get(field.name.removesuffix("_min") + "_max")
        period = _period_of(field, fields)
        if partner is not None:
            label = "Dates" if field.name == DATE_RANGE[0] else _shared_words(field.title, partner.title)
            readings.append(_Reading((field, partner), label, _range))
            used |= {field.name, partner.name}
        elif period is not None:
            label = capitalised(_CEILING_TITLE.sub("", field.title))
            readings.append(_Reading((field, period), label, _ceiling))
            used |= {field.name, period.name}
        else:
            readings.append(_Reading((field,), field.title, _single))
            used.add(field.name)
    return tuple(readings)


def _conditions(aid: Mapping[str, Any], members: frozenset[str]) -> list[Condition]:
    found = []
    for reading in _readings(members):
        read = reading.read(aid, reading)
        if read is not None:
            text, items = read
            found.append(Condition(tuple(f.name for f in reading.fields), reading.label, text, items))
    return found


def conditions(aid: Mapping[str, Any]) -> dict[str, list[Condition]]:
    """The conditions ``aid`` states, by section key (:data:`SECTIONS`); a section may be empty."""
    return {key: _conditions(aid, members) for key, members in SECTIONS}


def summary(row: Mapping[str, Any]) -> str:
    """Who an aid is for, in a few words, for a table: « Particuliers ; de 18 à 25 ans »."""
    texts = [condition.text for condition in _conditions(row, SUMMARY_FIELDS) if condition.text]
    return capitalised(" ; ".join(texts))
