"""Département de la Manche: the aids API of its « guide des aides » (``{"count", "aides"}``).

Why a module of its own: the feed is one object with an ``aides`` list, behind HTTP
basic authentication (credentials from the environment variables the entry names).
Names carry HTML entities (``d&rsquo;un``) and some timestamps are malformed
(``2023-08-03T16: 08: 40.000Z``): both are kept exactly as sent, for normalisation.
"""

from __future__ import annotations

from sources.adapters.jsonapi import (
    JSON_MEDIA_TYPE,
    basic_auth,
    geo_from_config,
    native_id,
    parse_documents,
    required,
    secret,
    text,
    text_list,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import Perimetre, SourceConfig
from sources.fetch.client import FetchError
from sources.record import AidRecord, ParseResult

ITEMS_KEY = "aides"


class Config(SourceConfig):
    """The feed, the variables holding its credentials, and what every aid of it shares."""

    url: str
    username_env: str | None = None
    password_env: str | None = None
    porteurs: list[str] = []
    financeurs: list[str] = []
    niveau: str | None = None
    perimetre: Perimetre | None = None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """One GET with basic authentication (``username_env`` / ``password_env``)."""
    url = spec.config["url"]
    user_env = spec.config.get("username_env", "MANCHE_API_USERNAME")
    password_env = spec.config.get("password_env", "MANCHE_API_PASSWORD")
    username, password = secret(ctx, user_env), secret(ctx, password_env)
    if not (username and password):
        raise FetchError(spec.name, url, f"identifiants d'API absents : définissez {user_env} et {password_env}")
    document = ctx.client(spec).get(
        url, headers={"Authorization": basic_auth(username, password), "Accept": JSON_MEDIA_TYPE}
    )
    return Payload.build([(url, document.content, JSON_MEDIA_TYPE)])


def _record(spec: SourceSpec, item: dict) -> AidRecord:
    return AidRecord(
        source=spec.name,
        native_id=native_id(item, "id"),
        titre=required(text(item, "name"), "titre absent (champ 'name')"),
        description=text(item, "description"),
        eligibilite=text(item, "eligibility"),
        url_source=text(item, "origin_url"),
        url_demarche=text(item, "application_url"),
        porteurs=list(spec.config.get("porteurs", [])),
        financeurs=list(spec.config.get("financeurs", [])),
        niveau=spec.config.get("niveau", spec.level),
        geo_inclusions=geo_from_config(spec.config),
        date_ouverture=text(item, "start_date"),
        date_cloture=text(item, "submission_deadline"),
        date_mise_a_jour=text(item, "date_updated") or text(item, "date_created"),
        cibles=text_list(item, "targeted_audiences"),
        types_aides=text_list(item, "aid_types"),
        thematiques=text_list(item, "categories"),
        recurrence=text(item, "recurrence"),
        raw=item,
    )


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    return parse_documents(
        spec, payload, key=ITEMS_KEY, item_label="aide", id_key="id", build=lambda item, _: _record(spec, item)
    )
