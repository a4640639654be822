"""Alerts without an account: Atom feeds (RFC 4287) of a territory's and of a theme's aids.

``/flux/territoire/{code}.atom`` and ``/flux/thematique/{thematique}.atom`` tell a subscriber what
changed, read from the latest release (the API's snapshot, never the warehouse being written):

- **Nouvelle aide** — an aid added by a release of the 30 days up to the latest one (each release's
  ``changements.csv``; the very first release counts every aid as added) and still open
  (``ouverte``, ``permanente`` or ``à venir``: an aid published already closed is not news);
- **Aide modifiée** — an aid whose published fields changed in such a release, still open, or
  just closed (``statut`` among the changed fields: its closure is news). ``date_collecte`` and
  ``date_mise_a_jour`` change at every collection: a change of those alone makes no entry, and
  they are never named;
- **Clôture proche** — an open aid whose ``date_cloture`` falls within 30 days of the latest
  release's date (days in Paris, both ends included): « ferme le JJ/MM/AAAA ».

Removed aids make no entry (their page is gone; ``/api/v1/changements`` lists them). An entry
shows the aid as the latest release publishes it (title, promise, themes).

Why the releases of the last 30 days and not only the last one: releases can be daily, and a
reader polling weekly (or a desktop reader opened now and then) would otherwise miss the events
of the releases in between. Each event keeps its own release's date as ``updated``.

**Order and cap.** At most 100 entries: closing soon first (soonest first: they are the
time-critical ones), then the releases' events, newest release first (within a release, added
before modified, then by title). Readers sort by date anyway: the order decides what the cap keeps.

**Ids.** A feed: ``tag:catalogue-aides,2026:flux/territoire/COM-49007`` (its canonical code) or
``…:flux/thematique/transport``. An event: ``…:aide/{id}/{version}/ajout`` or
``…/modification``, one per aid, event and release. A closing is keyed by its date instead,
``…:aide/{id}/cloture/AAAA-MM-JJ``, so that each new release does not announce it again; its
``updated`` is when it entered the 30-day window (or when the aid or its closing date was
published, when later).

**Territory codes** in the address are the territory page's: a commune by its INSEE code
(``49007``; ``COM-49007`` too; an arrondissement, a commune déléguée or a former code stands for
its current commune), ``EPCI-<SIREN>``, ``DEP-49``, ``REG-52``, ``PAYS-99100`` (all of France);
lower case is accepted. The feed's ``self`` link is the canonical address (the page's code)
whatever form was asked. An aid is in a territory's feed when it applies in at least one of its
communes (the release's commune index, as the API's ``epci``/``departement``/``region`` filters).
A theme's feed holds the aids whose ``thematiques`` contain it (the schema's vocabulary).

**Answers.** ``application/atom+xml; charset=utf-8``, every link absolute (resolved against the
request's base URL), the release's ``ETag`` / ``Last-Modified`` / ``Cache-Control``, ``304`` on
revalidation: the content depends on the release only (the windows count from the release's date,
not from today). An unknown territory or theme is a ``404``, nothing published yet or the
referential unavailable a ``503``, as ``application/problem+json`` like the API. Query
parameters are ignored (readers add their own).
"""

from __future__ import annotations

import logging
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from fastapi import FastAPI, Request
from starlette.responses import Response

from schemas import MULTI_VALUE_SEPARATOR, allowed_values, published_fields
from warehouse.normalise.geography import normalise_dep_code
from warehouse.publication.release_files import ADDED, MODIFIED
from webapp.api.routes import ApiError, _headers, _not_modified, _snapshot, problem
from webapp.api.snapshot import Publication, ReleaseSnapshot, ReleaseStore
from webapp.markdown import markdown_text
from webapp.queries import territory_url_code

LOG = logging.getLogger("webapp.api")
ATOM_MEDIA = "application/atom+xml; charset=utf-8"
ATOM_NS = "http://www.w3.org/2005/Atom"
TAG = "tag:catalogue-aides,2026:"
WINDOW_DAYS = 30  # releases whose additions and changes are listed, before the latest one
CLOSING_DAYS = 30  # an open aid closing within this many days of the latest release
MAX_ENTRIES = 100
OPEN = ("ouverte", "permanente", "à venir")
BOOKKEEPING = ("date_collecte", "date_mise_a_jour")  # change at every collection: not news
PARIS = ZoneInfo("Europe/Paris")
AUTHOR = "Catalogue des aides à la transition écologique"
RIGHTS = "Licence Ouverte / Etalab 2.0"
SUMMARY_LENGTH = 300
THEMES = tuple(allowed_values("thematiques"))
KINDS = {  # event → (term of the entry's category and id, its label)
    ADDED: ("ajout", "Nouvelle aide"),
    MODIFIED: ("modification", "Aide modifiée"),
    "cloture": ("cloture", "Clôture proche"),
}

_COMMUNE = re.compile(r"^(?:COM-)?([0-9]{5}|2[AB][0-9]{3})$")
_PREFIXED = re.compile(r"^(EPCI|DEP|REG|PAYS)-([0-9AB]{1,9})$")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # not allowed in XML 1.0


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


FIELD_LABELS = {f.name: _lower_first(f.title or f.name) for f in published_fields()}


# --------------------------------------------------------------------------- events of a release


@dataclass(frozen=True)
class Events:
    """What the feeds of one release list, before choosing a territory or a theme."""

    version: str
    changes: pl.DataFrame  # id, changement, champs (list), version, created, titre
    closing: pl.DataFrame  # id, cloture (date in Paris), titre, depuis (datetime or null)


def _release_changes(snapshot: ReleaseSnapshot, releases: list[Publication], i: int) -> pl.DataFrame | None:
    """(id, changement, champs) of release ``i`` against the one before it."""
    publication = releases[i]
    path = publication.folder / "changements.csv"
    if path.is_file():
        try:
            frame = pl.read_csv(path, infer_schema_length=0)
            if "champs" not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.String).alias("champs"))
            return frame.select("id", "changement", "champs")
        except (OSError, pl.exceptions.PolarsError):
            LOG.warning("flux : %s illisible", path, exc_info=True)
    if publication.version == snapshot.version:
        return snapshot.changes_since(releases[i - 1].version if i else "")
    return None


def release_events(snapshot: ReleaseSnapshot) -> Events:
    """The additions and changes of the releases of the last :data:`WINDOW_DAYS` days still worth
    telling, and the open aids closing within :data:`CLOSING_DAYS` days of the latest release."""
    releases = [*snapshot.earlier.values(), snapshot.publication]
    start = snapshot.created - timedelta(days=WINDOW_DAYS)
    frames = []
    for i, publication in enumerate(releases):
        if publication.created < start and publication.version != snapshot.version:
            continue
        changes = _release_changes(snapshot, releases, i)
        if changes is not None:
            frames.append(
                changes.with_columns(
                    pl.lit(publication.version).alias("version"),
                    pl.lit(publication.created).dt.cast_time_unit("us").alias("created"),
                )
            )
    schema = pl.Schema(
        {
            "id": pl.String(),
            "changement": pl.String(),
            "champs": pl.String(),
            "version": pl.String(),
            "created": pl.Datetime("us", "UTC"),
        }
    )
    changes = pl.concat([f.cast(schema) for f in frames]) if frames else pl.DataFrame(schema=schema)
    meaningful = pl.element().filter(~pl.element().is_in(list(BOOKKEEPING)) & (pl.element() != ""))
    changes = (
        changes.filter(pl.col("changement").is_in([ADDED, MODIFIED]))
        .with_columns(pl.col("champs").fill_null("").str.split(MULTI_VALUE_SEPARATOR).list.eval(meaningful))
        .filter((pl.col("changement") == ADDED) | (pl.col("champs").list.len() > 0))
        .join(snapshot.aides.select("id", "statut", "titre"), on="id", how="inner")  # still published
        .filter(
            pl.col("statut").is_in(list(OPEN))
            | ((pl.col("changement") == MODIFIED) & pl.col("champs").list.contains("statut"))
        )
        .drop("statut")
    )
    day = snapshot.created.astimezone(PARIS).date()
    closes = pl.col("date_cloture").dt.convert_time_zone("Europe/Paris").dt.date()
    published = (  # when the aid or its current closing date was published, within the window
        changes.filter((pl.col("changement") == ADDED) | pl.col("champs").list.contains("date_cloture"))
        .group_by("id")
        .agg(pl.col("created").max().alias("depuis"))
    )
    closing = (
        snapshot.aides.filter(
            pl.col("statut").is_in(list(OPEN)) & closes.is_between(day, day + timedelta(days=CLOSING_DAYS))
        )
        .select("id", closes.alias("cloture"), "titre")
        .join(published, on="id", how="left")
    )
    return Events(snapshot.version, changes, closing)


class EventCache:
    """The events of the latest snapshot, computed once per release."""

    def __init__(self) -> None:
        self._held: Events | None = None
        self._lock = threading.Lock()

    def of(self, snapshot: ReleaseSnapshot) -> Events:
        held = self._held
        if held is not None and held.version == snapshot.version:
            return held
        built = release_events(snapshot)  # two requests may build it at once: the same result
        with self._lock:
            self._held = built
        return built


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    updated: datetime
    aid_id: str
    summary: str
    kind: str  # a key of KINDS


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(row: dict[str, Any], prefix: str = "") -> str:
    """The aid's promise, else the start of its description, as plain text on one line."""
    text = markdown_text(row.get("promesse") or row.get("description") or "")
    if len(text) > SUMMARY_LENGTH:
        text = text[:SUMMARY_LENGTH].rsplit(" ", 1)[0] + " …"
    return " ".join(part for part in (prefix, text) if part)


def _labels(fields: list[str]) -> list[str]:
    return [FIELD_LABELS.get(name, name) for name in fields]


def entries(snapshot: ReleaseSnapshot, events: Events, ids: pl.Series) -> list[Entry]:
    """The entries of the feed of the aids ``ids``: closings first, then events newest first."""
    wanted = ids.implode()
    closing = events.closing.filter(pl.col("id").is_in(wanted)).sort("cloture", "titre", "id", nulls_last=True)
    changes = (
        events.changes.filter(pl.col("id").is_in(wanted))
        .with_columns((pl.col("changement") == MODIFIED).alias("_ordre"))
        .sort(["created", "_ordre", "titre", "id"], descending=[True, False, False, False], nulls_last=True)
    )
    found: list[Entry] = []
    for item in closing.head(MAX_ENTRIES).iter_rows(named=True):
        row = snapshot.row(item["id"]) or {}
        closes: date = item["cloture"]
        entered = datetime.combine(closes - timedelta(days=CLOSING_DAYS), time(0), PARIS).astimezone(UTC)
        updated = max(entered, item["depuis"]) if item["depuis"] is not None else entered
        when = closes.strftime("%d/%m/%Y")
        found.append(
            Entry(
                f"{TAG}aide/{item['id']}/cloture/{closes.isoformat()}",
                f"Clôture proche : {row.get('titre') or item['id']} (ferme le {when})",
                updated,
                item["id"],
                _summary(row, f"Ferme le {when}."),
                "cloture",
            )
        )
    for item in changes.head(MAX_ENTRIES - len(found)).iter_rows(named=True):
        row = snapshot.row(item["id"]) or {}
        title = row.get("titre") or item["id"]
        term = KINDS[item["changement"]][0]
        if item["changement"] == ADDED:
            heading, prefix = f"Nouvelle aide : {title}", ""
        else:
            labels = _labels(item["champs"])
            shown = ", ".join(labels[:3]) + (" …" if len(labels) > 3 else "")
            heading, prefix = f"Aide modifiée : {title} ({shown})", f"Champs modifiés : {', '.join(labels)}."
            if "statut" in item["champs"] and row.get("statut"):
                prefix += f" Statut : {row['statut']}."
        found.append(
            Entry(
                f"{TAG}aide/{item['id']}/{item['version']}/{term}",
                heading,
                item["created"],
                item["id"],
                _summary(row, prefix),
                item["changement"],
            )
        )
    return found


# --------------------------------------------------------------------------- Atom


def _clean(value: str) -> str:
    return _NOT_XML.sub("", value)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {name: _clean(value) for name, value in attributes.items()})
    if text is not None:
        element.text = _clean(text)
    return element


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    subtitle: str
    path: str  # the feed's canonical address, from the site's root (no leading slash)
    alternate: str  # the page (or API answer) showing the same aids, from the site's root
    alternate_type: str


def atom(snapshot: ReleaseSnapshot, feed: Feed, items: list[Entry], base: str) -> bytes:
    """The Atom document (UTF-8) of ``feed`` with ``items``; ``base``: the site's URL, with a final /."""
    root = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "fr"})
    _sub(root, "id", feed.id)
    _sub(root, "title", feed.title, type="text")
    _sub(root, "subtitle", feed.subtitle, type="text")
    _sub(root, "updated", _rfc3339(snapshot.created))
    _sub(root, "link", rel="self", type="application/atom+xml", href=base + feed.path)
    _sub(root, "link", rel="alternate", type=feed.alternate_type, href=base + feed.alternate)
    author = _sub(root, "author")
    _sub(author, "name", AUTHOR)
    _sub(author, "uri", base)
    _sub(root, "rights", RIGHTS, type="text")
    _sub(root, "generator", "Catalogue des aides (publication " + snapshot.version + ")")
    schema = base + "telechargements/schema/schema.json"
    for item in items:
        entry = _sub(root, "entry")
        _sub(entry, "id", item.id)
        _sub(entry, "title", item.title, type="text")
        _sub(entry, "link", rel="alternate", type="text/html", href=f"{base}aide/{item.aid_id}")
        _sub(entry, "updated", _rfc3339(item.updated))
        _sub(entry, "summary", item.summary, type="text")
        term, label = KINDS[item.kind]
        _sub(entry, "category", term=term, label=label, scheme=f"{TAG}evenement")
        row = snapshot.row(item.aid_id) or {}
        for theme in (row.get("thematiques") or "").split(MULTI_VALUE_SEPARATOR):
            if theme:
                _sub(entry, "category", term=theme, scheme=schema)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# --------------------------------------------------------------------------- what a feed covers


@dataclass(frozen=True)
class Territory:
    code: str  # schema code: COM-49007, EPCI-…, DEP-49, REG-52, PAYS-99100
    key: str  # the snapshot's cache key for its aids (the API's)
    name: str
    communes: list[str]


def territory(store: ReleaseStore, requested: str) -> Territory:
    """The territory an address names, or ApiError 404 (unknown) / 503 (no referential)."""
    resolver = store.resolver()
    if resolver is None:
        raise ApiError(
            503, "Référentiel indisponible", "Le référentiel géographique n'est pas disponible pour l'instant."
        )
    text = requested.strip().upper()
    unknown = ApiError(
        404,
        "Territoire inconnu",
        f"« {requested[:40]} » ne désigne aucun territoire du référentiel : code INSEE d'une commune, "
        "EPCI-<SIREN>, DEP-<code>, REG-<code> ou PAYS-99100.",
        "code",
    )
    commune = _COMMUNE.match(text)
    prefixed = _PREFIXED.match(text)
    if commune:
        current = resolver.current_commune(commune.group(1))
        if current is None:
            raise unknown
        code, key, communes = f"COM-{current}", current, [current]
    elif prefixed:
        prefix, value = prefixed.groups()
        code = f"{prefix}-{normalise_dep_code(value)}" if prefix in ("DEP", "REG") else text
        try:
            communes = resolver.commune_codes(code)
        except ValueError:
            communes = []
        if not communes:
            raise unknown
        key = code
    else:
        raise unknown
    label = re.fullmatch(r"\S+ \((.+)\)", resolver.label(code))
    name = label.group(1) if label else code
    if label and code.startswith("COM-"):
        name = name.rsplit(", ", 1)[0]  # "Angers, 49": the département is in the subtitle's code
    return Territory(code, key, name, communes)


def _theme_ids(snapshot: ReleaseSnapshot, theme: str) -> pl.Series:
    return snapshot.lists.filter(pl.col("thematiques").list.contains(theme)).get_column("id")


# --------------------------------------------------------------------------- routes


def register_feeds(app: FastAPI, store: ReleaseStore) -> None:
    """Add ``/flux/territoire/{code}.atom`` and ``/flux/thematique/{thematique}.atom`` to ``app``."""
    cache = EventCache()

    def answer(request: Request, snapshot: ReleaseSnapshot, feed: Feed, ids: pl.Series) -> Response:
        base = str(request.base_url)
        base = base if base.endswith("/") else base + "/"
        body = atom(snapshot, feed, entries(snapshot, cache.of(snapshot), ids), base)
        return Response(body, media_type=ATOM_MEDIA, headers=_headers(snapshot))

    @app.get("/flux/territoire/{code}.atom", include_in_schema=False)
    def territory_feed(request: Request, code: str) -> Response:
        try:
            snapshot = _snapshot(store)
            found = territory(store, code)
            if _not_modified(request, snapshot):
                return Response(status_code=304, headers=_headers(snapshot))
            page = territory_url_code(found.code)
            feed = Feed(
                id=f"{TAG}flux/territoire/{found.code}",
                title=f"Aides à la transition écologique — {found.name}",
                subtitle=f"Nouvelles aides, aides modifiées et clôtures dans les {CLOSING_DAYS} jours : "
                f"{found.name} ({found.code}).",
                path=f"flux/territoire/{page}.atom",
                alternate=f"territoire/{page}",
                alternate_type="text/html",
            )
            return answer(request, snapshot, feed, snapshot.territory_ids(found.key, found.communes))
        except ApiError as exc:
            return problem(exc.status, exc.title, exc.detail, exc.parameter, **exc.extra)

    @app.get("/flux/thematique/{thematique}.atom", include_in_schema=False)
    def theme_feed(request: Request, thematique: str) -> Response:
        try:
            snapshot = _snapshot(store)
            if thematique not in THEMES:
                raise ApiError(
                    404,
                    "Thématique inconnue",
                    f"« {thematique[:40]} » n'est pas une thématique du schéma : {', '.join(THEMES)}.",
                    "thematique",
                )
            if _not_modified(request, snapshot):
                return Response(status_code=304, headers=_headers(snapshot))
            feed = Feed(
                id=f"{TAG}flux/thematique/{thematique}",
                title=f"Aides à la transition écologique — thématique {thematique}",
                subtitle=f"Nouvelles aides, aides modifiées et clôtures dans les {CLOSING_DAYS} jours, "
                f"thématique {thematique}.",
                path=f"flux/thematique/{thematique}.atom",
                alternate=f"api/v1/aides?thematique={thematique}",
                alternate_type="application/json",
            )
            return answer(request, snapshot, feed, _theme_ids(snapshot, thematique))
        except ApiError as exc:
            return problem(exc.status, exc.title, exc.detail, exc.parameter, **exc.extra)
