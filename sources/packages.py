"""The npm packages the pipeline reads, as pinned in ``packages.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

PINS_FILE = Path(__file__).with_name("packages.toml")
REFERENTIAL_PACKAGE = "@etalab/decoupage-administratif"


@dataclass(frozen=True)
class PackagePin:
    name: str
    version: str
    integrity: str


def load_pins(section: str, path: Path = PINS_FILE) -> dict[str, PackagePin]:
    """Every package pinned in one section of the pins file, by name."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {
        name: PackagePin(name, entry["version"], entry["integrity"]) for name, entry in data.get(section, {}).items()
    }


def referential_pin() -> PackagePin:
    """The pinned version of the COG referential package."""
    return load_pins("referentiel")[REFERENTIAL_PACKAGE]
