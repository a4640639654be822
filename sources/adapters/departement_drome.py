"""Département de la Drôme: the feed it built for aides-territoires.

Why: the Drôme publishes its aids to collectivities in aides-territoires' own result
shape (``{"count", "next", "previous", "results"}``, fields ``name``, ``description``,
``perimeter``, ``financers`` as one string…), so it is read with the aides-territoires
parser; only the publisher's level and territory come from the declarative entry.
The feed answers with a UTF-8 byte order mark, which decoding accepts.
"""

from __future__ import annotations

from sources.adapters.aides_territoires import DEFAULT_MAX_PAGES, parse_results_pages
from sources.adapters.jsonapi import JSON_MEDIA_TYPE, follow_next, geo_from_config
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import Perimetre, SourceConfig
from sources.record import ParseResult


class Config(SourceConfig):
    """The feed, its page guard, and what every aid of it shares."""

    url: str
    max_pages: int = 50
    porteurs: list[str] = []
    financeurs: list[str] = []
    niveau: str | None = None
    perimetre: Perimetre | None = None


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """GET the feed and follow ``next`` (null in the recorded feed: one page)."""
    client = ctx.client(spec)
    max_pages = int(spec.config.get("max_pages", DEFAULT_MAX_PAGES))
    pages = follow_next(client, spec.name, spec.config["url"], {"Accept": JSON_MEDIA_TYPE}, max_pages)
    return Payload.build([(url, content, JSON_MEDIA_TYPE) for url, content in pages])


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    return parse_results_pages(
        spec,
        payload,
        niveau=spec.config.get("niveau", spec.level),
        default_geo=geo_from_config(spec.config),
        default_financeurs=list(spec.config.get("financeurs", [])),
        default_porteurs=list(spec.config.get("porteurs", [])),
    )
