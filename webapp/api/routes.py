"""The public, read-only HTTP API (``/api/v1/``), served by ``aides serve`` from the latest release.

Every answer is JSON in the published schema's field names and French vocabulary; errors are
``application/problem+json`` with a French message and the offending parameter (an unknown
parameter or value is a ``400``, never a ``500``); answers carry the release's ``ETag`` and
``Last-Modified`` and a revalidation answers ``304``. The OpenAPI 3.1 document is at
``/api/openapi.json``, its human-readable page at ``/api/``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import polars as pl
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from schemas import allowed_values, field_names
from webapp.api import models
from webapp.api.snapshot import LOG, ReleaseSnapshot, ReleaseStore, aid_json, publications

MAX_PAGE = 100
DEFAULT_PAGE = 20
CACHE_CONTROL = "public, max-age=300"
PROBLEM_MEDIA = "application/problem+json"
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_COMMUNE = r"^(COM-)?([0-9]{5}|2[AB][0-9]{3})$"
_DAY = (  # a real calendar day (Gregorian leap years)
    r"([1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|[1-9][0-9]{3}-(0[13-9]|1[0-2])-(29|30)"
    r"|[1-9][0-9]{3}-(0[13578]|1[02])-31|([1-9][0-9](0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26])00)-02-29)"
)
_DEPUIS = (
    rf"^({_DAY}\.[0-9]{{1,4}}|{_DAY}(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"
    r"(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?)?)$"
)

Statut = Literal["ouverte", "à venir", "clôturée", "permanente", "toutes"]
Thematique = Literal[tuple(allowed_values("thematiques"))]  # type: ignore[valid-type]
Cible = Literal[tuple(allowed_values("cibles"))]  # type: ignore[valid-type]
ObjetFinance = Literal[tuple(allowed_values("objets_finances"))]  # type: ignore[valid-type]
EtatMateriel = Literal[tuple(allowed_values("etat_materiel"))]  # type: ignore[valid-type]
Situation = Literal[tuple(allowed_values("situations"))]  # type: ignore[valid-type]
CategorieRevenus = Literal[tuple(allowed_values("categories_revenus"))]  # type: ignore[valid-type]

Page = Annotated[int, Query(ge=1, le=1_000_000, description="Numéro de page, à partir de 1.")]
ParPage = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Aides par page (au plus {MAX_PAGE}).")]
_FIELD = "(" + "|".join(field_names()) + ")"
Champs = Annotated[
    str | None,
    Query(
        max_length=1000,
        pattern=f"^{_FIELD}(,{_FIELD})*$",
        description="Champs à renvoyer, séparés par des virgules (ceux du schéma publié) ; tous par défaut.",
    ),
]
PROBLEMS = {400: models.PROBLEM_RESPONSE, 404: models.PROBLEM_RESPONSE, 429: models.PROBLEM_RESPONSE}


class ApiError(Exception):
    """An answer other than 200, as problem+json."""

    def __init__(self, status: int, title: str, detail: str, parameter: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.parameter, self.extra = status, title, detail, parameter, extra


def problem(status: int, title: str, detail: str, parameter: str | None = None, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "parametre": parameter, **extra}
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=PROBLEM_MEDIA)


# --------------------------------------------------------------------------- helpers


def _check_parameters(request: Request, allowed: set[str]) -> None:
    for name in request.query_params.keys():
        if name not in allowed:
            raise ApiError(
                400,
                "Paramètre inconnu",
                f"Le paramètre « {name} » n'existe pas pour cette adresse. Paramètres acceptés : "
                f"{', '.join(sorted(allowed)) or 'aucun'}.",
                name,
            )


def _fields(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in field_names()]
    if unknown or not names:
        raise ApiError(
            400,
            "Champ inconnu",
            f"Champ(s) inconnu(s) : {', '.join(unknown) or '(aucun)'}. Champs du schéma : {', '.join(field_names())}.",
            "fields",
        )
    return list(dict.fromkeys(names))


def _not_modified(request: Request, snapshot: ReleaseSnapshot) -> bool:
    tags = request.headers.get("if-none-match")
    if tags is not None:
        return any(tag.strip() in (snapshot.etag, snapshot.etag.removeprefix("W/"), "*") for tag in tags.split(","))
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since) >= snapshot.created
        except (TypeError, ValueError, IndexError):
            return False
    return False


def _headers(snapshot: ReleaseSnapshot) -> dict[str, str]:
    return {"ETag": snapshot.etag, "Last-Modified": snapshot.last_modified, "Cache-Control": CACHE_CONTROL}


def _answer(
    request: Request, snapshot: ReleaseSnapshot, body: dict[str, Any], links: models.Liens | None = None
) -> Response:
    headers = _headers(snapshot)
    if links is not None:
        rels = {"first": links.premiere, "last": links.derniere, "prev": links.precedente, "next": links.suivante}
        headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in rels.items() if url)
    return Response(json.dumps(body, ensure_ascii=False, default=str), media_type="application/json", headers=headers)


def _links(request: Request, page: int, per_page: int, total: int) -> models.Liens:
    last = max(1, math.ceil(total / per_page))
    base = str(request.url.path)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

    def at(number: int) -> str:
        return base + "?" + urlencode([*params, ("page", str(number))])

    return models.Liens(
        self=at(page),
        premiere=at(1),
        derniere=at(last),
        precedente=at(page - 1) if 1 < page <= last + 1 else None,
        suivante=at(page + 1) if page < last else None,
    )


def _page(frame: pl.DataFrame, page: int, per_page: int) -> pl.DataFrame:
    return frame.slice((page - 1) * per_page, per_page)


def _snapshot(store: ReleaseStore) -> ReleaseSnapshot:
    snapshot = store.current()
    if snapshot is None:
        raise ApiError(503, "Aucune publication", "Le catalogue n'a encore rien publié : il l'est par `make run`.")
    return snapshot


def _communes(store: ReleaseStore, code: str, parameter: str) -> list[str]:
    resolver = store.resolver()
    if resolver is None:
        raise ApiError(
            503, "Référentiel indisponible", "Le référentiel géographique n'est pas disponible pour l'instant."
        )
    communes = resolver.commune_codes(code)
    if not communes:
        raise ApiError(404, "Territoire inconnu", f"Le territoire « {code.split('-', 1)[1]} » n'existe pas.", parameter)
    return communes


def _contains(column: str, value: str) -> pl.Expr:
    return pl.col(column).list.contains(value)


def _within(low: str, high: str, value: float) -> pl.Expr:
    return (pl.col(low).is_null() | (pl.col(low) <= value)) & (pl.col(high).is_null() | (pl.col(high) >= value))


# --------------------------------------------------------------------------- the application


def create_api(store: ReleaseStore) -> FastAPI:
    """The API application, to be mounted at ``/api``."""
    api = FastAPI(
        title="API du catalogue des aides à la transition écologique",
        version="1.0.0",
        description=(
            "Lecture seule, ouverte, sans jeton. Les aides de la dernière publication, dans les champs "
            "et le vocabulaire du schéma publié (schemas/schema.json). Erreurs au format "
            "application/problem+json. Réponses datées (ETag, Last-Modified) : revalidez-les."
        ),
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    @api.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        return problem(exc.status, exc.title, exc.detail, exc.parameter, **exc.extra)

    @api.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        error = exc.errors()[0] if exc.errors() else {}
        where = [str(part) for part in error.get("loc", ()) if part not in ("query", "path")]
        parameter = where[0] if where else None
        value = error.get("input")
        return problem(
            400,
            "Paramètre invalide",
            f"Valeur {value!r} refusée pour « {parameter} » : {error.get('msg', 'invalide')}.",
            parameter,
        )

    @api.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Adresse inconnue", 405: "Méthode non autorisée"}
        return problem(exc.status_code, titles.get(exc.status_code, "Erreur"), str(exc.detail))

    @api.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        LOG.error("erreur inattendue sur %s", request.url.path, exc_info=exc)
        return problem(500, "Erreur inattendue", "Une erreur est survenue de notre côté.")

    # ------------------------------------------------------------------ aids

    @api.get(
        "/v1/aides",
        response_model=models.ListeAides,
        responses={**PROBLEMS, 503: models.PROBLEM_RESPONSE},
        summary="Les aides, filtrées, triées, paginées",
    )
    def list_aids(
        request: Request,
        commune: Annotated[
            str | None,
            Query(
                pattern=_COMMUNE,
                description="Code INSEE d'une commune (arrondissements et communes déléguées acceptés) : les aides qui s'y appliquent.",
            ),
        ] = None,
        epci: Annotated[
            str | None,
            Query(
                pattern=r"^[0-9]{9}$",
                description="SIREN d'un EPCI : les aides qui s'appliquent dans au moins une de ses communes.",
            ),
        ] = None,
        departement: Annotated[
            str | None, Query(pattern=r"^([0-9]{2}|2[AB]|97[1-8])$", description="Code d'un département.")
        ] = None,
        region: Annotated[str | None, Query(pattern=r"^[0-9]{2}$", description="Code d'une région.")] = None,
        thematique: Annotated[Thematique | None, Query(description="Une thématique du schéma.")] = None,
        cible: Annotated[Cible | None, Query(description="Un public du schéma.")] = None,
        type: Annotated[str | None, Query(max_length=100, description="Un type d'aide (types_aides).")] = None,
        statut: Annotated[
            Statut | None,
            Query(description="Statut ; par défaut les aides ouvertes et permanentes ; « toutes » pour toutes."),
        ] = None,
        ouverte_le: Annotated[date | None, Query(description="Les aides ouvertes à cette date (AAAA-MM-JJ).")] = None,
        porteur: Annotated[
            str | None,
            Query(min_length=2, max_length=200, description="SIREN ou nom (exact, sans casse) d'un porteur."),
        ] = None,
        q: Annotated[
            str | None,
            Query(
                max_length=200,
                description="Recherche plein texte en français (accents, pluriels, mots vides), classée par pertinence.",
            ),
        ] = None,
        objets_finances: Annotated[ObjetFinance | None, Query(description="Ce que l'aide finance.")] = None,
        etat_materiel: Annotated[EtatMateriel | None, Query(description="État du matériel financé.")] = None,
        situations: Annotated[Situation | None, Query(description="Une situation du bénéficiaire.")] = None,
        categories_revenus: Annotated[
            CategorieRevenus | None, Query(description="Catégorie de revenus du ménage.")
        ] = None,
        age: Annotated[
            int | None,
            Query(
                ge=0, le=130, description="Âge du bénéficiaire : aides sans limite d'âge ou dont les bornes l'incluent."
            ),
        ] = None,
        effectif: Annotated[int | None, Query(ge=0, le=10_000_000, description="Effectif de l'entreprise.")] = None,
        depense: Annotated[
            float | None, Query(ge=0, le=1e12, description="Montant de la dépense envisagée (€).")
        ] = None,
        page: Page = 1,
        par_page: ParPage = DEFAULT_PAGE,
        fields: Champs = None,
    ) -> Response:
        _check_parameters(request, set(_LIST_PARAMETERS))
        selected = _fields(fields)
        snapshot = _snapshot(store)
        if _not_modified(request, snapshot):
            return Response(status_code=304, headers=_headers(snapshot))
        frame = snapshot.base.lazy()  # only the columns the filters read are touched
        conditions: list[pl.Expr] = []
        if statut is None:
            conditions.append(pl.col("_ouverte"))
        elif statut != "toutes":
            conditions.append(pl.col("statut") == statut)
        for parameter, column in (
            (thematique, "_thematiques"),
            (cible, "_cibles"),
            (type, "_types_aides"),
            (objets_finances, "_objets_finances"),
            (etat_materiel, "_etat_materiel"),
            (situations, "_situations"),
            (categories_revenus, "_categories_revenus"),
        ):
            if parameter is not None:
                conditions.append(_contains(column, parameter))
        if porteur is not None:
            conditions.append(_contains("_porteurs", porteur.strip().lower()))
        if ouverte_le is not None:
            opens = pl.col("date_ouverture").dt.convert_time_zone("Europe/Paris").dt.date()
            closes = pl.col("date_cloture").dt.convert_time_zone("Europe/Paris").dt.date()
            conditions.append((opens.is_null() | (opens <= ouverte_le)) & (closes.is_null() | (closes >= ouverte_le)))
        if age is not None:
            conditions.append(_within("age_min", "age_max", age))
        if effectif is not None:
            conditions.append(_within("effectif_min", "effectif_max", effectif))
        if depense is not None:
            conditions.append(_within("depense_min", "depense_max", depense))
        territories = [
            (commune, "commune", lambda v: f"COM-{v.removeprefix('COM-')}"),
            (epci, "epci", lambda v: f"EPCI-{v}"),
            (departement, "departement", lambda v: f"DEP-{v}"),
            (region, "region", lambda v: f"REG-{v}"),
        ]
        for value, parameter, code in territories:
            if value is None:
                continue
            if parameter == "commune":
                current = _current_commune(store, value)
                ids = snapshot.territory_ids(current, [current])
            else:
                ids = snapshot.territory_ids(code(value), _communes(store, code(value), parameter))
            conditions.append(pl.col("id").is_in(ids.implode()))
        if conditions:
            frame = frame.filter(pl.all_horizontal(conditions))
        if q:
            scores = snapshot.search.scores(q).lazy()
            frame = frame.join(scores, on="_pos").sort(["_score", "_rang"], descending=[True, False])
        else:
            frame = frame.sort("_rang")
        positions = frame.select("_pos").collect()["_pos"]
        total = positions.len()
        links = _links(request, page, par_page, total)
        rows = snapshot.rows_at(positions.slice((page - 1) * par_page, par_page))
        body = {
            "publication": snapshot.version,
            "total": total,
            "page": page,
            "par_page": par_page,
            "liens": links.model_dump(),
            "aides": [aid_json(row, selected) for row in rows],
        }
        return _answer(request, snapshot, body, links)

    @api.get(
        "/v1/aides/{aide_id}",
        response_model=models.Aide,
        responses={
            **PROBLEMS,
            301: {"description": "Aide fusionnée dans une autre : Location donne l'aide qui la remplace."},
            410: models.PROBLEM_RESPONSE,
            503: models.PROBLEM_RESPONSE,
        },
        summary="Une aide",
    )
    def one_aid(
        request: Request,
        aide_id: Annotated[str, Path(pattern=_UUID, description="Identifiant stable de l'aide (UUID).")],
        fields: Champs = None,
    ) -> Response:
        _check_parameters(request, {"fields"})
        selected = _fields(fields)
        snapshot = _snapshot(store)
        row = snapshot.row(aide_id)
        if row is None:
            target = snapshot.history.redirects.get(aide_id)
            if target is not None and snapshot.row(target) is not None:
                location = str(request.url.path).rsplit("/", 1)[0] + "/" + target
                query = f"?{request.url.query}" if request.url.query else ""
                return RedirectResponse(location + query, status_code=301, headers=_headers(snapshot))
            removed = snapshot.history.removed.get(aide_id)
            if removed is not None:
                version, when = removed
                raise ApiError(
                    410,
                    "Aide supprimée",
                    f"Cette aide a été retirée du catalogue à la publication {version} ({when.date().isoformat()}).",
                    date=when.isoformat().replace("+00:00", "Z"),
                )
            raise ApiError(404, "Aide inconnue", f"Aucune aide n'a l'identifiant {aide_id}.", "aide_id")
        if _not_modified(request, snapshot):
            return Response(status_code=304, headers=_headers(snapshot))
        return _answer(request, snapshot, aid_json(row, selected))

    @api.get(
        "/v1/communes/{code}/aides",
        response_model=models.AidesCommune,
        responses={**PROBLEMS, 503: models.PROBLEM_RESPONSE},
        summary="Les aides qui s'appliquent dans une commune",
    )
    def commune_aids(
        request: Request,
        code: Annotated[
            str,
            Path(
                pattern=_COMMUNE, description="Code INSEE (arrondissement, commune déléguée ou ancien code acceptés)."
            ),
        ],
        statut: Annotated[
            Statut | None, Query(description="Par défaut les aides ouvertes et permanentes ; « toutes » pour toutes.")
        ] = None,
        page: Page = 1,
        par_page: ParPage = DEFAULT_PAGE,
        fields: Champs = None,
    ) -> Response:
        _check_parameters(request, {"statut", "page", "par_page", "fields"})
        selected = _fields(fields)
        snapshot = _snapshot(store)
        current = _current_commune(store, code)
        if _not_modified(request, snapshot):
            return Response(status_code=304, headers=_headers(snapshot))
        ids = snapshot.territory_ids(current, [current])
        frame = snapshot.base.lazy().filter(pl.col("id").is_in(ids.implode()))
        if statut is None:
            frame = frame.filter(pl.col("_ouverte"))
        elif statut != "toutes":
            frame = frame.filter(pl.col("statut") == statut)
        positions = frame.sort(["echelle", "_rang"], nulls_last=True).select("_pos").collect()["_pos"]
        links = _links(request, page, par_page, positions.len())
        body = {
            "publication": snapshot.version,
            "commune": current,
            "demande": code,
            "total": positions.len(),
            "page": page,
            "par_page": par_page,
            "liens": links.model_dump(),
            "aides": [
                aid_json(row, selected) for row in snapshot.rows_at(positions.slice((page - 1) * par_page, par_page))
            ],
        }
        return _answer(request, snapshot, body, links)

    # ------------------------------------------------------------------ territories, publications, changes

    @api.get(
        "/v1/territoires",
        response_model=models.Territoires,
        responses={**PROBLEMS, 503: models.PROBLEM_RESPONSE},
        summary="Trouver un territoire par son nom, son code postal ou son code",
    )
    def territories(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=200, description="Nom, code postal ou code.")],
    ) -> Response:
        from webapp.queries import search_territory

        _check_parameters(request, {"q"})
        snapshot = _snapshot(store)
        resolver = store.resolver()
        if resolver is None:
            raise ApiError(
                503, "Référentiel indisponible", "Le référentiel géographique n'est pas disponible pour l'instant."
            )
        answer = search_territory(resolver, q, store.territory_index())
        body = {
            "q": q,
            "statut": answer.status,
            "message": answer.message,
            "territoires": [{"code": c.code, "libelle": c.label} for c in answer.candidates[:50]],
        }
        return _answer(request, snapshot, body)

    @api.get("/v1/publications", response_model=models.Publications, responses=PROBLEMS, summary="Les publications")
    def list_publications(request: Request) -> Response:
        _check_parameters(request, set())
        found = publications(store.paths)
        snapshot = store.current()
        base = str(request.base_url).rstrip("/")
        body = {
            "publications": [
                {
                    "version": p.version,
                    "date": p.created.isoformat().replace("+00:00", "Z"),
                    "derniere": i == len(found) - 1,
                    "aides": snapshot.aides.height if snapshot is not None and snapshot.version == p.version else None,
                    "fichiers": {
                        name: f"{base}/telechargements/{p.version}/{name}"
                        for name in sorted(
                            f.name for f in p.folder.iterdir() if f.is_file() and not f.name.startswith(".")
                        )
                    },
                }
                for i, p in enumerate(found)
            ][::-1]
        }
        if snapshot is None:
            return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")
        return _answer(request, snapshot, body)

    @api.get(
        "/v1/changements",
        response_model=models.Changements,
        responses={**PROBLEMS, 503: models.PROBLEM_RESPONSE},
        summary="Ce qui a changé depuis une publication ou une date",
    )
    def changes(
        request: Request,
        depuis: Annotated[
            str,
            Query(
                min_length=1,
                max_length=40,
                pattern=_DEPUIS,
                description="Une version (AAAA-MM-JJ.N) ou une date (AAAA-MM-JJ, ou date et heure ISO) : les "
                "changements depuis la publication de ce moment.",
            ),
        ],
        page: Page = 1,
        par_page: ParPage = MAX_PAGE,
    ) -> Response:
        _check_parameters(request, {"depuis", "page", "par_page"})
        snapshot = _snapshot(store)
        start = _starting_version(snapshot, depuis)
        if _not_modified(request, snapshot):
            return Response(status_code=304, headers=_headers(snapshot))
        changed = snapshot.changes_since(start or "")
        links = _links(request, page, par_page, changed.height)
        items = []
        for change in _page(changed, page, par_page).to_dicts():
            row = snapshot.row(change["id"])
            if change["changement"] == "supprimée" or row is None:
                items.append({"id": change["id"], "changement": change["changement"], "champs": [], "aide": None})
                continue
            names = (
                [n for n in (change["champs"] or "").split("|") if n] if change["changement"] == "modifiée" else None
            )
            aid = aid_json(row, names)
            items.append({"id": change["id"], "changement": change["changement"], "champs": list(aid), "aide": aid})
        body = {
            "publication": snapshot.version,
            "depuis": start,
            "total": changed.height,
            "page": page,
            "par_page": par_page,
            "liens": links.model_dump(),
            "changements": items,
        }
        return _answer(request, snapshot, body, links)

    return api


_LIST_PARAMETERS = (
    "commune", "epci", "departement", "region", "thematique", "cible", "type", "statut", "ouverte_le", "porteur",
    "q", "objets_finances", "etat_materiel", "situations", "categories_revenus", "age", "effectif", "depense",
    "page", "par_page", "fields",
)  # fmt: skip


def _current_commune(store: ReleaseStore, code: str) -> str:
    resolver = store.resolver()
    bare = code.removeprefix("COM-")
    current = resolver.current_commune(bare) if resolver is not None else bare
    if current is None:
        raise ApiError(404, "Commune inconnue", f"Le code « {bare} » n'est pas une commune du référentiel.", "commune")
    return current


_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}\.\d+$")


def _starting_version(snapshot: ReleaseSnapshot, depuis: str) -> str | None:
    """The release ``depuis`` names, or the last one published at or before that moment (None:
    before the first one, so everything is new)."""
    text = depuis.strip()
    if _VERSION.match(text):
        if text != snapshot.version and text not in snapshot.earlier:
            raise ApiError(404, "Publication inconnue", f"Aucune publication n'a la version « {text} ».", "depuis")
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(
            400, "Paramètre invalide", f"« {text} » n'est ni une version (AAAA-MM-JJ.N) ni une date ISO.", "depuis"
        ) from exc
    if moment.tzinfo is None:
        moment = (
            moment.replace(tzinfo=UTC)
            if len(text) > 10
            else datetime(moment.year, moment.month, moment.day, 23, 59, 59, tzinfo=UTC)
        )
    candidates = [(p.created, p.version) for p in snapshot.earlier.values()] + [(snapshot.created, snapshot.version)]
    before = [version for created, version in sorted(candidates) if created <= moment]
    return before[-1] if before else None
