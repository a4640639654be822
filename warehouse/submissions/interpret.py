"""Read the values of a submitted file the way agents write them, and say how each was read.

Why: French offices write ``31/12/2026``, ``1 500 €``, ``2,5``, ``Particuliers``, ``EPCI`` or
``déchets``; the published schema wants ``2026-12-31T00:00:00+01:00``, ``1500``, ``2.5``,
``particuliers``, ``secteur public``, ``dechet``. Refusing the obvious reading wastes the agent's
time; guessing silently would put words in the collectivité's mouth. So every value that had to be
interpreted comes back with a warning saying how it was read (« lu 31/12/2026 comme 2026-12-31 »),
and a value with two plausible readings (``1,500``: 1500 or 1.5 ? ``31/12/26``: which century ?)
is an error saying what to write.

Everything here works on ONE distinct value at a time: the caller (``checks._interpret``) asks
for the distinct values of a column that are not already canonical, then applies the readings
to all rows with a join, set-based.

What each field accepts follows from its declaration in ``schemas/schema.json``: its type
(datetime, number, integer), its allowed values (an enumeration, or the items of a list pattern)
and, for numbers, the unit its description names (« en euros », « en pourcentage »,
« en années », « salariés »). Usual labels come from the catalogue's own vocabularies
(``warehouse/normalise/vocab/cibles.csv`` and ``thematiques.csv``, the ``*`` lines) and, for the
other fields, from ``libelles.csv`` beside this module.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process

from schemas import load_schema, published_field
from sources.folding import fold

LABELS_FILE = Path(__file__).resolve().parent / "libelles.csv"
MULTI_SEPARATOR = "|"

_PARIS = ZoneInfo("Europe/Paris")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("janvier", "janv"),
            ("fevrier", "fevr", "fev"),
            ("mars",),
            ("avril", "avr"),
            ("mai",),
            ("juin",),
            ("juillet", "juil"),
            ("aout",),
            ("septembre", "sept"),
            ("octobre", "oct"),
            ("novembre", "nov"),
            ("decembre", "dec"),
        ),
        start=1,
    )
    for name in names
}
_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2})[:h](\d{2})(?::(\d{2}))?)?")
_DMY_SHORT = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?")
_TEXT_DATE = re.compile(r"(?:le )?(\d{1,2})(?:er)? ([a-z]+)\.? (\d{4})")
_ISO_FULL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})")

_SPACES = "\u00a0\u202f\u2009 "
_GROUPED = rf"\d{{1,3}}(?:[{_SPACES}]\d{{3}})+"
_NUMBER = re.compile(
    rf"(?P<int>{_GROUPED}|\d{{1,3}}(?:\.\d{{3}})+(?=,)|\d+)(?:(?P<sep>[.,])(?P<dec>\d+))?"
    rf"[{_SPACES}]*(?P<unit>€|eur|euros?|%|pourcents?|ans?|salaries?)?",
    re.IGNORECASE,
)
_PLAIN_NUMBER = re.compile(r"\d+(\.\d+)?")
_ANY_NUMBER = re.compile(rf"{_GROUPED}|\d+(?:[.,]\d+)?")
_UNIT_WORDS = {"€": "€", "eur": "€", "euro": "€", "euros": "€", "%": "%", "pourcent": "%", "pourcents": "%"}
_UNIT_WORDS |= {"an": "ans", "ans": "ans", "salarie": "salariés", "salaries": "salariés"}
_LIST_SEPARATORS = re.compile(r"\s*[;,\n]\s*")


@dataclass(frozen=True)
class Reading:
    """How one written value was read: ``value`` the canonical text (None: not readable, an error),
    ``message`` in French: the warning (``lu … comme …``) or what to write instead."""

    value: str | None
    message: str

    @property
    def ok(self) -> bool:
        return self.value is not None


# --------------------------------------------------------------------------- dates


def _iso(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> str | None:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=_PARIS).isoformat()
    except ValueError:
        return None


def canonical_datetime(value: str) -> bool:
    """Whether ``value`` is already a datetime as the schema writes it (with its time zone)."""
    return bool(_ISO_FULL.fullmatch(value.strip()))


def read_datetime(value: str) -> Reading:
    """A date as agents write it: ``31/12/2026``, ``31.12.2026``, ``31/12/2026 18:00``,
    ``2026-12-31``, ``2026-12-31T18:00`` (no time zone: Paris time), ``31 décembre 2026``."""
    text = value.strip()
    folded = fold(text, keep_punctuation=True)
    found: tuple[int, ...] | None = None
    if match := _DMY.fullmatch(text):
        day, month, year = (int(g) for g in match.groups()[:3])
        found = (year, month, day, *(int(g or 0) for g in match.groups()[3:]))
        if month > 12 and day <= 12:
            return Reading(
                None,
                f"date impossible : il n'y a pas de mois {month} ; écrivez le jour puis le mois "
                f"(JJ/MM/AAAA) : {month:02d}/{day:02d}/{year} pour le {month} du mois {day}.",
            )
    elif match := _YMD.fullmatch(text):
        found = tuple(int(g or 0) for g in match.groups())
    elif (match := _TEXT_DATE.fullmatch(folded)) and match.group(2) in _MONTHS:
        found = (int(match.group(3)), _MONTHS[match.group(2)], int(match.group(1)))
    elif _DMY_SHORT.fullmatch(text):
        return Reading(
            None,
            f"année sur deux chiffres ({text}) : écrivez l'année en entier, par exemple "
            f"{text[: text.rfind(text[-3])]}{text[-3]}20{text[-2:]}.",
        )
    if found is None:
        return Reading(None, "date illisible : écrivez-la JJ/MM/AAAA (31/12/2026) ou 2026-12-31T00:00:00+01:00.")
    iso = _iso(*found)
    if iso is None:
        return Reading(None, f"date impossible ({text}) : ce jour n'existe pas ; vérifiez le jour et le mois.")
    midnight = found[3:] in ((), (0, 0, 0))
    if midnight and text != iso[:10]:
        return Reading(iso, f"lu {text} comme {iso[:10]} (écrit {iso} : minuit, heure de Paris).")
    return Reading(iso, f"lu {text} comme {iso} (heure de Paris).")


# --------------------------------------------------------------------------- numbers


@cache
def field_unit(name: str) -> str | None:
    """The unit a number field's description names: ``€``, ``%``, ``ans``, ``salariés`` or None."""
    description = next((f.get("description", "") for f in load_schema()["fields"] if f["name"] == name), "")
    text = fold(description)
    if "pourcentage" in text:
        return "%"
    if "euros" in text:
        return "€"
    if "annees" in text:
        return "ans"
    if "salaries" in text:
        return "salariés"
    return None


def canonical_number(value: str, integer: bool) -> bool:
    text = value.strip()
    return bool(re.fullmatch(r"\d+", text) if integer else _PLAIN_NUMBER.fullmatch(text))


def read_number(value: str, integer: bool, unit: str | None) -> Reading:
    """``1 500 €``, ``1500,50``, ``1.500,50``, ``33 %``, ``18 ans`` → ``1500``, ``1500.50``, ``33``, ``18``.

    ``1,500`` and ``1.500`` (a separator then exactly three digits) are errors: a thousands
    separator or a decimal one, nobody can tell."""
    text = value.strip()
    match = _NUMBER.fullmatch(text)
    if match is None:
        numbers = _ANY_NUMBER.findall(text)
        if len(numbers) == 1 and numbers[0] != text:
            guess = read_number(numbers[0], integer, None)
            if guess.ok:
                return Reading(
                    None, f"écrivez le nombre seul, sans texte : vouliez-vous dire {guess.value} ?{_unit_hint(unit)}"
                )
        return Reading(None, f"nombre attendu{_unit_hint(unit)}, par exemple {'18' if integer else '1500.50'}.")
    whole = re.sub(rf"[{_SPACES}.]", "", match.group("int"))
    separator, decimals, written_unit = match.group("sep"), match.group("dec"), match.group("unit")
    stated = None
    if written_unit:
        stated = {"€": "€", "%": "%"}.get(written_unit.strip()) or _UNIT_WORDS.get(fold(written_unit))
    if stated is not None and stated != unit:
        expected = f"en {unit}" if unit else "sans unité"
        hint = " ; un taux (%) va dans la colonne taux_max" if stated == "%" else ""
        return Reading(None, f"unité {stated} inattendue : cette colonne s'écrit {expected}{hint}.")
    if (
        separator
        and decimals
        and len(decimals) == 3
        and match.group("int") == whole
        and len(whole) <= 3
        and whole != "0"
        and "." not in match.group("int")
    ):
        thousands, fraction = f"{whole}{decimals}", f"{whole}.{decimals}".rstrip("0").rstrip(".")
        return Reading(
            None,
            f"nombre ambigu ({text}) : « {separator} » suivi de trois chiffres peut séparer les milliers ou "
            f"les décimales ; écrivez {thousands.lstrip('0') or '0'} ou {fraction}.",
        )
    number = whole.lstrip("0") or "0"
    if decimals:
        if integer:
            return Reading(None, f"nombre entier attendu : {text} a des décimales.")
        number = f"{number}.{decimals}"
    return Reading(number, f"lu {text} comme {number}.")


def _unit_hint(unit: str | None) -> str:
    return f" (en {unit}, sans écrire l'unité)" if unit else ""


# --------------------------------------------------------------------------- choices


def _key(text: str) -> str:
    """Folded, each word without a final s (``Particuliers`` = ``particulier``)."""
    return " ".join(word[:-1] if len(word) > 3 and word.endswith("s") else word for word in fold(text).split())


@cache
def _labels(name: str) -> dict[str, tuple[str, ...]]:
    """Usual label key → the allowed values it stands for, for field ``name``."""
    item = published_field(name)
    allowed = item.values or ()
    labels: dict[str, list[str]] = {}

    def add(label: str, value: str | None) -> None:
        if value and value in allowed:
            targets = labels.setdefault(_key(label), [])
            if value not in targets:
                targets.append(value)
        elif value is None:
            labels.setdefault(_key(label), [])

    for value in allowed:
        add(value, value)
    if name in ("cibles", "thematiques"):
        from warehouse.normalise.vocabulary import load_vocabulary

        vocabulary = load_vocabulary(name)
        for label, value in (
            vocabulary.filter(vocabulary["source"] == "*").select("valeur_source", "valeur_cible").rows()
        ):
            add(label, value)
    with LABELS_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            if row["champ"] == name:
                add(row["libelle"], row["valeur"] or None)
    return {key: tuple(values) for key, values in labels.items()}


def choice_fields() -> tuple[str, ...]:
    """Fields whose values the schema lists (an enumeration or the items of a list pattern)."""
    from schemas import published_fields

    return tuple(item.name for item in published_fields() if item.values)


def canonical_choice(name: str, value: str) -> bool:
    item = published_field(name)
    allowed = set(item.values or ())
    if item.multi_valued:
        return all(part in allowed for part in value.split(MULTI_SEPARATOR))
    return value in allowed


def read_choice(name: str, value: str) -> Reading:
    """Values in any case, with or without accents or a final s, their usual labels, several
    separated by ``|`` (``;`` or ``,`` read as ``|`` with a warning)."""
    item = published_field(name)
    allowed = item.values or ()
    text = value.strip()
    if item.multi_valued:
        parts = [part.strip() for part in text.split(MULTI_SEPARATOR)] if MULTI_SEPARATOR in text else None
        if parts is None:
            parts = [part for part in _LIST_SEPARATORS.split(text) if part] or [text]
    else:
        parts = [text]
    labels = _labels(name)
    read: list[str] = []
    for part in parts:
        if not part:
            return Reading(None, "valeur vide entre deux « | » : séparez les valeurs par un seul « | ».")
        targets = labels.get(_key(part))
        if targets is None:
            return Reading(None, _unknown(name, part, allowed, labels))
        if not targets:
            return Reading(
                None,
                f"« {part} » ne correspond à aucune valeur de {name} ; valeurs possibles : {', '.join(allowed)}.",
            )
        read.extend(target for target in targets if target not in read)
    if not item.multi_valued and len(read) > 1:
        return Reading(None, f"« {text} » désigne plusieurs valeurs ({', '.join(read)}) : choisissez-en une.")
    result = MULTI_SEPARATOR.join(read)
    return Reading(result, f"lu « {text} » comme « {result} ».")


def _unknown(name: str, part: str, allowed: tuple[str, ...], labels: dict[str, tuple[str, ...]]) -> str:
    possible = f"valeurs possibles : {', '.join(allowed)}"
    several = " (plusieurs séparées par « | »)" if published_field(name).multi_valued else ""
    best = process.extractOne(_key(part), [key for key, targets in labels.items() if targets], scorer=fuzz.WRatio)
    if best is not None and best[1] >= 75:
        suggestion = " ou ".join(f"« {value} »" for value in labels[best[0]])
        return f"« {part} » n'est pas une valeur de {name} : vouliez-vous dire {suggestion} ? {possible}{several}."
    return f"« {part} » n'est pas une valeur de {name} ; {possible}{several}."


def closest_action(value: str, actions: tuple[str, ...]) -> str | None:
    """The action an unknown value is closest to (``ajoute`` → ``ajout``), None when none is."""
    best = process.extractOne(fold(value), list(actions), scorer=fuzz.WRatio)
    return best[0] if best is not None and best[1] >= 75 else None


# --------------------------------------------------------------------------- links


def read_url(value: str) -> Reading:
    """``www.exemple.fr/aide`` → ``https://www.exemple.fr/aide``; anything else is an error."""
    text = value.strip()
    if re.fullmatch(r"(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/\S*)?", text, re.IGNORECASE) and " " not in text:
        return Reading(f"https://{text}", f"lu {text} comme https://{text}.")
    return Reading(None, "adresse web attendue, complète, commençant par https:// (ou http://).")
