"""``/couverture``: where the catalogue holds a collectivité's own aids, and whether its agents checked.

The page reads ``couverture.csv`` of the latest release (readers read releases: never the
warehouse being written), as a map of France by département (share of the listed territories
that have aids of their own, :mod:`webapp.coverage_map`) and as a table of every région,
département, EPCI and commune of more than 10,000 inhabitants, filtered, sorted and paginated on
the server (``niveau``, ``departement``, ``aides``, ``tri``, ``ordre``, ``page``), so that it works
without JavaScript and every view has its own address.

Reviews are the exception, read live from the warehouse (read-only) as ``/mon-territoire`` reads
submissions: an agent who declares « relu, rien à signaler » sees it at once, on their page and
in their territory's row, without waiting for the next release that will carry it in
``couverture.csv``.

The declaration itself is a POST (``/mon-territoire/relu``) with the session's CSRF token, like
the app's other forms, written through the application's single writer
(``WarehouseAccess.writer``) into the append-only ``relectures`` table
(``warehouse.submissions.reviews``). :func:`add_coverage_routes` adds all this to the application
built by ``webapp.app.create_app``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
import polars as pl
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from schemas import load_coverage_schema
from warehouse.db import WarehouseBusyError, WarehouseMissingError
from warehouse.publication.coverage import LEVELS, latest_reviews
from warehouse.publication.release_files import COVERAGE_CSV
from warehouse.submissions import checks, reviews, tokens
from webapp.auth import Session, csrf_valid
from webapp.coverage_map import (
    CLASSES,
    MAP_LICENCE,
    MAP_LICENCE_URL,
    MAP_PACKAGE,
    MAP_SOURCE_URL,
    NO_DATA,
    DepartementsMap,
    MapUnavailable,
    colour_of,
    load_map,
)
from webapp.queries import LEVEL_NAMES, WarehouseAccess, latest_release

LOG = logging.getLogger("webapp.coverage")
PER_PAGE = 50
LEVEL_LABELS = {
    "region": "Région",
    "departement": "Département",
    "epci": "Intercommunalité (EPCI)",
    "commune": "Commune",
}
# Sortable columns: query value → (header, column sorted on). None: not sortable.
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("nom", "Territoire", "_cle_nom"),
    ("niveau", "Niveau", "_rang"),
    ("departement", "Département", "departement"),
    ("population", "Population", "population"),
    ("aides", "Aides propres", "nb_aides_propres"),
    ("sources", "Sources", None),
    ("collecte", "Dernière collecte", "derniere_collecte"),
    ("relecture", "Relecture", "date_relecture"),
)
SORT_KEYS = {key: column for key, _label, column in COLUMNS if column}
DEFAULT_SORT = "niveau"
OWN_AIDS_FILTERS = {"avec": "avec des aides propres", "sans": "sans aide propre"}
_INTEGERS = ("population", "nb_aides_propres", "nb_aides_propres_ouvertes")
_BOOLEANS = ("a_des_aides_propres", "relue")


# --------------------------------------------------------------------------- reading the release


_cache: dict[Path, tuple[int, pl.DataFrame]] = {}
_cache_lock = threading.Lock()


def read_coverage(release: Path) -> pl.DataFrame | None:
    """The rows of ``release``'s couverture.csv, typed (None when that release has none); re-read only
    when the file changes."""
    path = release / COVERAGE_CSV
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    text = pl.read_csv(path, infer_schema=False, encoding="utf8", empty_string_is_null=True)
    expected = [field["name"] for field in load_coverage_schema()["fields"]]
    if text.columns != expected:
        raise ValueError(f"{path} : colonnes {text.columns} au lieu de {expected}")
    frame = text.with_columns(
        *(pl.col(name).cast(pl.Int64) for name in _INTEGERS),
        *((pl.col(name) == "true").alias(name) for name in _BOOLEANS),
    )
    with _cache_lock:
        _cache[path] = (stamp, frame)
    return frame


def with_live_reviews(frame: pl.DataFrame, live: pl.DataFrame | None) -> pl.DataFrame:
    """``frame`` with each territory's latest review, the release's or a later one of the warehouse."""
    if live is None or live.is_empty():
        return frame
    joined = frame.join(
        live.select(
            "code", pl.col("date_relecture").alias("_live_le"), pl.col("nature_relecture").alias("_live_nature")
        ),
        on="code",
        how="left",
    )
    later = pl.col("_live_le").is_not_null() & (
        pl.col("date_relecture").is_null() | (pl.col("_live_le") > pl.col("date_relecture"))
    )
    return joined.with_columns(
        pl.when(later).then(pl.col("_live_le")).otherwise(pl.col("date_relecture")).alias("date_relecture"),
        pl.when(later).then(pl.col("_live_nature")).otherwise(pl.col("nature_relecture")).alias("nature_relecture"),
        (pl.col("relue") | pl.col("_live_le").is_not_null()).alias("relue"),
    ).drop("_live_le", "_live_nature")


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class CoverageQuery:
    """What the visitor asked for, read from the query string; unknown values fall back to defaults."""

    niveau: str = ""
    departement: str = ""
    aides: str = ""
    tri: str = DEFAULT_SORT
    ordre: str = "asc"
    page: int = 1

    def params(self, **changes: Any) -> str:
        """The query string of this view with ``changes`` (defaults left out)."""
        values = {**self.__dict__, **changes}
        kept = {
            key: value
            for key, value in values.items()
            if value not in ("", None) and (key, value) not in (("tri", DEFAULT_SORT), ("ordre", "asc"), ("page", 1))
        }
        return "/couverture" + (f"?{urlencode(kept)}" if kept else "")


def read_query(params: dict[str, str], departements: set[str]) -> tuple[CoverageQuery, list[str]]:
    """The query, and what was ignored (in French)."""
    ignored: list[str] = []
    niveau = params.get("niveau", "")
    if niveau and niveau not in LEVELS:
        ignored.append(f"niveau « {niveau[:40]} » inconnu")
        niveau = ""
    departement = params.get("departement", "").strip().upper()
    if departement and departement not in departements:
        ignored.append(f"département « {departement[:40]} » inconnu")
        departement = ""
    aides = params.get("aides", "")
    aides = aides if aides in OWN_AIDS_FILTERS else ""
    tri = params.get("tri", DEFAULT_SORT)
    tri = tri if tri in SORT_KEYS else DEFAULT_SORT
    ordre = "desc" if params.get("ordre") == "desc" else "asc"
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    return CoverageQuery(niveau, departement, aides, tri, ordre, page), ignored


def select_rows(frame: pl.DataFrame, query: CoverageQuery) -> pl.DataFrame:
    """The rows of the view: filtered, then sorted (empty values last, ties by level then code)."""
    rows = frame
    if query.niveau:
        rows = rows.filter(pl.col("niveau") == query.niveau)
    if query.departement:
        rows = rows.filter(pl.col("departement") == query.departement)
    if query.aides:
        rows = rows.filter(pl.col("a_des_aides_propres") == (query.aides == "avec"))
    rows = rows.with_columns(
        pl.col("niveau").replace_strict({level: rank for rank, level in enumerate(LEVELS)}, default=9).alias("_rang"),
        pl.col("nom").str.normalize("NFKD").str.replace_all(r"\p{M}", "").str.to_lowercase().alias("_cle_nom"),
    )
    key = SORT_KEYS[query.tri]
    ties = [name for name in ("_rang", "_cle_nom", "code") if name != key]
    return rows.sort(
        [key, *ties], descending=[query.ordre == "desc"] + [False] * len(ties), nulls_last=True, maintain_order=True
    )


def headers(query: CoverageQuery) -> list[dict[str, Any]]:
    """Each column header: its label, the address that sorts on it, and ``aria-sort`` when it is the sort."""
    found = []
    for key, label, column in COLUMNS:
        header: dict[str, Any] = {"key": key, "label": label, "href": None, "aria_sort": None, "next": None}
        if column is not None:
            current = query.tri == key
            following = "desc" if current and query.ordre == "asc" else "asc"
            header["href"] = query.params(tri=key, ordre=following, page=1)
            header["next"] = "décroissant" if following == "desc" else "croissant"
            if current:
                header["aria_sort"] = "ascending" if query.ordre == "asc" else "descending"
        found.append(header)
    return found


def pagination(query: CoverageQuery, total: int) -> dict[str, Any]:
    """Pages of the view: the current one, its neighbours, the first and last, with their addresses."""
    count = max(1, -(-total // PER_PAGE))
    current = min(query.page, count)
    shown = sorted({1, count, *range(max(1, current - 1), min(count, current + 1) + 1)})
    items: list[dict[str, Any]] = []
    for number in shown:
        if items and number - items[-1]["number"] > 1:
            items.append({"number": number - 1, "href": None, "gap": True})
        items.append({"number": number, "href": query.params(page=number), "current": number == current})
    return {
        "current": current,
        "count": count,
        "items": items,
        "first": query.params(page=1) if current > 1 else None,
        "previous": query.params(page=current - 1) if current > 1 else None,
        "next": query.params(page=current + 1) if current < count else None,
        "last": query.params(page=count) if current < count else None,
    }


def summary(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Per level: how many territories, with own aids, reviewed."""
    counts = frame.group_by("niveau").agg(
        pl.len().alias("total"),
        pl.col("a_des_aides_propres").sum().alias("couverts"),
        pl.col("relue").sum().alias("relus"),
    )
    by_level = {row["niveau"]: row for row in counts.iter_rows(named=True)}
    return [{"niveau": level, "label": LEVEL_LABELS[level], **by_level[level]} for level in LEVELS if level in by_level]


def choropleth(frame: pl.DataFrame, contours: DepartementsMap) -> list[dict[str, Any]]:
    """One entry per contour: its colour and its title (share of its territories with own aids)."""
    shares = (
        frame.filter(pl.col("niveau") != "region", pl.col("departement").is_not_null())
        .group_by("departement")
        .agg(pl.len().alias("total"), pl.col("a_des_aides_propres").sum().alias("couverts"))
    )
    by_code = {row["departement"]: row for row in shares.iter_rows(named=True)}
    drawn = []
    for location in contours.locations:  # 96 contours
        row = by_code.get(location.code)
        if row:
            share: float | None = row["couverts"] / row["total"]
            title = (
                f"{location.name} ({location.code}) : {row['couverts']} territoire(s) sur {row['total']} "
                f"avec des aides propres ({round(100 * row['couverts'] / row['total'])} %)"
            )
        else:
            share, title = None, f"{location.name} ({location.code}) : aucun territoire listé"
        fill, label = colour_of(share)
        drawn.append({"code": location.code, "path": location.path, "fill": fill, "title": title, "classe": label})
    return drawn


def legend() -> list[dict[str, str]]:
    return [{"fill": fill, "label": label} for _low, fill, label in CLASSES] + [
        {"fill": NO_DATA[0], "label": NO_DATA[1]}
    ]


# --------------------------------------------------------------------------- routes


def add_coverage_routes(
    app: FastAPI,
    access: WarehouseAccess,
    render: Callable[..., Response],
    agent_session: Callable[[Request], Session | None],
    load_session: Callable[[Request], Session],
    templates: Jinja2Templates | None = None,
) -> None:
    """Add ``GET /couverture`` and ``POST /mon-territoire/relu`` to ``app``; with ``templates``, also
    the ``relectures_de(siren)`` function that ``mon_territoire.html`` shows the last reviews with.

    ``render``, ``agent_session`` and ``load_session`` are the application's own (``create_app``)."""
    from webapp.app import PageError, read_urlencoded  # here: webapp.app imports this module

    paths = access.paths
    try:
        load_map()
    except MapUnavailable as exc:
        LOG.warning("carte de la couverture indisponible : %s", exc)

    def live_reviews() -> pl.DataFrame | None:
        try:
            with access.reader(timeout_s=5.0) as conn:
                return latest_reviews(conn)
        except (WarehouseMissingError, WarehouseBusyError, duckdb.Error, OSError) as exc:
            LOG.warning("relectures non lues dans l'entrepôt : %s", exc)
            return None

    def reviews_of(siren: str | None) -> list[reviews.Review]:
        """The collectivité's last reviews, for its agent's page; nothing (never an error) when unreadable."""
        if not siren:
            return []
        try:
            with access.reader(timeout_s=5.0) as conn:
                return reviews.reviews_of(conn, siren)
        except (WarehouseMissingError, WarehouseBusyError, duckdb.Error, OSError) as exc:
            LOG.warning("relectures de %s non lues : %s", siren, exc)
            return []

    if templates is not None:
        templates.env.globals["relectures_de"] = reviews_of

    @app.get("/couverture", response_class=HTMLResponse)
    def coverage_page(request: Request) -> Response:
        session = load_session(request)
        release = latest_release(paths)
        context: dict[str, Any] = {"release": release.name if release else None, "csv": COVERAGE_CSV}
        frame = read_coverage(release) if release else None
        if frame is None:
            return render(request, "couverture.html", {**context, "lignes": None}, session)
        frame = with_live_reviews(frame, live_reviews())
        departements = frame.filter(pl.col("niveau") == "departement").select("departement", "nom").sort("departement")
        query, ignored = read_query(dict(request.query_params), set(departements["departement"].to_list()))
        rows = select_rows(frame, query)
        pages = pagination(query, rows.height)
        shown = rows.slice((pages["current"] - 1) * PER_PAGE, PER_PAGE)
        try:
            contours: DepartementsMap | None = load_map()
            problem = None
        except MapUnavailable as exc:
            contours, problem = None, str(exc)
        context.update(
            {
                "lignes": shown.to_dicts(),
                "total": rows.height,
                "query": query,
                "ignores": ignored,
                "entetes": headers(query),
                "pages": pages,
                "resume": summary(frame),
                "departements": departements.rows(),
                "niveaux": [(level, LEVEL_LABELS[level]) for level in LEVELS],
                "filtres_aides": OWN_AIDS_FILTERS,
                "niveau_noms": LEVEL_NAMES,
                "carte": (
                    {
                        "view_box": contours.view_box,
                        "departements": choropleth(frame, contours),
                        "version": contours.version,
                        "auteur": contours.author,
                    }
                    if contours
                    else None
                ),
                "carte_probleme": problem,
                "legende": legend(),
                "credit": {"paquet": MAP_PACKAGE, "licence": MAP_LICENCE, "licence_url": MAP_LICENCE_URL},
                "source_carte": MAP_SOURCE_URL,
            }
        )
        return render(request, "couverture.html", context, session)

    @app.post("/mon-territoire/relu")
    async def review_submit(request: Request) -> Response:
        session = await run_in_threadpool(agent_session, request)
        if session is None:
            raise PageError(
                403, "Connexion requise", "Connectez-vous avec votre jeton d'accès avant de déclarer une relecture."
            )
        form = await read_urlencoded(request)
        if not csrf_valid(session, form.get("csrf")):
            raise PageError(403, "Session expirée", "Le formulaire a expiré : rechargez la page puis recommencez.")
        await run_in_threadpool(record, session, form.get("note"))
        return RedirectResponse("/mon-territoire?relu=1#relecture", status_code=303)

    def record(session: Session, note: str | None) -> reviews.Review:
        """Append the review of the agent's territory, as the application's single writer."""
        with access.reader() as conn:
            code = checks.territory_code(access.resolver(conn), session.siren or "")
        if code is None:
            raise PageError(404, "Territoire inconnu", "Votre collectivité n'est pas reconnue par le référentiel.")
        identity = tokens.Identity(session.siren or "", session.email or "")
        with access.writer() as conn:
            return reviews.record_review(conn, code, identity, token_id=session.jeton, note=note)
