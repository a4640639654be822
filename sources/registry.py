"""The declared sources: every ``sources/catalogue/*.toml`` file, one or more ``[[source]]`` each.

A source is added by a declarative entry (name, level, publisher, licence, homepage,
transport, schedule, adapter and its configuration); generic adapters need no new code.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from sources.base import SourceSpec
from sources.fetch.client import FetchPolicy

CATALOGUE_DIR = Path(__file__).with_name("catalogue")
FETCH_CONFIG = Path(__file__).with_name("fetch.toml")

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_REQUIRED = ("name", "adapter", "level", "publisher", "licence", "homepage", "transport", "schedule")
LEVELS = ("commune", "epci", "departement", "region", "national", "europe", "multi")


class SourceConfigError(ValueError):
    """A declarative entry is incomplete or wrong; names the file and the entry."""


def load_specs(folder: Path = CATALOGUE_DIR) -> list[SourceSpec]:
    """Every declared source, sorted by name; names are unique."""
    specs: dict[str, SourceSpec] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SourceConfigError(f"{path.name} : TOML invalide ({exc})") from exc
        for position, entry in enumerate(data.get("source", []), start=1):
            where = f"{path.name}, source n° {position}"
            missing = [key for key in _REQUIRED if not entry.get(key)]
            if missing:
                raise SourceConfigError(f"{where} : champs manquants : {', '.join(missing)}")
            if not _NAME.fullmatch(entry["name"]):
                raise SourceConfigError(f"{where} : nom {entry['name']!r} invalide (minuscules, chiffres, tirets)")
            if entry["level"] not in LEVELS:
                raise SourceConfigError(f"{where} : niveau {entry['level']!r} inconnu ({', '.join(LEVELS)})")
            if entry["name"] in specs:
                raise SourceConfigError(f"{where} : la source {entry['name']!r} est déjà déclarée")
            known = set(_REQUIRED) | {"config", "precedence"}
            unknown = set(entry) - known
            if unknown:
                raise SourceConfigError(f"{where} : champs inconnus : {', '.join(sorted(unknown))}")
            specs[entry["name"]] = SourceSpec(**{k: entry[k] for k in entry})
    return [specs[name] for name in sorted(specs)]


def get_spec(name: str) -> SourceSpec:
    for spec in load_specs():
        if spec.name == name:
            return spec
    raise KeyError(f"source inconnue : {name}")


def fetch_policy(path: Path = FETCH_CONFIG) -> FetchPolicy:
    """The politeness policy from ``sources/fetch.toml`` (User-Agent with a contact URL)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    user_agent = f"{data['project']}/{data['version']} (+{data['contact_url']})"
    return FetchPolicy(user_agent=user_agent, **data.get("policy", {}))
