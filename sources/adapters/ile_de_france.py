"""Région Île-de-France: the public API of its « guide des aides » (mesdemarches.iledefrance.fr).

Why a module of its own: the API answers a bare JSON list of aids whose labels are
objects (``publicsBeneficiaire``, ``competences``, ``tags``: ``[{"href", "title"}]``) and
whose text is split in sections. Sections go one to one: ``entete`` (the lead) is the
promise, ``objectif`` the description, ``publicsBeneficiairePrecision`` the eligibility;
``modalite``, ``demarches``, ``notes``, ``contact``… stay in ``raw``. The aid's public
page is not in the feed: the entry's ``page_url`` template builds it from ``reference``.
"""

from __future__ import annotations

from sources.adapters.jsonapi import (
    JSON_MEDIA_TYPE,
    geo_from_config,
    identifier,
    named_list,
    native_id,
    parse_documents,
    required,
    text,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import Perimetre, SourceConfig
from sources.record import AidRecord, ParseResult


class Config(SourceConfig):
    """The feed, the aid pages' URL template, and what every aid of it shares."""

    url: str
    page_url: str | None = None
    porteurs: list[str] = []
    financeurs: list[str] = []
    niveau: str | None = None
    perimetre: Perimetre | None = None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """One GET: the configured URL asks for every published aid at once (``top=2500``)."""
    url = spec.config["url"]
    document = ctx.client(spec).get(url, headers={"Accept": JSON_MEDIA_TYPE})
    return Payload.build([(url, document.content, JSON_MEDIA_TYPE)])


def _record(spec: SourceSpec, item: dict) -> AidRecord:
    template = spec.config.get("page_url")
    reference = identifier(item, "reference")
    return AidRecord(
        source=spec.name,
        native_id=native_id(item, "reference", "id"),  # ``id``: the aid's API path, also stable
        titre=required(text(item, "title"), "titre absent (champ 'title')"),
        promesse=text(item, "entete"),
        description=text(item, "objectif"),
        eligibilite=text(item, "publicsBeneficiairePrecision"),
        url_source=template.format(reference=reference) if template and reference else None,
        porteurs=list(spec.config.get("porteurs", [])),
        financeurs=list(spec.config.get("financeurs", [])),
        niveau=spec.config.get("niveau", spec.level),
        geo_inclusions=geo_from_config(spec.config),
        date_ouverture=text(item, "dateOuvertureCampagne"),
        date_cloture=text(item, "dateFinCampagne"),
        date_mise_a_jour=text(item, "date"),
        cibles=named_list(item, "publicsBeneficiaire", "title"),
        thematiques=named_list(item, "competences", "title"),
        raw=item,
    )


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """A bare list (or the export form ``{"data": [...]}``) of aids."""
    return parse_documents(
        spec,
        payload,
        key=None,
        item_label="aide",
        id_key="reference",
        id_label="référence",
        build=lambda item, _: _record(spec, item),
    )
