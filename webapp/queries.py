"""Read-only queries behind the pages: territories, the aids that apply there, releases.

Everything is read from the warehouse (DuckDB, read-only) and from the published releases;
nothing here writes. What an agent must notice about an aid (closed but still online at
its source, no link, broken link, unresolved geography, possible duplicate, stale source)
is computed in one set-based query per page, not aid by aid.

One process serves many requests, but DuckDB refuses, inside one process, a read-only and
a read-write connection to the same file at the same time: :class:`WarehouseAccess`
serialises the (short) moments the application holds a connection.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from schemas import field_names, published_fields
from warehouse.db import connect_reader, connect_writer
from warehouse.normalise.geography import FRANCE, GeoResolver, normalise_dep_code
from warehouse.publication.lookup import CatalogueIndex, current_commune
from warehouse.publication.release import LATEST, list_releases
from warehouse.settings import WarehousePaths
from webapp import conditions
from webapp.territory_search import TerritoryIndex

# Groups of the territory page, from the closest to the farthest level.
LEVEL_GROUPS: tuple[tuple[str, str], ...] = (
    ("commune", "Commune"),
    ("epci", "Intercommunalité (EPCI)"),
    ("departement", "Département"),
    ("region", "Région"),
    ("national", "National et européen"),
)
LEVEL_NAMES = {
    "commune": "commune",
    "epci": "intercommunalité",
    "departement": "département",
    "region": "région",
    "pays": "pays",
}
_INSEE = re.compile(r"^(?:\d{5}|2[AB]\d{3}|\d{4})$")
_PREFIXED = re.compile(r"^(COM|EPCI|DEP|REG|PAYS)-([0-9AB]{1,9})$")
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}\.\d+$")
_ORDER = ("commune", "epci", "departement", "region")


# --------------------------------------------------------------------------- connections


class WarehouseAccess:
    """The application's way to the warehouse: short connections, one at a time, cached lookups.

    The geography resolver (a few seconds to build on the full referential) is built once
    and rebuilt only when the referential is reloaded; the catalogue index only when
    ``exports/latest`` points to another release.
    """

    def __init__(self, paths: WarehousePaths) -> None:
        self.paths = paths
        self._lock = threading.RLock()
        self._resolver: GeoResolver | None = None
        self._resolver_key: Any = object()
        self._index: CatalogueIndex | None = None
        self._index_key: Path | None = None
        self._territories: TerritoryIndex | None = None
        self._territories_key: Any = object()

    @contextmanager
    def reader(self, timeout_s: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock, connect_reader(self.paths, timeout_s=timeout_s) as conn:
            yield conn

    @contextmanager
    def writer(self, timeout_s: float = 20.0) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock, connect_writer(self.paths, timeout_s=timeout_s) as conn:
            yield conn

    def territory_index(self, conn: duckdb.DuckDBPyConnection) -> TerritoryIndex:
        """Names people type → territories (``webapp/territory_search.py``), with the resolver's key."""
        self.resolver(conn)
        with self._lock:
            if self._territories is None or self._territories_key != self._resolver_key:
                self._territories = TerritoryIndex.from_warehouse(conn)
                self._territories_key = self._resolver_key
            return self._territories

    def resolver(self, conn: duckdb.DuckDBPyConnection) -> GeoResolver:
        """The resolver of the referential loaded in the warehouse."""
        with self._lock:
            key = referential_key(conn)
            if self._resolver is None or key != self._resolver_key:
                self._resolver = GeoResolver.from_warehouse(conn)
                self._resolver_key = key
            return self._resolver

    def catalogue_index(self) -> CatalogueIndex | None:
        """The commune → aids index of the latest release, or None when nothing is published."""
        release = latest_release(self.paths)
        if release is None or not (release / "aides-communes.parquet").is_file():
            return None
        with self._lock:
            if self._index is None or self._index_key != release:
                self._index = CatalogueIndex(release)
                self._index_key = release
            return self._index


def referential_key(conn: duckdb.DuckDBPyConnection) -> tuple:
    """Changes whenever the referential is reloaded (or hand-filled, in tests)."""
    loaded = conn.execute("SELECT max(loaded_at) FROM ref_version").fetchone()
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM ref_communes), (SELECT count(*) FROM ref_epci), "
        "(SELECT count(*) FROM ref_communes_rattachees)"
    ).fetchone()
    return (loaded[0] if loaded else None, *(counts or ()))


def latest_release(paths: WarehousePaths) -> Path | None:
    """The folder of the latest complete release (``exports/latest``, else the newest one)."""
    exports = paths.exports_dir
    link = exports / LATEST
    if link.exists():
        return link.resolve()
    releases = list_releases(exports)
    return (exports / "releases" / releases[-1]).resolve() if releases else None


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
    return bool(row and row[0])


# --------------------------------------------------------------------------- territories


@dataclass
class Territory:
    """A territory of the referential, with the codes an aid must name to apply there."""

    code: str  # schema code: COM-49007, EPCI-200071678, DEP-49, REG-52, PAYS-99100
    niveau: str  # commune, epci, departement, region, pays
    nom: str
    chain: list[str]  # territories containing it entirely (itself included): an aid there applies everywhere
    inner: list[str]  # territories inside it: an aid there applies to a part of it
    parents: list[tuple[str, str, str]] = field(default_factory=list)  # (niveau, nom, code), largest first
    communes: int = 0
    note: str | None = None  # how the requested code was read, when not plainly

    @property
    def url_code(self) -> str:
        return territory_url_code(self.code)

    @property
    def niveau_nom(self) -> str:
        return LEVEL_NAMES.get(self.niveau, self.niveau)


def territory_url_code(code: str) -> str:
    """The code in the territory page's address: a commune by its INSEE code, others prefixed."""
    return code.removeprefix("COM-") if code.startswith("COM-") else code


def find_territory(conn: duckdb.DuckDBPyConnection, resolver: GeoResolver, requested: str) -> Territory | None:
    """The territory a page address names: an INSEE code, or a COM-/EPCI-/DEP-/REG-/PAYS- code."""
    text = (requested or "").strip().upper()
    match = _PREFIXED.match(text)
    note = None
    if _INSEE.match(text) or (match and match.group(1) == "COM"):
        commune = current_commune(text, conn, resolver)
        if commune is None:
            return None
        bare = text.removeprefix("COM-")
        if commune != bare and commune != "0" + bare:
            note = f"Le code {bare} désigne un territoire rattaché à la commune {commune} : voici ses aides."
        code = f"COM-{commune}"
    elif match:
        prefix, value = match.groups()
        code = f"{prefix}-{normalise_dep_code(value)}" if prefix in ("DEP", "REG") else text
        if not resolver.is_known(code):
            return None
    else:
        return None
    territory = _territory_of(conn, code)
    if territory is not None:
        territory.note = note
    return territory


def _territory_of(conn: duckdb.DuckDBPyConnection, code: str) -> Territory | None:
    """The territory of a known schema code: its name, the codes containing it and those inside it."""
    prefix, value = code.split("-", 1)
    if prefix == "PAYS":
        if code != FRANCE:
            return None
        return Territory(
            code,
            "pays",
            "France",
            chain=[FRANCE],
            inner=[],
            communes=conn.execute("SELECT count(*) FROM ref_communes").fetchone()[0],
        )
    where = {
        "COM": "c.code = ?",
        "EPCI": "c.code IN (SELECT commune FROM ref_epci_membres WHERE epci = ?)",
        "DEP": "c.departement = ?",
        "REG": "c.region = ?",
    }[prefix]
    row = conn.execute(
        f"""
        WITH t AS (
            SELECT c.code, c.nom, c.departement, c.region, m.epci
            FROM ref_communes c LEFT JOIN ref_epci_membres m ON m.commune = c.code
            WHERE {where}
        )
        SELECT count(DISTINCT code), min(nom),
               list(DISTINCT epci ORDER BY epci) FILTER (WHERE epci IS NOT NULL),
               list(DISTINCT departement ORDER BY departement),
               list(DISTINCT region ORDER BY region)
        FROM t
        """,
        [value],
    ).fetchone()
    if not row or not row[0]:
        return None
    count, commune_nom, epcis, deps, regions = row[0], row[1], row[2] or [], row[3] or [], row[4] or []
    niveau = {"COM": "commune", "EPCI": "epci", "DEP": "departement", "REG": "region"}[prefix]
    chain, inner = [code], []
    if niveau == "commune":  # its EPCI contains it
        chain.extend(f"EPCI-{e}" for e in epcis)
    elif niveau in ("departement", "region"):  # EPCIs with members inside it
        inner.extend(f"EPCI-{e}" for e in epcis)
    if niveau != "commune":
        inner.extend(_commune_codes(conn, where, value))
    for level, values, prefix_code in (("departement", deps, "DEP"), ("region", regions, "REG")):
        codes = [f"{prefix_code}-{v}" for v in values]
        if _ORDER.index(niveau) < _ORDER.index(level):  # a larger territory: containing it if it is only one
            (chain if len(values) == 1 else inner).extend(codes)
        elif _ORDER.index(niveau) > _ORDER.index(level):  # smaller territories inside it
            inner.extend(codes)
    chain.append(FRANCE)
    nom = commune_nom if niveau == "commune" else _name(conn, prefix, value)
    parents = _parents(conn, niveau, epcis, deps, regions)
    return Territory(code, niveau, nom, chain=_unique(chain), inner=_unique(inner), parents=parents, communes=count)


def _commune_codes(conn: duckdb.DuckDBPyConnection, where: str, value: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            f"SELECT 'COM-' || c.code FROM ref_communes c WHERE {where} ORDER BY 1", [value]
        ).fetchall()
    ]


def _name(conn: duckdb.DuckDBPyConnection, prefix: str, value: str) -> str:
    table, key = {"EPCI": ("ref_epci", "siren"), "DEP": ("ref_departements", "code"), "REG": ("ref_regions", "code")}[
        prefix
    ]
    row = conn.execute(f"SELECT nom FROM {table} WHERE {key} = ?", [value]).fetchone()
    return row[0] if row else f"{prefix}-{value}"


def _parents(
    conn: duckdb.DuckDBPyConnection, niveau: str, epcis: list[str], deps: list[str], regions: list[str]
) -> list[tuple[str, str, str]]:
    """The larger territories a territory lies in entirely, largest first (for the breadcrumb)."""
    parents: list[tuple[str, str, str]] = []
    if niveau in ("commune", "epci", "departement") and len(regions) == 1:
        parents.append(("region", _name(conn, "REG", regions[0]), f"REG-{regions[0]}"))
    if niveau in ("commune", "epci") and len(deps) == 1:
        parents.append(("departement", _name(conn, "DEP", deps[0]), f"DEP-{deps[0]}"))
    if niveau == "commune" and len(epcis) == 1:
        parents.append(("epci", _name(conn, "EPCI", epcis[0]), f"EPCI-{epcis[0]}"))
    return parents


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------- search


@dataclass
class Candidate:
    code: str
    label: str
    url_code: str


@dataclass
class SearchAnswer:
    query: str
    status: str  # resolved, ambiguous, unresolved, empty
    candidates: list[Candidate]
    message: str | None
    postal_code_shared: bool = False

    @property
    def single(self) -> Candidate | None:
        return self.candidates[0] if self.status == "resolved" and len(self.candidates) == 1 else None


def search_territory(resolver: GeoResolver, query: str, names: TerritoryIndex | None = None) -> SearchAnswer:
    """A territory from a name, a postal code or a code; never a silent choice between several.

    A name goes through ``names`` (prefixes, approximate names, ranked by population, labelled
    with the département); codes and postal codes through the resolver, current communes of a
    postal code before a former code that reads the same, each territory listed once."""
    text = (query or "").strip()
    if not text:
        return SearchAnswer(text, "empty", [], None)
    if names is not None and re.search(r"[^\W\d_]", text):
        found = names.by_name(text[:200])
        if found:
            chosen = names.chosen(found)
            if chosen is not None:
                place = chosen.place
                return SearchAnswer(
                    text, "resolved", [Candidate(place.code, place.label, territory_url_code(place.code))], None
                )
            approximate = all(f.match == "approximate" for f in found)
            message = (
                f"Aucun territoire ne s'appelle « {text} ». Vouliez-vous dire :"
                if approximate
                else f"Plusieurs territoires correspondent à « {text} » : choisissez le vôtre."
            )
            candidates = [Candidate(f.place.code, f.place.label, territory_url_code(f.place.code)) for f in found]
            return SearchAnswer(text, "ambiguous", candidates, message)
    resolution = resolver.resolve(text[:200])
    codes = list(dict.fromkeys(resolution.codes or resolution.candidates))  # each territory once
    known = [code for code in codes if code.split("-", 1)[0] in ("COM", "EPCI", "DEP", "REG") or code == FRANCE]
    if names is not None and text.isdigit():  # the communes of a postal code before a former code
        postal = set(names.postal.get(text, []))
        known.sort(key=lambda code: code not in postal)
    candidates = [Candidate(code, resolver.label(code), territory_url_code(code)) for code in known]
    shared = "code_postal_partage" in resolution.flags
    status = resolution.status
    message = resolution.reason
    if status == "resolved" and len(candidates) > 1:
        status = "ambiguous"  # a shared postal code or a list: the visitor chooses
        message = (
            f"Le code postal {text} est partagé par {len(candidates)} communes : choisissez la vôtre."
            if shared
            else f"« {text} » désigne plusieurs territoires : choisissez le vôtre."
        )
    elif status == "ambiguous":
        message = f"« {text} » désigne plusieurs territoires : choisissez le vôtre."
    if status == "resolved" and not candidates:
        status, message = "unresolved", f"« {text} » n'est pas un territoire français du référentiel."
    if status == "unresolved":
        message = (
            f"Aucun territoire ne correspond à « {text} » : essayez un nom de commune, un code postal ou un code INSEE."
        )
    return SearchAnswer(text, status, candidates, message, shared)


# --------------------------------------------------------------------------- aids of a territory


def covering_aid_ids(
    conn: duckdb.DuckDBPyConnection, territory: Territory, only_unpublished: bool = False
) -> list[str]:
    """Aids whose geography names the territory, a territory containing it or one inside it.

    An exclusion removes the aid only when it names the territory or one containing it.
    """
    extra = "AND NOT publiable" if only_unpublished else ""
    rows = conn.execute(
        f"""
        SELECT id::VARCHAR FROM aides
        WHERE list_has_any(eligibilite_geographique, ?::VARCHAR[])
          AND NOT list_has_any(coalesce(eligibilite_geographique_exclusions, []::VARCHAR[]), ?::VARCHAR[])
          {extra}
        """,
        [territory.chain + territory.inner, territory.chain],
    ).fetchall()
    return [r[0] for r in rows]


@dataclass
class Coverage:
    ids: list[str]
    release: str | None  # version of the release the commune's coverage was read from
    release_missing: list[dict]  # aids of that release no longer in the warehouse (release summaries)


def territory_aid_ids(conn: duckdb.DuckDBPyConnection, access: WarehouseAccess, territory: Territory) -> Coverage:
    """For a commune, the latest release's index (plus the aids kept unpublished); else the warehouse."""
    index = access.catalogue_index() if territory.niveau == "commune" else None
    if index is None:
        return Coverage(covering_aid_ids(conn, territory), None, [])
    published = index.aid_ids(territory.code.removeprefix("COM-"), include_closed=True)
    present = {
        r[0]
        for r in conn.execute(
            "SELECT id::VARCHAR FROM aides WHERE id::VARCHAR IN (SELECT unnest(?::VARCHAR[]))", [published]
        ).fetchall()
    }
    missing = [i for i in published if i not in present]
    unpublished = covering_aid_ids(conn, territory, only_unpublished=True)
    return Coverage(
        _unique([i for i in published if i in present] + unpublished),
        index.release.name,
        index.summaries(missing) if missing else [],
    )


_SOURCE_RUNS_LATEST = """
    SELECT source, status, stale, run_at, records, error FROM source_runs
    QUALIFY row_number() OVER (PARTITION BY source ORDER BY run_at DESC) = 1
"""


def _broken_link_condition(conn: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """How to read a ``liens`` table (link checks), when one exists: (latest rows SQL, broken predicate)."""
    columns = {
        r[0].lower()
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'liens'"
        ).fetchall()
    }
    if "url" not in columns:
        return None
    if "casse" in columns:
        broken = "casse"
    elif "ok" in columns:
        broken = "NOT ok"
    else:
        status = next((c for c in ("http_status", "statut_http", "status_code", "code_http") if c in columns), None)
        if status:
            broken = f"TRY_CAST({status} AS INTEGER) >= 400 OR {status} IS NULL"
        elif "statut" in columns:
            broken = "lower(statut) IN ('cassé', 'casse', 'broken', 'erreur', 'injoignable', 'introuvable')"
        else:
            return None
    when = next((c for c in ("verifie_le", "checked_at", "date_verification", "verified_at") if c in columns), None)
    latest = (
        "SELECT * FROM liens"
        if when is None
        else f"SELECT * FROM liens QUALIFY row_number() OVER (PARTITION BY url ORDER BY {when} DESC) = 1"
    )
    return latest, broken


_SUMMARY_COLUMNS = ", ".join(f"sel.{name}" for name in sorted(conditions.SUMMARY_FIELDS))
"""The columns of the conditions summed up under each aid's title (``webapp/conditions.py``)."""


def aid_rows(conn: duckdb.DuckDBPyConnection, ids: list[str]) -> list[dict]:
    """The aids with what needs attention, in one query (see the module docstring)."""
    if not ids:
        return []
    links = _broken_link_condition(conn) if table_exists(conn, "liens") else None
    links_cte = links_join = ""
    links_col = "NULL::VARCHAR[] AS liens_casses"
    if links:
        latest, broken = links
        links_cte = f""",
        liens_derniers AS ({latest}),
        casses AS (
            SELECT s.id, list(DISTINCT l.url ORDER BY l.url) AS liens_casses
            FROM sel s JOIN liens_derniers l ON l.url = s.url_source OR l.url = s.url_demarche
            WHERE {broken}
            GROUP BY s.id
        )"""
        links_join = "LEFT JOIN casses ON casses.id = sel.id"
        links_col = "casses.liens_casses"
    sql = f"""
        WITH sel AS (SELECT * FROM aides WHERE id::VARCHAR IN (SELECT unnest(?::VARCHAR[]))),
        prov AS (
            SELECT p.aid_id, bool_or(r.native_id IS NOT NULL) AS source_presente, count(*) AS enregistrements
            FROM aides_provenance p
            LEFT JOIN (SELECT DISTINCT source, native_id FROM source_records) r
                   ON r.source = p.source AND r.native_id = p.native_id
            WHERE p.aid_id IN (SELECT id FROM sel)
            GROUP BY p.aid_id
        ),
        dup AS (
            SELECT p.aid_id, count(*) AS doublons
            FROM aides_provenance p
            JOIN doublons_a_revoir d ON p.record_key = d.record_key_a OR p.record_key = d.record_key_b
            WHERE p.aid_id IN (SELECT id FROM sel)
            GROUP BY p.aid_id
        ),
        runs AS ({_SOURCE_RUNS_LATEST}),
        perimees AS (
            SELECT s.id, list(DISTINCT r.source ORDER BY r.source) AS sources_perimees
            FROM (SELECT id, unnest(sources) AS source FROM sel) s JOIN runs r ON r.source = s.source
            WHERE r.stale OR r.status = 'unavailable'
            GROUP BY s.id
        ){links_cte}
        SELECT sel.id::VARCHAR AS id, sel.titre, sel.promesse, sel.statut, sel.echelle, sel.date_ouverture,
               sel.date_cloture, sel.porteurs, sel.sources, sel.url_source, sel.url_demarche,
               sel.montant_max, sel.taux_max, {_SUMMARY_COLUMNS},
               sel.eligibilite_geographique, sel.geo_statut, sel.publiable, sel.motifs_non_publiable,
               sel.signalements,
               coalesce(prov.source_presente, false) AS source_presente,
               coalesce(dup.doublons, 0) AS doublons,
               perimees.sources_perimees,
               {links_col}
        FROM sel
        LEFT JOIN prov ON prov.aid_id = sel.id
        LEFT JOIN dup ON dup.aid_id = sel.id
        LEFT JOIN perimees ON perimees.id = sel.id
        {links_join}
        ORDER BY sel.titre, sel.id
    """
    cursor = conn.execute(sql, [ids])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
    for row in rows:  # the page's rows only: a few dozen
        row["alertes"] = attention_flags(row)
        row["groupe"] = level_group(row.get("echelle"))
        row["conditions_resume"] = conditions.summary(row)
    return rows


@dataclass(frozen=True)
class Flag:
    kind: str  # a stable identifier, for tests and styling
    label: str  # French, short
    detail: str | None = None


def attention_flags(row: dict) -> list[Flag]:
    """What an agent should check about an aid, from the columns of :func:`aid_rows`."""
    flags: list[Flag] = []
    if row.get("statut") == "clôturée" and row.get("source_presente"):
        flags.append(
            Flag(
                "cloturee_en_ligne",
                "Clôturée, encore en ligne",
                "La date de clôture est passée alors que la source publie toujours cette aide.",
            )
        )
    if not row.get("url_source") and not row.get("url_demarche"):
        flags.append(Flag("sans_lien", "Sans lien", "Aucune page d'information ni de démarche."))
    if row.get("liens_casses"):
        flags.append(Flag("lien_casse", "Lien cassé", ", ".join(row["liens_casses"])))
    if row.get("geo_statut") == "ambiguous":
        flags.append(Flag("geo_ambigue", "Géographie ambiguë", _signalements(row)))
    elif row.get("geo_statut") == "unresolved":
        flags.append(Flag("geo_non_resolue", "Géographie non résolue", _signalements(row)))
    if row.get("doublons"):
        flags.append(
            Flag(
                "doublon_possible",
                "Doublon possible",
                f"{row['doublons']} rapprochement(s) à revoir avec une autre fiche.",
            )
        )
    if row.get("sources_perimees"):
        flags.append(
            Flag(
                "source_perimee", "Source périmée", "Dernière collecte en échec : " + ", ".join(row["sources_perimees"])
            )
        )
    if row.get("publiable") is False:
        flags.append(Flag("non_publiee", "Non publiée", "; ".join(row.get("motifs_non_publiable") or []) or None))
    return flags


def _signalements(row: dict) -> str | None:
    items = [s for s in (row.get("signalements") or []) if "géograph" in s.lower()] or list(
        row.get("signalements") or []
    )
    return "; ".join(items) or None


def level_group(echelle: str | None) -> str:
    return echelle if echelle in ("commune", "epci", "departement", "region") else "national"


def grouped(rows: list[dict]) -> list[tuple[str, str, list[dict]]]:
    """The rows by level, in the order of :data:`LEVEL_GROUPS`, empty groups left out."""
    return [
        (key, label, [r for r in rows if r["groupe"] == key])
        for key, label in LEVEL_GROUPS
        if any(r["groupe"] == key for r in rows)
    ]


# --------------------------------------------------------------------------- one aid


def is_aid_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


AID_PAGE = Path(__file__).with_name("templates") / "aide.html"
AID_PAGE_FIELDS: frozenset[str] = (
    frozenset(re.findall(r"\ba\.(\w+)", AID_PAGE.read_text(encoding="utf-8"))) & frozenset(field_names())
) | conditions.CONDITION_FIELDS
"""Published fields ``aide.html`` shows in a place of its own (read from the template: ``a.<champ>``,
and the conditions of ``webapp/conditions.py``); any other one is listed under « Autres
informations » with its schema title."""


def aid_detail(conn: duckdb.DuckDBPyConnection, aid_id: str) -> dict | None:
    """The whole aid, its provenance from every source, its doubtful pairs and problems."""
    if not is_aid_id(aid_id):
        return None
    cursor = conn.execute("SELECT * FROM aides WHERE id = ?::UUID", [aid_id])
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    if row is None:
        return None
    aid = dict(zip(names, row, strict=False))
    aid["id"] = str(aid["id"])
    # who grants, funds or instructs it, with SIREN and roles (warehouse/normalise/acteurs.py)
    aid["acteurs"] = json.loads(aid["acteurs"]) if aid.get("acteurs") else []
    listed = aid_rows(conn, [aid["id"]])
    if listed:
        aid.update({k: v for k, v in listed[0].items() if k not in aid})
    aid["alertes"] = listed[0]["alertes"] if listed else []
    aid["conditions"] = conditions.conditions(aid)
    aid["autres_champs"] = [
        (f.title, aid[f.name])
        for f in published_fields()
        if f.name not in AID_PAGE_FIELDS and aid.get(f.name) not in (None, [], "")
    ]
    aid["provenance"] = _records(
        conn,
        f"""
        SELECT p.record_key, p.source, p.native_id, p.representant, coalesce(r.titre, p.titre) AS titre,
               coalesce(r.url_source, p.url) AS url, r.url_demarche, r.porteurs, r.niveau,
               r.geo_inclusions::VARCHAR AS geo_inclusions, r.geo_exclusions::VARCHAR AS geo_exclusions,
               r.date_ouverture, r.date_cloture, r.date_mise_a_jour, r.montants, r.taux,
               r.native_id IS NOT NULL AS presente,
               runs.status AS collecte_statut, runs.stale AS collecte_perimee, runs.run_at AS collecte_le,
               runs.error AS collecte_erreur
        FROM aides_provenance p
        LEFT JOIN (SELECT * FROM source_records QUALIFY row_number() OVER (PARTITION BY source, native_id) = 1) r
               ON r.source = p.source AND r.native_id = p.native_id
        LEFT JOIN ({_SOURCE_RUNS_LATEST}) runs ON runs.source = p.source
        WHERE p.aid_id = ?::UUID
        ORDER BY p.representant DESC, p.source, p.native_id
        """,
        [aid_id],
    )
    for record in aid["provenance"]:
        record["geo_mentions"] = _mentions(record.pop("geo_inclusions"))
        record["geo_exclues"] = _mentions(record.pop("geo_exclusions"))
    aid["doublons_a_revoir"] = _records(
        conn,
        """
        WITH mine AS (SELECT record_key FROM aides_provenance WHERE aid_id = ?::UUID),
        pairs AS (
            SELECT d.record_key_a AS mien, d.record_key_b AS autre, d.score, d.raison FROM doublons_a_revoir d
            WHERE d.record_key_a IN (SELECT record_key FROM mine)
            UNION ALL
            SELECT d.record_key_b, d.record_key_a, d.score, d.raison FROM doublons_a_revoir d
            WHERE d.record_key_b IN (SELECT record_key FROM mine)
        )
        SELECT pairs.mien, pairs.autre, pairs.score, pairs.raison, p.aid_id::VARCHAR AS autre_aide,
               coalesce(a.titre, p.titre) AS autre_titre
        FROM pairs
        LEFT JOIN aides_provenance p ON p.record_key = pairs.autre
        LEFT JOIN aides a ON a.id = p.aid_id
        ORDER BY pairs.score DESC NULLS LAST, pairs.autre
        """,
        [aid_id],
    )
    aid["problemes"] = _records(
        conn,
        """
        SELECT n.source, n.record_key, n.champ, n.valeur, n.probleme FROM normalisation_problemes n
        WHERE n.record_key IN (SELECT record_key FROM aides_provenance WHERE aid_id = ?::UUID)
        ORDER BY n.source, n.champ
        LIMIT 200
        """,
        [aid_id],
    )
    return aid


def _records(conn: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def _mentions(text: str | None) -> list[str]:
    """A record's geography as the source stated it, readable: "commune 49007 (Angers)"."""
    if not text:
        return []
    try:
        items = json.loads(text)
    except ValueError:
        return [text]
    shown = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict):
            parts = [str(item.get(k)) for k in ("niveau", "code") if item.get(k)]
            nom = item.get("nom")
            shown.append(" ".join(parts) + (f" ({nom})" if nom and parts else (nom or "")))
        else:
            shown.append(str(item))
    return shown


def submissions_of(conn: duckdb.DuckDBPyConnection, siren: str, limit: int = 20) -> dict[str, list[dict]]:
    """A collectivité's latest accepted submissions and refused attempts (empty before migration 0005)."""
    found: dict[str, list[dict]] = {"soumissions": [], "refus": []}
    if table_exists(conn, "soumissions"):
        found["soumissions"] = _records(
            conn,
            "SELECT id, email, received_at, filename, rows, sha256 FROM soumissions WHERE siren = ? "
            "ORDER BY received_at DESC LIMIT ?",
            [siren, limit],
        )
    if table_exists(conn, "soumissions_refusees"):
        found["refus"] = _records(
            conn,
            "SELECT email, received_at, reason, filename FROM soumissions_refusees WHERE siren = ? "
            "ORDER BY received_at DESC LIMIT ?",
            [siren, limit],
        )
    return found


def source_status(conn: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each source's latest run (for the home page's freshness table)."""
    return _records(conn, f"SELECT * FROM ({_SOURCE_RUNS_LATEST}) ORDER BY source", [])


# --------------------------------------------------------------------------- releases


@dataclass
class ReleaseFile:
    name: str
    title: str | None
    bytes: int | None
    sha256: str | None
    rows: int | None


@dataclass
class ReleaseInfo:
    version: str
    created: str | None
    is_latest: bool
    files: list[ReleaseFile]
    notes: list[ReleaseFile]  # the files that are not resources: datapackage.json, CHANGELOG.md, README.md
    problem: str | None = None


def releases(paths: WarehousePaths) -> list[ReleaseInfo]:
    """Every complete release, newest first, described by its own datapackage.json."""
    exports = paths.exports_dir
    latest = latest_release(paths)
    found = []
    for version in reversed(list_releases(exports)):
        folder = exports / "releases" / version
        files: list[ReleaseFile] = []
        created, problem = None, None
        try:
            package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
            created = package.get("created")
            for resource in package.get("resources", []):
                path = str(resource.get("path", ""))
                if "://" in path:  # a public address (AIDES_PUBLIC_URL): the file is the folder's
                    path = path.rsplit("/", 1)[-1]
                if "/" in path or not (folder / path).is_file():
                    continue
                digest = str(resource.get("hash", ""))
                files.append(
                    ReleaseFile(
                        path,
                        resource.get("title"),
                        resource.get("bytes"),
                        digest.removeprefix("sha256:") if digest.startswith("sha256:") else None,
                        resource.get("rows", resource.get("num_rows")),
                    )
                )
        except (OSError, ValueError, AttributeError) as exc:
            problem = f"datapackage.json illisible ({type(exc).__name__})"
        listed = {f.name for f in files}
        notes = [
            ReleaseFile(name, None, (folder / name).stat().st_size, None, None)
            for name in ("datapackage.json", "CHANGELOG.md", "README.md")
            if name not in listed and (folder / name).is_file()
        ]
        found.append(ReleaseInfo(version, created, folder.resolve() == latest, files, notes, problem))
    return found


def release_file(paths: WarehousePaths, version: str, name: str) -> Path | None:
    """The file ``name`` of release ``version``, or None: never a path outside that release."""
    exports = paths.exports_dir
    if version == LATEST:
        latest = latest_release(paths)
        if latest is None:
            return None
        version = latest.name
    if not _VERSION.match(version) or version not in list_releases(exports):
        return None
    if not name or name != Path(name).name or name.startswith(".") or "\\" in name or "\x00" in name:
        return None
    folder = (exports / "releases" / version).resolve()
    candidate = folder / name
    if candidate.is_symlink() or not candidate.is_file() or candidate.resolve().parent != folder:
        return None
    return candidate
