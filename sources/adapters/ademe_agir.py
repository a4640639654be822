"""ADEME « Agir pour la transition »: the list of the ADEME's aid schemes (``listeDispositif``).

Why a module of its own: the API answers one object whose ``ListeDispositifs`` holds
every scheme, behind two headers (``client_id`` / ``client_secret``). Audiences
(``cible_projet``: SCA1…SCA4) and themes (``thematiques``: ECO, ENR, GEOTER…) are the
ADEME's codes, kept as such; the coverage (``couverture_geo``) and the region codes
(``regions``) are transcribed as stated.
"""

from __future__ import annotations

from sources.adapters.jsonapi import (
    JSON_MEDIA_TYPE,
    FieldError,
    geo_from_config,
    json_type,
    native_id,
    parse_documents,
    required,
    secret,
    text,
    text_list,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.fetch.client import FetchError
from sources.record import AidRecord, GeoMention, ParseResult

ITEMS_KEY = "ListeDispositifs"
# ``couverture_geo.code`` values whose level is plain: 1 « National », 4 regional (with ``regions``);
# the others (2, 3: European / international, per aides-territoires' importer) keep no level.
_COVERAGE_LEVELS = {"1": "pays", "4": "region"}


class Config(SourceConfig):
    """The ADEME's API and the environment variables holding its credentials."""

    url: str
    client_id_env: str | None = None
    client_secret_env: str | None = None
    porteurs: list[str] = []
    financeurs: list[str] = []
    niveau: str | None = None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """One GET with the client credentials named in the entry (``client_id_env`` / ``client_secret_env``)."""
    url = spec.config["url"]
    id_env = spec.config.get("client_id_env", "ADEME_AGIR_CLIENT_ID")
    secret_env = spec.config.get("client_secret_env", "ADEME_AGIR_CLIENT_SECRET")
    client_id, client_secret = secret(ctx, id_env), secret(ctx, secret_env)
    if not (client_id and client_secret):
        raise FetchError(spec.name, url, f"identifiants d'API absents : définissez {id_env} et {secret_env}")
    client = ctx.client(spec)
    document = client.get(
        url, headers={"client_id": client_id, "client_secret": client_secret, "Accept": JSON_MEDIA_TYPE}
    )
    return Payload.build([(url, document.content, JSON_MEDIA_TYPE)])


def _coverage(item: dict) -> list[GeoMention]:
    """``couverture_geo`` and ``regions`` as stated: region codes when listed, else the coverage's label."""
    regions = text_list(item, "regions")
    if regions:
        return [GeoMention("region", code=code) for code in regions]
    coverage = item.get("couverture_geo")
    if coverage is None:
        return []
    if not isinstance(coverage, dict):
        raise FieldError(f"champ 'couverture_geo' de type inattendu : {json_type(coverage)}")
    code, label = text(coverage, "code"), text(coverage, "libelle")
    if not label:
        return []
    level = _COVERAGE_LEVELS.get(code or "")
    return [GeoMention(level, nom=label)]


def _record(spec: SourceSpec, item: dict) -> AidRecord:
    types = [label for label in (text(item, "type"), text(item, "sous_type_aap")) if label]
    return AidRecord(
        source=spec.name,
        native_id=native_id(item, "id"),
        titre=required(text(item, "titre"), "titre absent (champ 'titre')"),
        description=text(item, "description_longue"),
        url_source=text(item, "url_agir"),
        porteurs=list(spec.config.get("porteurs", [])),
        financeurs=list(spec.config.get("financeurs", [])),
        niveau=spec.config.get("niveau", spec.level),
        geo_inclusions=_coverage(item) or geo_from_config(spec.config),
        date_ouverture=text(item, "date_debut"),
        date_cloture=text(item, "date_fin"),
        date_mise_a_jour=text(item, "date_derniere_modification"),
        cibles=text_list(item, "cible_projet"),
        types_aides=types,
        thematiques=text_list(item, "thematiques"),
        raw=item,
    )


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    return parse_documents(
        spec, payload, key=ITEMS_KEY, item_label="dispositif", id_key="id", build=lambda item, _: _record(spec, item)
    )
