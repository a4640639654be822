"""Numbers, amounts and dates written the French way, for texts built in Python.

Used by the Jinja filters of ``webapp/app.py`` (``nombre``, ``montant``, ``date_fr``) and by
the texts built in Python (``webapp/conditions.py``):
narrow no-break space between thousands, decimal comma, no-break space before « € » and « % »,
« 1er janvier 2026 ».
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import jinja2

MOIS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def empty(value: Any) -> bool:
    """Nothing to say: None, an empty text or list, NaN, a template's undefined value."""
    if value is None or value == "" or value == [] or value == () or isinstance(value, jinja2.Undefined):
        return True
    return isinstance(value, float) and math.isnan(value)


def nombre(value: Any, decimals: int = 0) -> str:
    """1 500 or 1 500,50 (narrow no-break space between thousands, decimal comma)."""
    if empty(value):
        return ""
    return f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def montant(value: Any) -> str:
    """15 400 € (cents only when there are some: 1 500,50 €)."""
    if empty(value):
        return ""
    decimals = 0 if float(value).is_integer() else 2
    return f"{nombre(value, decimals)}\u00a0€"


def pourcentage(value: Any) -> str:
    """40 % or 33,5 %."""
    if empty(value):
        return ""
    decimals = 0 if float(value).is_integer() else 1
    return f"{nombre(value, decimals)}\u00a0%"


def date_fr(value: Any) -> str:
    """15 janvier 2026, 1er mars 2026; a datetime keeps its date; anything else as text."""
    if empty(value):
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.day}{'er' if value.day == 1 else ''} {MOIS[value.month - 1]} {value.year}"
    return str(value)


def capitalised(text: str) -> str:
    """The text with its first letter in upper case (« particuliers » → « Particuliers »)."""
    return text[:1].upper() + text[1:]
