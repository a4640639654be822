"""The declared sources: every ``sources/catalogue/*.toml`` file (and ``$AIDES_SOURCES_DIR/*.toml``),
one or more ``[[source]]`` each.

A source is added by a declarative entry (name, level, publisher, licence, homepage,
transport, schedule, adapter and its configuration); generic adapters need no new code.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from sources.base import SourceSpec, adapter_module
from sources.config import config_errors
from sources.fetch.client import FetchPolicy

CATALOGUE_DIR = Path(__file__).with_name("catalogue")
FETCH_CONFIG = Path(__file__).with_name("fetch.toml")

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_REQUIRED = ("name", "adapter", "level", "publisher", "licence", "homepage", "transport", "schedule")
LEVELS = ("commune", "epci", "departement", "region", "national", "europe", "multi")


class SourceConfigError(ValueError):
    """A declarative entry is incomplete or wrong; names the file and the entry."""


SOURCES_DIR_VARIABLE = "AIDES_SOURCES_DIR"
"""Names a folder of further ``*.toml`` declarations, outside the repository (a deployment's own
sources), read after ``sources/catalogue/``."""


def declaration_files(folder: Path | None = None) -> list[Path]:
    """The declaration files: ``folder``'s, else the repository's then ``$AIDES_SOURCES_DIR``'s."""
    if folder is not None:
        return sorted(folder.glob("*.toml"))
    files = sorted(CATALOGUE_DIR.glob("*.toml"))
    extra = os.environ.get(SOURCES_DIR_VARIABLE)
    if extra:
        path = Path(extra)
        if not path.is_dir():
            raise SourceConfigError(f"{SOURCES_DIR_VARIABLE}={extra} : dossier introuvable")
        files += sorted(path.glob("*.toml"))
    return files


def load_specs(folder: Path | None = None) -> list[SourceSpec]:
    """Every declared source, sorted by name; names are unique across every declaration file."""
    specs: dict[str, SourceSpec] = {}
    for path in declaration_files(folder):
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
            spec = SourceSpec(**{k: entry[k] for k in entry})
            try:
                module = adapter_module(spec)
            except ImportError as exc:
                raise SourceConfigError(f"{where} ({spec.name}) : adaptateur {spec.adapter!r} introuvable") from exc
            errors = config_errors(module, spec.config)
            if errors:
                raise SourceConfigError(f"{where} ({spec.name}) : configuration invalide : {' ; '.join(errors)}")
            specs[entry["name"]] = spec
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
