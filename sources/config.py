"""Each adapter's configuration as a validated model, checked when the declarations are loaded.

An adapter module declares ``Config``, a subclass of :class:`AdapterConfig`; the registry
validates every entry's ``[source.config]`` against it, so that a misspelt or unknown key
(``delimter``, ``fileds``) is an error naming the file and the source at load time, never a
setting silently ignored. Adapters keep reading ``spec.config`` as a dict; the model states
what that dict may hold.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class AdapterConfig(BaseModel):
    """Base of every adapter's configuration: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TitleTemplate(AdapterConfig):
    """How the catalogue titles an aid its source names after its publisher
    (``warehouse/normalise/conditions.py``)."""

    modele: str
    objet_par_defaut: str = ""


class SourceConfig(AdapterConfig):
    """Keys every source may state, whatever its adapter."""

    # Largest share of the last run's records a new payload may drop before the change is held.
    baisse_max: float | None = Field(default=None, ge=0, le=1)
    # The source lists withdrawn aids (a historical file…): each is « clôturée », for this reason.
    retrait: str | None = None
    titre: TitleTemplate | None = None


class Perimetre(AdapterConfig):
    """A source's stated territory (``sources/adapters/jsonapi.geo_from_config``)."""

    niveau: str
    code: str | None = None
    nom: str | None = None


class NoConfig(SourceConfig):
    """An adapter that reads nothing of its own from ``[source.config]``."""


def config_errors(module: ModuleType, config: dict[str, Any]) -> list[str]:
    """What is wrong with ``config`` for the adapter ``module``, in French, one line per error."""
    model: type[AdapterConfig] = getattr(module, "Config", NoConfig)
    try:
        model.model_validate(config)
    except ValidationError as exc:
        return [_describe(error) for error in exc.errors()]
    return []


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "config"
    if error["type"] == "extra_forbidden":
        return f"clé inconnue : {where}"
    if error["type"] == "missing":
        return f"clé obligatoire absente : {where}"
    return f"{where} : {error['msg']} (valeur {error.get('input')!r})"
