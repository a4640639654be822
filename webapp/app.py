"""`aides serve`: the web application of the catalogue, for everyone and for collectivités' agents.

Public pages read the catalogue: find a territory (by name, postal code or code), see every
aid that applies there with what needs checking, read one aid with its provenance, download
the releases. Agents log in with their access token (``warehouse.submissions.tokens``; the
:class:`~warehouse.submissions.tokens.Authenticator` seam lets ProConnect replace it by configuration),
download their territory's pre-filled file and upload it back.

The upload is the only write path and is careful:

- the body is read as a stream with a hard limit, in memory: too large → 413 before the
  file is read any further, and nothing from an upload ever touches the disk except through
  ``warehouse.submissions.store.store_submission`` (Starlette's form parser would spool big
  parts to temporary files, so multipart is parsed here, in memory);
- the CSRF token of the session must come back in the form (403 otherwise);
- the validator's report is shown at once (line, column, value, what to fix); a file about
  another territory is refused with 403 and the attempt logged; only a valid file is stored.

Nothing crashes in front of a visitor: every error becomes a French page without a trace.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import duckdb
import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warehouse.db import WarehouseBusyError, WarehouseMissingError
from warehouse.settings import PROJECT_ROOT, WarehousePaths, warehouse_paths
from warehouse.submissions import checks, prefill, store, tokens
from webapp import markdown, queries
from webapp.api.feeds import register_feeds
from webapp.api.http import HeadAsGet, OpenCors, RateLimit
from webapp.api.routes import create_api
from webapp.api.snapshot import ReleaseStore
from webapp.auth import LoginThrottle, Session, SessionManager, csrf_valid, login, logout
from webapp.coverage import add_coverage_routes
from webapp.french import date_fr, empty, montant, nombre
from webapp.reports import KeptReport, ReportCache, report_csv, report_page

LOG = logging.getLogger("webapp")
HERE = Path(__file__).resolve().parent
DSFR_DIST = PROJECT_ROOT / "web" / "node_modules" / "@gouvfr" / "dsfr" / "dist"
SCHEMA_FILES = {"schema.json": "application/json", "README.md": "text/plain", "CHANGELOG.md": "text/plain"}
MAX_UPLOAD_BYTES = checks.MAX_BYTES
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, headers and the CSRF field around the file
FORM_LIMIT = 16 * 1024  # a login or logout form
DRAIN_LIMIT = 64 * 1024 * 1024  # past the limit, read (and drop) this much so the browser sees the answer
BODY_READ_TIMEOUT_S = 10.0  # the longest wait for the next piece of a request body

_STATUS_TITLES = {
    400: ("Requête incorrecte", "La requête ne peut pas être lue."),
    403: ("Accès refusé", "Vous n'avez pas le droit de faire cette action."),
    404: ("Page introuvable", "La page que vous cherchez n'existe pas ou a été déplacée."),
    405: ("Méthode non autorisée", "Cette adresse ne s'utilise pas de cette façon."),
    408: ("Envoi interrompu", "La requête n'est pas arrivée à temps : renvoyez-la."),
    429: ("Trop de tentatives", "Trop de tentatives de connexion : patientez un peu avant de réessayer."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille maximale acceptée."),
    415: ("Format non pris en charge", "Le contenu envoyé n'est pas dans un format accepté."),
    422: ("Requête incorrecte", "Les informations envoyées ne sont pas valides."),
    500: (
        "Erreur inattendue",
        "Une erreur est survenue de notre côté. Réessayez plus tard ; "
        "si le problème persiste, signalez-le à l'équipe du catalogue.",
    ),
    503: (
        "Service momentanément indisponible",
        "Le catalogue est en cours de mise à jour. Réessayez dans quelques minutes.",
    ),
}


class PageError(Exception):
    """An error shown to the visitor as a French page with this status, title and message."""

    def __init__(self, status: int, title: str | None = None, message: str | None = None) -> None:
        default_title, default_message = _STATUS_TITLES.get(status, ("Erreur", "Une erreur est survenue."))
        super().__init__(message or default_message)
        self.status, self.title, self.message = status, title or default_title, message or default_message


class BodyTooLarge(Exception):
    """The request body went past its limit while being read."""


# --------------------------------------------------------------------------- formatting


def datetime_fr(value: Any) -> str:
    """15 janvier 2026 à 19:27 (Paris time); an ISO text (a datapackage's ``created``) is read first."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo("Europe/Paris"))
        return f"{date_fr(value)} à {value.strftime('%H:%M')}"
    return date_fr(value)


def taille(value: Any) -> str:
    """A size in bytes, the French way: 812 octets, 12,4 ko, 3,1 Mo."""
    if empty(value):
        return ""
    size = float(value)
    for unit in ("octets", "ko", "Mo", "Go"):
        if size < 1000 or unit == "Go":
            return f"{nombre(size, 0 if unit == 'octets' else 1)}\u00a0{unit}"
        size /= 1000
    return str(value)


STATUT_BADGES = {
    "ouverte": "fr-badge--success",
    "permanente": "fr-badge--info",
    "à venir": "fr-badge--new",
    "clôturée": "fr-badge--error",
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(("html", "xml"), default_for_string=True, default=True),
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        date_fr=date_fr,
        datetime_fr=datetime_fr,
        nombre=nombre,
        montant=montant,
        taille=taille,
        url_territoire=queries.territory_url_code,
    )
    env.filters.update(markdown.FILTERS)  # markdown, texte_brut: texts as their authors meant them
    env.globals.update(STATUT_BADGES=STATUT_BADGES, LEVEL_NAMES=queries.LEVEL_NAMES)
    return env


# --------------------------------------------------------------------------- request bodies


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read chunk by chunk, refused as soon as it passes ``limit`` bytes.

    When too large, the rest (up to :data:`DRAIN_LIMIT`) is read and dropped, so that the
    browser, still sending, receives the 413 answer instead of a reset connection.
    """
    declared = request.headers.get("content-length")
    too_large = False
    if declared is not None:
        try:
            too_large = int(declared) > limit
        except ValueError:
            raise PageError(400) from None
    chunks: list[bytes] = []
    total = 0
    stream = request.stream().__aiter__()
    while True:
        try:  # a client that declares a body and does not send it does not hold the connection
            chunk = await asyncio.wait_for(stream.__anext__(), timeout=BODY_READ_TIMEOUT_S)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise PageError(408, "Envoi interrompu", "Le formulaire n'est pas arrivé à temps : renvoyez-le.") from None
        total += len(chunk)
        if too_large or total > limit:
            too_large = True
            chunks.clear()
            if total > DRAIN_LIMIT:
                break
            continue
        chunks.append(chunk)
    if too_large:
        raise BodyTooLarge()
    return b"".join(chunks)


@dataclass
class FormPart:
    name: str
    filename: str | None
    data: bytearray


def parse_multipart(body: bytes, content_type: str, max_parts: int = 8) -> dict[str, FormPart]:
    """A multipart/form-data body, parsed in memory (first part of each name kept)."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise PageError(415, message="Le formulaire doit être envoyé en multipart/form-data.")
    parts: list[FormPart] = []
    headers: dict[bytes, bytes] = {}
    name_value = {"field": b"", "value": b""}

    def on_part_begin() -> None:
        headers.clear()
        if len(parts) >= max_parts:
            raise PageError(400, message="Le formulaire contient trop de champs.")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        name_value["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        name_value["value"] += data[start:end]

    def on_header_end() -> None:
        headers[name_value["field"].strip().lower()] = name_value["value"].strip()
        name_value["field"], name_value["value"] = b"", b""

    def on_headers_finished() -> None:
        _disposition, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        parts.append(FormPart(name, None if filename is None else filename.decode("utf-8", "replace"), bytearray()))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if parts:
            parts[-1].data += data[start:end]

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise PageError(400, message="Le formulaire envoyé est mal formé.") from None
    found: dict[str, FormPart] = {}
    for part in parts:
        found.setdefault(part.name, part)
    return found


async def read_urlencoded(request: Request) -> dict[str, str]:
    """A small application/x-www-form-urlencoded form (login, logout)."""
    kind, _params = parse_options_header(request.headers.get("content-type", ""))
    try:
        body = await read_body(request, FORM_LIMIT)
    except BodyTooLarge:
        raise PageError(413, message="Le formulaire envoyé est trop long.") from None
    if not body:
        return {}  # an empty form: its missing CSRF token refuses it
    if kind != b"application/x-www-form-urlencoded":
        raise PageError(415, message="Le formulaire doit être envoyé en application/x-www-form-urlencoded.")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


# --------------------------------------------------------------------------- security headers


class SecurityHeaders:
    """Headers every answer carries: no framing, no sniffing, same-origin resources only."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; font-src 'self'; "
            b"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [h for h in self.HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------- the application


def create_app(
    paths: WarehousePaths | None = None,
    authenticator: tokens.Authenticator | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    session_key: bytes | None = None,
    api_rate: tuple[float, int] | None = None,
) -> FastAPI:
    """The web application on the warehouse ``paths`` (default: the configured warehouse).

    ``authenticator``: who an access token belongs to; default: the configured one
    (``AIDES_AUTH``, tokens of ``collectivite_jetons`` by default), reading this warehouse.
    ``api_rate``: requests per second and burst allowed per client on ``/api/`` (default
    ``AIDES_API_DEBIT``, « 20/100 »).
    """
    paths = paths or warehouse_paths()
    access = queries.WarehouseAccess(paths)
    if authenticator is None:
        configured = tokens.authenticator_from_config()
        authenticator = (
            tokens.TokenAuthenticator(connect=access.reader)
            if isinstance(configured, tokens.TokenAuthenticator)
            else configured
        )
    sessions = SessionManager(session_key)
    reports = ReportCache()
    ended_sessions: set[str] = set()  # logouts seen by this process (also in sessions_terminees)
    throttle = LoginThrottle()
    templates = Jinja2Templates(env=_environment())
    app = FastAPI(
        title="Catalogue des aides à la transition écologique", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.paths, app.state.access, app.state.authenticator = paths, access, authenticator
    app.add_middleware(SecurityHeaders)
    rate, burst = api_rate or _api_rate()
    app.add_middleware(RateLimit, rate=rate, burst=burst)
    app.add_middleware(OpenCors)
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(HeadAsGet)
    store = ReleaseStore(paths, access)
    app.state.releases = store
    if not DSFR_DIST.is_dir():
        LOG.warning("DSFR absent (%s) : lancez `make web` ; les pages s'affichent sans style", DSFR_DIST)
    app.mount("/dsfr", StaticFiles(directory=DSFR_DIST, check_dir=False), name="dsfr")
    app.mount("/static", StaticFiles(directory=HERE / "static", check_dir=False), name="static")

    # ------------------------------------------------------------------ rendering

    def render(
        request: Request,
        name: str,
        context: dict[str, Any],
        session: Session,
        status: int = 200,
        keep_session: bool = False,
    ) -> Response:
        page = {"request": request, "session": session, "page": name.removesuffix(".html"), **context}
        response = templates.TemplateResponse(request, name, page, status_code=status)
        if session.logged_in or name in ("connexion.html", "soumettre.html"):
            response.headers["Cache-Control"] = "no-store"  # an agent's pages stay out of every cache
        if keep_session:  # a new anonymous session, for the CSRF token of the page's form
            sessions.save(response, session, request)
        return response

    def error_page(request: Request, status: int, title: str, message: str, session: Session | None = None) -> Response:
        try:
            session = session or sessions.load(request)
            return render(
                request, "erreur.html", {"status": status, "titre": title, "message": message}, session, status=status
            )
        except Exception:  # the error page itself failed: plain text, still French, still no trace
            LOG.exception("page d'erreur impossible à afficher")
            return HTMLResponse(
                f'<!doctype html><html lang="fr"><title>{status}</title><p>{html.escape(title)}</p></html>',
                status_code=status,
            )

    # ------------------------------------------------------------------ errors

    @app.exception_handler(PageError)
    async def on_page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title, message = _STATUS_TITLES.get(exc.status_code, ("Erreur", "La requête n'a pas abouti."))
        return error_page(request, exc.status_code, title, message)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 400, *_STATUS_TITLES[400])

    @app.exception_handler(WarehouseMissingError)
    async def on_missing(request: Request, exc: WarehouseMissingError) -> Response:
        return error_page(
            request,
            503,
            "Catalogue pas encore construit",
            "L'entrepôt du catalogue n'existe pas encore : il est construit par `make run`.",
        )

    @app.exception_handler(WarehouseBusyError)
    async def on_busy(request: Request, exc: WarehouseBusyError) -> Response:
        return error_page(request, 503, *_STATUS_TITLES[503])

    async def on_locked(request: Request, exc: Exception) -> Response:
        """Another process writes the warehouse (a pipeline run): come back in a few minutes."""
        LOG.warning("entrepôt inaccessible : %s", exc)
        return error_page(request, 503, *_STATUS_TITLES[503])

    app.add_exception_handler(duckdb.IOException, on_locked)
    app.add_exception_handler(duckdb.ConnectionException, on_locked)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        LOG.error("erreur inattendue sur %s %s", request.method, request.url.path, exc_info=exc)
        return error_page(request, 500, *_STATUS_TITLES[500])

    # ------------------------------------------------------------------ public pages

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, q: str = "") -> Response:
        session = sessions.load(request)
        answer = None
        with access.reader() as conn:
            if q.strip():
                answer = queries.search_territory(access.resolver(conn), q, access.territory_index(conn))
            runs = queries.source_status(conn)
        if answer is not None and answer.single is not None:
            return RedirectResponse(f"/territoire/{quote(answer.single.url_code)}", status_code=303)
        releases = queries.releases(paths)
        return render(
            request,
            "accueil.html",
            {"q": q, "answer": answer, "sources": runs, "latest": releases[0] if releases else None},
            session,
        )

    @app.get("/territoire/{code}", response_class=HTMLResponse)
    def territory_page(request: Request, code: str) -> Response:
        session = sessions.load(request)
        with access.reader() as conn:
            resolver = access.resolver(conn)
            territory = queries.find_territory(conn, resolver, code)
            if territory is None:
                raise PageError(
                    404,
                    "Territoire inconnu",
                    f"Le code « {code[:40]} » ne désigne aucun territoire du référentiel. "
                    "Cherchez votre territoire par son nom ou son code postal depuis l'accueil.",
                )
            coverage = queries.territory_aid_ids(conn, access, territory)
            rows = queries.aid_rows(conn, coverage.ids)
        groups = queries.grouped(rows)
        counts = {
            "total": len(rows),
            "ouvertes": sum(1 for r in rows if r["statut"] in ("ouverte", "permanente")),
            "a_verifier": sum(1 for r in rows if r["alertes"]),
        }
        return render(
            request,
            "territoire.html",
            {"territoire": territory, "groupes": groups, "coverage": coverage, "counts": counts},
            session,
        )

    @app.get("/aide/{aid_id}", response_class=HTMLResponse)
    def aid_page(request: Request, aid_id: str) -> Response:
        session = sessions.load(request)
        with access.reader() as conn:
            aid = queries.aid_detail(conn, aid_id)
            if aid is None:
                raise PageError(404, "Aide introuvable", "Aucune aide du catalogue ne porte cet identifiant.")
            resolver = access.resolver(conn)
            labels = {
                code: resolver.label(code)
                for code in (aid.get("eligibilite_geographique") or [])
                + (aid.get("eligibilite_geographique_exclusions") or [])
            }
        return render(request, "aide.html", {"aide": aid, "labels": labels}, session)

    @app.get("/telechargements", response_class=HTMLResponse)
    def downloads(request: Request) -> Response:
        session = sessions.load(request)
        return render(request, "telechargements.html", {"releases": queries.releases(paths)}, session)

    @app.get("/telechargements/schema/{name}")
    def schema_file(name: str) -> Response:
        if name not in SCHEMA_FILES:
            raise PageError(404, "Fichier introuvable", "Ce fichier ne fait pas partie du schéma publié.")
        return FileResponse(PROJECT_ROOT / "schemas" / name, media_type=SCHEMA_FILES[name] + "; charset=utf-8")

    @app.get("/telechargements/{version}/{name}")
    def release_file(version: str, name: str) -> Response:
        path = queries.release_file(paths, version, name)
        if path is None:
            raise PageError(404, "Fichier introuvable", "Cette publication ne contient pas ce fichier.")
        media = {
            ".csv": "text/csv; charset=utf-8",
            ".json": "application/json",
            ".md": "text/plain; charset=utf-8",
            ".parquet": "application/vnd.apache.parquet",
        }.get(path.suffix, "application/octet-stream")
        inline = path.suffix in (".md", ".json")
        return FileResponse(
            path,
            media_type=media,
            filename=None if inline else path.name,
            content_disposition_type="inline" if inline else "attachment",
        )

    # ------------------------------------------------------------------ agents

    def agent_session(request: Request) -> Session | None:
        """The logged-in session, or None (also when its access token has been revoked since)."""
        session = sessions.load(request)
        if not session.logged_in:
            return None
        if session.sid in ended_sessions:
            return None
        with access.reader() as conn:
            if session.sid and queries.table_exists(conn, "sessions_terminees"):
                if conn.execute("SELECT 1 FROM sessions_terminees WHERE sid = ?", [session.sid]).fetchone():
                    ended_sessions.add(session.sid)
                    return None
            if session.jeton and queries.table_exists(conn, "collectivite_jetons"):
                row = conn.execute(
                    "SELECT revoked_at IS NULL FROM collectivite_jetons WHERE id = ?", [session.jeton]
                ).fetchone()
                if not row or not row[0]:
                    return None
        return session

    def identity_of(session: Session) -> tokens.Identity:
        return tokens.Identity(session.siren or "", session.email or "")

    def redirect_to_login(target: str) -> Response:
        return RedirectResponse(f"/connexion?suite={quote(target)}", status_code=303)

    @app.get("/connexion", response_class=HTMLResponse)
    def login_form(request: Request, suite: str = "") -> Response:
        session = sessions.load(request)
        return render(
            request, "connexion.html", {"suite": _safe_target(suite), "erreur": None}, session, keep_session=session.new
        )

    @app.post("/connexion", response_class=HTMLResponse)
    async def login_submit(request: Request) -> Response:
        session = sessions.load(request)
        form = await read_urlencoded(request)
        target = _safe_target(form.get("suite", ""))
        if not csrf_valid(session, form.get("csrf")):
            raise PageError(
                403,
                "Session expirée",
                "Le formulaire a expiré ou ne vient pas de ce site : rechargez la page de connexion.",
            )
        token = form.get("jeton", "").strip()
        client = request.client.host if request.client else "?"
        keys = throttle.keys(client, token)
        wait = throttle.wait(keys)
        if wait:
            LOG.warning("connexion refusée (trop de tentatives) : client %s, jeton %s…", client, token[:8])
            response = render(
                request,
                "connexion.html",
                {"suite": target, "erreur": "Trop de tentatives : patientez une minute avant de réessayer."},
                session,
                status=429,
            )
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        identity = await run_in_threadpool(authenticator.authenticate, token) if token else None
        if identity is None:
            throttle.failed(keys)
            await run_in_threadpool(_log_refusal, access, None, "connexion refusée : jeton inconnu ou révoqué", None)
            return render(
                request,
                "connexion.html",
                {"suite": target, "erreur": "Ce jeton d'accès est inconnu, révoqué ou mal recopié."},
                session,
                status=401,
            )
        jeton_id = (
            tokens.hash_token(token)[: tokens.ID_LENGTH]
            if isinstance(authenticator, tokens.TokenAuthenticator)
            else None
        )
        new_session = login(identity.siren, identity.email, jeton_id)
        response = RedirectResponse(target or "/mon-territoire", status_code=303)
        sessions.save(response, new_session, request)
        return response

    @app.post("/deconnexion")
    async def logout_submit(request: Request) -> Response:
        session = sessions.load(request)
        form = await read_urlencoded(request)
        if not csrf_valid(session, form.get("csrf")):
            raise PageError(403, "Session expirée", "Le formulaire a expiré : rechargez la page puis recommencez.")
        if session.sid:  # ended here at once, and for every process through the warehouse
            ended_sessions.add(session.sid)
            await run_in_threadpool(_end_session, access, session.sid)
        response = RedirectResponse("/", status_code=303)
        sessions.save(response, logout(), request)
        return response

    @app.get("/mon-territoire", response_class=HTMLResponse)
    def my_territory(request: Request) -> Response:
        session = agent_session(request)
        if session is None:
            return redirect_to_login("/mon-territoire")
        with access.reader() as conn:
            resolver = access.resolver(conn)
            code = checks.territory_code(resolver, session.siren or "")
            territory = queries.find_territory(conn, resolver, code) if code else None
            history = queries.submissions_of(conn, session.siren or "")
        return render(request, "mon_territoire.html", {"territoire": territory, "code": code, **history}, session)

    @app.get("/mon-territoire/soumission.csv")
    def prefilled(request: Request) -> Response:
        session = agent_session(request)
        if session is None:
            return redirect_to_login("/mon-territoire")
        with access.reader() as conn:
            try:
                content = prefill.prefilled_submission(conn, session.siren or "", resolver=access.resolver(conn))
            except ValueError as exc:
                raise PageError(404, "Territoire inconnu", f"Votre collectivité n'est pas reconnue : {exc}") from None
        name = re.sub(r"[^A-Za-z0-9-]", "", session.siren or "collectivite")
        return Response(
            content,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="soumission-{name}.csv"',
                "Cache-Control": "no-store",
            },
        )

    @app.get("/soumettre", response_class=HTMLResponse)
    def upload_form(request: Request) -> Response:
        session = agent_session(request)
        if session is None:
            return redirect_to_login("/soumettre")
        return render(request, "soumettre.html", {"max_bytes": max_upload_bytes}, session)

    @app.post("/soumettre", response_class=HTMLResponse)
    async def upload_submit(request: Request) -> Response:
        session = await run_in_threadpool(agent_session, request)
        if session is None:
            raise PageError(
                403, "Connexion requise", "Connectez-vous avec votre jeton d'accès avant d'envoyer un fichier."
            )
        try:
            body = await read_body(request, max_upload_bytes + MULTIPART_OVERHEAD)
        except BodyTooLarge:
            return too_large(request, session)
        form = parse_multipart(body, request.headers.get("content-type", ""))
        csrf = form.get("csrf")
        if not csrf_valid(session, csrf.data.decode("ascii", "replace") if csrf else None):
            raise PageError(
                403,
                "Session expirée",
                "Le formulaire a expiré ou ne vient pas de ce site : rechargez la page puis renvoyez le fichier.",
            )
        upload = form.get("fichier")
        if upload is None or not upload.filename:
            return render(
                request,
                "soumettre.html",
                {"max_bytes": max_upload_bytes, "erreur": "Choisissez un fichier CSV ou Excel à envoyer."},
                session,
                status=400,
            )
        if len(upload.data) > max_upload_bytes:
            return too_large(request, session)
        content, filename = bytes(upload.data), upload.filename
        identity = identity_of(session)
        report = await run_in_threadpool(_validate, access, content, filename, identity, max_upload_bytes)
        if report.hors_territoire:
            outside = sum(1 for p in report.problems if p.nature == "territoire")
            await run_in_threadpool(
                _log_refusal, access, identity, f"hors territoire : {outside} problème(s) de territoire", filename
            )
            kept = reports.keep(report_owner(session), report, filename, "hors_territoire")
            return show_report(request, session, kept, status=403)
        if not report.valid:
            await run_in_threadpool(
                _log_refusal, access, identity, f"fichier invalide : {len(report.errors)} erreur(s)", filename
            )
            kept = reports.keep(report_owner(session), report, filename, "invalide")
            return show_report(request, session, kept, status=422)
        receipt = await run_in_threadpool(_store, access, paths, content, filename, identity, report)
        kept = reports.keep(report_owner(session), report, filename, "acceptee", receipt)
        return show_report(request, session, kept)

    def report_owner(session: Session) -> str:
        return session.sid or session.siren or ""

    def show_report(
        request: Request, session: Session, kept: KeptReport, page: int = 1, gravite: str = "", status: int = 200
    ) -> Response:
        context = {
            "max_bytes": max_upload_bytes,
            "rapport": kept.report,
            "rapport_id": kept.id,
            "fichier": kept.filename,
            "issue": kept.issue,
            "recu": kept.receipt,
            "vue": report_page(kept.report, page, gravite or None),
        }
        return render(request, "soumettre.html", context, session, status=status)

    def kept_report(request: Request, report_id: str) -> tuple[Session, KeptReport]:
        session = agent_session(request)
        if session is None:
            raise PageError(403, "Connexion requise", "Connectez-vous pour lire le rapport de vos envois.")
        kept = reports.get(report_id, report_owner(session))
        if kept is None:
            raise PageError(
                404,
                "Rapport introuvable",
                "Ce rapport n'existe pas ou n'est plus disponible (il est gardé une heure) : renvoyez le fichier.",
            )
        return session, kept

    @app.get("/soumettre/rapport/{report_id}.csv")
    def report_download(request: Request, report_id: str) -> Response:
        _session, kept = kept_report(request, report_id)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(kept.filename).stem)[:60] or "fichier"
        return Response(
            report_csv(kept.report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="rapport-{stem}.csv"',
                "Cache-Control": "no-store",
            },
        )

    @app.get("/soumettre/rapport/{report_id}", response_class=HTMLResponse)
    def report_view(request: Request, report_id: str, page: int = 1, gravite: str = "") -> Response:
        session, kept = kept_report(request, report_id)
        return show_report(request, session, kept, page, gravite)

    def too_large(request: Request, session: Session) -> Response:
        limit = taille(max_upload_bytes)
        return render(
            request,
            "soumettre.html",
            {
                "max_bytes": max_upload_bytes,
                "erreur": f"Le fichier dépasse la taille maximale de {limit} : il n'a pas été lu. "
                "Découpez-le en plusieurs fichiers.",
            },
            session,
            status=413,
        )

    add_coverage_routes(app, access, render, agent_session, sessions.load, templates)

    @app.get("/api", include_in_schema=False)
    @app.get("/api/", response_class=HTMLResponse, include_in_schema=False)
    def api_documentation(request: Request) -> Response:
        session = sessions.load(request)
        return render(request, "api.html", {"openapi": api.openapi()}, session)

    api = create_api(store)
    app.mount("/api", api)
    register_feeds(app, store)

    return app


def _api_rate() -> tuple[float, int]:
    """``AIDES_API_DEBIT`` (« requêtes par seconde/rafale », default « 20/100 »)."""
    text = os.environ.get("AIDES_API_DEBIT", "20/100")
    try:
        rate, burst = text.split("/")
        return float(rate), int(burst)
    except ValueError as exc:
        raise ValueError(f"AIDES_API_DEBIT={text!r} : attendu « requêtes par seconde/rafale », par ex. 20/100") from exc


def _safe_target(target: str) -> str:
    """A local page to go back to after login; never another site."""
    return target if re.fullmatch(r"/[A-Za-z0-9/_.-]{0,100}", target or "") and not target.startswith("//") else ""


def _validate(
    access: queries.WarehouseAccess, content: bytes, filename: str, identity: tokens.Identity, max_bytes: int
) -> checks.SubmissionReport:
    with access.reader() as conn:
        resolver = access.resolver(conn)
        catalogue = prefill.catalogue_geography(conn)
    return checks.validate_submission(
        content, filename, resolver, territory=identity.siren, max_bytes=max_bytes, catalogue=catalogue
    )


def _store(
    access: queries.WarehouseAccess,
    paths: WarehousePaths,
    content: bytes,
    filename: str,
    identity: tokens.Identity,
    report: checks.SubmissionReport,
) -> store.SubmissionReceipt:
    with access.writer() as conn:
        return store.store_submission(paths, conn, content, filename, identity, report)


def _end_session(access: queries.WarehouseAccess, sid: str) -> None:
    """Record a logout for every process; when the warehouse is busy, this process still knows it."""
    try:
        with access.writer(timeout_s=5.0) as conn:
            conn.execute("INSERT INTO sessions_terminees VALUES (?, now()) ON CONFLICT DO NOTHING", [sid])
    except (WarehouseBusyError, WarehouseMissingError, duckdb.Error, OSError):
        LOG.warning("déconnexion non enregistrée dans l'entrepôt (occupé) : valable pour ce processus")


def _log_refusal(
    access: queries.WarehouseAccess, identity: tokens.Identity | None, reason: str, filename: str | None
) -> None:
    """Log a refused attempt; the refusal is answered even if the log cannot be written now."""
    try:
        with access.writer(timeout_s=5.0) as conn:
            store.log_refused(conn, identity, reason, filename)
    except (WarehouseBusyError, duckdb.Error, OSError):
        LOG.warning("tentative refusée non journalisée (entrepôt occupé) : %s", reason)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the application with uvicorn (``aides serve``)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO)
    # keep-alive longer than uvicorn's 5 s: API clients paging through results reuse their connection
    uvicorn.run(create_app(), host=host, port=port, server_header=False, log_level="info", timeout_keep_alive=30)
