"""aides-territoires: the national aggregator's API (``/api/aids/``), and its result shape.

Why a module of its own: the API needs a bearer token obtained from an API key, and
its pages (``{"count", "next", "previous", "results"}``) are followed through ``next``.
The same result shape is published by other feeds built for aides-territoires (the
Département de la Drôme), so ``parse_results_pages`` is reused by those adapters.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urljoin

from sources.adapters.jsonapi import (
    JSON_MEDIA_TYPE,
    FieldError,
    follow_next,
    geo_from_config,
    json_type,
    named_list,
    native_id,
    parse_documents,
    required,
    scale_level,
    secret,
    text,
    text_list,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.fetch.client import FetchError, PoliteClient
from sources.record import AidRecord, GeoMention, ParseResult, acteurs_by_role
from sources.text_files import strict_utf8

API_URL = "https://aides-territoires.beta.gouv.fr/api/aids/"
TOKEN_URL = "https://aides-territoires.beta.gouv.fr/api/connexion/"
DEFAULT_KEY_ENV = "AIDES_TERRITOIRES_API_KEY"
DEFAULT_MAX_PAGES = 500


class Config(SourceConfig):
    """The API, its token endpoint, the variable holding the key, and the query's filters."""

    url: str
    token_url: str | None = None
    api_key_env: str | None = None
    max_pages: int = 500
    query: dict[str, Any] = {}
    porteurs: list[str] = []
    financeurs: list[str] = []
    niveau: str | None = None


def first_page_url(config: dict) -> str:
    """The first page: ``<url>?page=1`` plus the configured filters (``[source.config.query]``)."""
    base = config.get("url", API_URL)
    params: list[tuple[str, Any]] = [("page", 1)]
    for key, value in sorted((config.get("query") or {}).items()):
        params.append((key, value))
    separator = "&" if "?" in base else "?"
    return base + separator + urlencode(params, doseq=True)


def _token(spec: SourceSpec, ctx: CollectContext, client: PoliteClient) -> str:
    token_url = spec.config.get("token_url", TOKEN_URL)
    key_env = spec.config.get("api_key_env", DEFAULT_KEY_ENV)
    key = secret(ctx, key_env)
    if not key:
        raise FetchError(spec.name, token_url, f"clé d'API absente : définissez {key_env}")
    answer = client.post(token_url, headers={"X-AUTH-TOKEN": key, "Accept": JSON_MEDIA_TYPE})
    try:
        data = json.loads(strict_utf8(answer.content))
    except (ValueError, RecursionError) as exc:  # undecodable bytes or JSON
        raise FetchError(spec.name, token_url, f"réponse de connexion illisible ({type(exc).__name__})") from exc
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise FetchError(spec.name, token_url, "réponse de connexion sans jeton ('token')")
    return token.strip()


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """Exchange the API key for a token, then read every page of ``/api/aids/``.

    The token is sent only in the ``Authorization`` header; it is never part of a
    document name or content, so it is not archived.
    """
    client = ctx.client(spec)
    token = _token(spec, ctx, client)
    headers = {"Authorization": f"Bearer {token}", "Accept": JSON_MEDIA_TYPE}
    max_pages = int(spec.config.get("max_pages", DEFAULT_MAX_PAGES))
    pages = follow_next(client, spec.name, first_page_url(spec.config), headers, max_pages)
    return Payload.build([(url, content, JSON_MEDIA_TYPE) for url, content in pages])


# -- the result shape ----------------------------------------------------------------------


def _rates(item: dict) -> list[str]:
    """Subsidy rates as stated: bounds in %, the Drôme's ``subvention_rate`` and any comment."""
    lower, upper = text(item, "subvention_rate_lower_bound"), text(item, "subvention_rate_upper_bound")
    rates: list[str] = []
    if lower and upper:
        rates.append(f"{lower} %" if lower == upper else f"de {lower} à {upper} %")
    elif upper:
        rates.append(f"jusqu'à {upper} %")
    elif lower:
        rates.append(f"au moins {lower} %")
    rate = item.get("subvention_rate")
    if isinstance(rate, dict):  # a range object {"lower": .., "upper": ..}
        rates.extend(
            _rates({"subvention_rate_lower_bound": rate.get("lower"), "subvention_rate_upper_bound": rate.get("upper")})
        )
    else:
        stated = text(item, "subvention_rate")
        if stated:
            rates.append(stated)
    comment = text(item, "subvention_comment")
    if comment:
        rates.append(comment)
    return rates


def _amounts(item: dict) -> list[str]:
    """Maximum loan and recoverable advance, in euros as the API documents them."""
    amounts = []
    loan = text(item, "loan_amount")
    if loan:
        amounts.append(f"prêt jusqu'à {loan} €")
    advance = text(item, "recoverable_advance_amount")
    if advance:
        amounts.append(f"avance récupérable jusqu'à {advance} €")
    return amounts


def _perimeter(item: dict) -> list[GeoMention]:
    """The perimeter as named, at the level its ``perimeter_scale`` states (if it names one)."""
    value = item.get("perimeter")
    if value is None:
        return []
    if isinstance(value, dict):  # some API versions give {"name", "scale", "code"}
        name, scale, code = text(value, "name"), text(value, "scale"), text(value, "code")
    elif isinstance(value, str):
        name, scale, code = value.strip() or None, text(item, "perimeter_scale"), None
    else:
        raise FieldError(f"champ 'perimeter' de type inattendu : {json_type(value)}")
    if not (name or code):
        return []
    return [GeoMention(scale_level(scale), code=code, nom=name)]


def _names(item: dict, key: str, full_key: str) -> list[str]:
    names = text_list(item, key)
    return names or named_list(item, full_key, "name")


def result_record(
    spec: SourceSpec,
    item: dict,
    page_url: str,
    *,
    niveau: str | None = None,
    default_geo: list[GeoMention] | None = None,
    default_financeurs: list[str] | None = None,
    default_porteurs: list[str] | None = None,
) -> AidRecord:
    """One aides-territoires result as an AidRecord (raises FieldError / ValueError)."""
    native = native_id(item, "id", "slug")
    titre = required(
        text(item, "name") or text(item, "name_initial") or text(item, "short_title"),
        "titre absent (champs 'name', 'name_initial' et 'short_title')",
    )
    at_page = text(item, "url")
    origin = text(item, "origin_url")
    financers, instructors = (
        _names(item, "financers", "financers_full"),
        _names(item, "instructors", "instructors_full"),
    )
    return AidRecord(
        source=spec.name,
        native_id=native,
        titre=titre,
        description=text(item, "description"),
        eligibilite=text(item, "eligibility"),
        # the page the source itself points to, else the aid's page on aides-territoires
        url_source=origin or (urljoin(page_url, at_page) if at_page else None),
        url_demarche=text(item, "application_url"),
        porteurs=instructors or list(default_porteurs or []),
        financeurs=financers or list(default_financeurs or []),
        acteurs=acteurs_by_role(("financeur", financers), ("instructeur", instructors)),
        niveau=niveau,
        geo_inclusions=_perimeter(item) or list(default_geo or []),
        date_ouverture=text(item, "start_date"),
        date_cloture=text(item, "submission_deadline"),
        date_mise_a_jour=text(item, "date_updated") or text(item, "date_created"),
        montants=_amounts(item),
        taux=_rates(item),
        cibles=text_list(item, "targeted_audiences"),
        types_aides=text_list(item, "aid_types"),
        thematiques=text_list(item, "categories"),
        programmes_parents=text_list(item, "programs"),
        recurrence=text(item, "recurrence"),
        raw=item,
    )


def parse_results_pages(
    spec: SourceSpec,
    payload: Payload,
    *,
    niveau: str | None = None,
    default_geo: list[GeoMention] | None = None,
    default_financeurs: list[str] | None = None,
    default_porteurs: list[str] | None = None,
) -> ParseResult:
    """Every page of a ``count/next/results`` feed: one rejection per unreadable page,
    one record or rejection per result."""
    return parse_documents(
        spec,
        payload,
        key="results",
        item_label="résultat",
        id_key="id",
        paged=True,
        build=lambda item, page_url: result_record(
            spec,
            item,
            page_url,
            niveau=niveau,
            default_geo=default_geo,
            default_financeurs=default_financeurs,
            default_porteurs=default_porteurs,
        ),
    )


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """aides-territoires publishes aids of every level: no publisher level or default territory
    unless the entry states them (``niveau``, ``perimetre``)."""
    return parse_results_pages(
        spec,
        payload,
        niveau=spec.config.get("niveau"),
        default_geo=geo_from_config(spec.config),
        default_financeurs=list(spec.config.get("financeurs", [])),
        default_porteurs=list(spec.config.get("porteurs", [])),
    )
