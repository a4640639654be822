"""Turn the geography a source states (a code or a name) into the published schema's codes.

Sources name territories in every form: INSEE codes with or without their leading zero,
postal codes, SIRENs, "Ville de Caen", "CC des Monts du Pilat", "Drôme (Département)",
"Région Sud", "Landes, Nouvelle-Aquitaine, Occitanie"… Normalisation, the CLI and the
submissions of collectivités all need the same answer, so it lives here, in one resolver
built once from the referential tables (``ref_*``) and two data files of
``warehouse/normalise/vocab/``: ``pays.csv`` (COG country codes) and ``geo_aliases.csv`` (names that
no normalisation can find, e.g. "Grand Lyon"). Both are data, not code: fix them there.

Nothing is guessed silently. A :class:`Resolution` is ``resolved`` (with its codes),
``ambiguous`` (with its candidates) or ``unresolved``, and every non-plain answer carries
a French ``reason`` and ``flags`` saying how it was reached:

- ``code_sans_zero``: an INSEE / département code written without its leading zero (``1004``);
- ``arrondissement_municipal``, ``commune_deleguee``, ``commune_associee``, ``ancien_code``:
  the code or name is one of those, resolved to its current commune;
- ``code_postal``: read as a postal code; ``code_postal_partage``: shared by several
  communes, resolved to all of them;
- ``siren_commune``: a 9-digit SIREN that is a commune's; ``siret``: a SIRET, read by its SIREN;
- ``collectivite_outre_mer``: an overseas collectivity written ``COM-975`` or ``REG-975``;
  ``code_departement``: a DROM written ``COM-974``, read as ``DEP-974``;
- ``alias``: found in ``geo_aliases.csv``; ``liste``: a list whose parts were resolved one by one;
- ``meme_territoire``: several readings cover exactly the same communes, the most specific
  one is kept; ``homonyme_ecarte``: without a level, a région / département / pays name
  wins over communes of the same name (named in ``reason``); ``contexte``: the record's
  département / région settled homonyms; ``type_epci_different``: the EPCI's name matched
  but the source gave another type (CC for a CA…); ``code_ignore``: a mention's code was
  unknown and its name was used; ``approximatif``: fuzzy proposals (always ``ambiguous``);
  ``niveau_different``: found, but not at the level the source stated (always ``ambiguous``).

Decisions the rest of the project relies on:

- Overseas collectivities (Saint-Pierre-et-Miquelon, Saint-Barthélemy, Saint-Martin, TAAF,
  Wallis-et-Futuna, Polynésie, Nouvelle-Calédonie, Clipperton) are published as ``DEP-9xx``,
  the code ``ref_departements`` gives them: ``COM-975``, ``REG-975`` and ``DEP-975`` all
  resolve to ``DEP-975`` (flag ``collectivite_outre_mer`` when rewritten). Their communes
  keep their ``COM-975xx`` codes.
- "France métropolitaine" (and "Hexagone"…) resolves, through ``geo_aliases.csv``, to the
  13 metropolitan régions (Corse included), never to ``PAYS-99100``; "France", "National",
  "France et territoires d'outre-mer" resolve to ``PAYS-99100``.
- A name that designates several territories covering the same communes ("Paris": the
  commune and the département; "Mayotte": the région and the département) resolves,
  without a level, to the most specific one: ``COM-75056``, ``DEP-976`` (flag
  ``meme_territoire``). With a level, that level's code: ``DEP-75``, ``REG-06``.
- Without a level, a name that is both a département / région / pays and a commune
  elsewhere ("Landes", "Vienne") resolves to the larger territory (flag
  ``homonyme_ecarte``, the communes named in ``reason``); a context (département /
  région of the record) that only fits the commune picks the commune.
- A 5-digit string: with level ``commune`` an INSEE code, with ``code_postal`` a postal
  code; without a level, an INSEE code of a current commune wins unless it is also the
  postal code of other communes ("13001", "01400": ambiguous with both readings); a
  postal code shared by several communes resolves to all of them.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from schemas import GEO_CODE_PATTERN
from sources.folding import fold
from warehouse.normalise.organisations import PARTIAL, OrganisationIndex
from warehouse.normalise.vocabulary import VOCAB_DIR

# --------------------------------------------------------------------------- results

RESOLVED, AMBIGUOUS, UNRESOLVED = "resolved", "ambiguous", "unresolved"

# Levels a mention can state (sources.record.GEO_LEVELS); "territoire" and None mean any.
# "organisme": an organisation's name, whose territory the organisations referential gives.
MENTION_LEVELS = ("commune", "epci", "departement", "region", "pays", "code_postal", "territoire", "organisme")
ORGANISATION = "organisme"
# Territory levels, from the most to the least specific.
TERRITORY_LEVELS = ("commune", "epci", "departement", "region", "pays")
ALL_LEVELS = frozenset(TERRITORY_LEVELS)
_PREFIX_LEVEL = {"COM": "commune", "EPCI": "epci", "DEP": "departement", "REG": "region", "PAYS": "pays"}
_LEVEL_LABEL = {
    "commune": "une commune",
    "epci": "un EPCI",
    "departement": "un département",
    "region": "une région",
    "pays": "un pays",
    "code_postal": "un code postal",
}
FRANCE = "PAYS-99100"
_GEO_CODE = re.compile(GEO_CODE_PATTERN)
_CACHE_LIMIT = 500_000


@dataclass(frozen=True)
class GeoContext:
    """What else is known about the record, to settle homonyms."""

    departement: str | None = None  # e.g. '93'
    region: str | None = None  # e.g. '11'


@dataclass(frozen=True)
class Resolution:
    """What a stated territory resolves to, and why when it is not plain."""

    query: str
    status: str  # 'resolved' | 'ambiguous' | 'unresolved'
    codes: tuple[str, ...]  # schema codes when resolved; () otherwise
    candidates: tuple[str, ...]  # for ambiguous: the candidate schema codes
    reason: str | None  # French, why ambiguous/unresolved (None when resolved plainly)
    flags: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "status": self.status,
            "codes": list(self.codes),
            "candidates": list(self.candidates),
            "reason": self.reason,
            "flags": list(self.flags),
        }


def _resolved(query: str, codes: Iterable[str], flags: Iterable[str] = (), reason: str | None = None) -> Resolution:
    return Resolution(query, RESOLVED, tuple(_unique(codes)), (), reason, tuple(_unique(flags)))


def _ambiguous(query: str, candidates: Iterable[str], reason: str, flags: Iterable[str] = ()) -> Resolution:
    return Resolution(query, AMBIGUOUS, (), tuple(_unique(candidates)), reason, tuple(_unique(flags)))


def _unresolved(query: str, reason: str, flags: Iterable[str] = (), candidates: Iterable[str] = ()) -> Resolution:
    return Resolution(query, UNRESOLVED, (), tuple(_unique(candidates)), reason, tuple(_unique(flags)))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def level_of(code: str) -> str:
    """The territory level of a schema code: ``COM-75056`` → ``commune``."""
    return _PREFIX_LEVEL[code.split("-", 1)[0]]


# --------------------------------------------------------------------------- names

_ARTICLES = frozenset({"le", "la", "les", "l", "de", "du", "des", "d"})
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_TOKEN = re.compile(r"[a-z0-9]+")
_SUR = re.compile(r"\bs/")

# Words that name what kind of body or territory follows ("Ville de Caen", "Conseil
# départemental de la Manche"), as normalised token prefixes, longest first.
_DESIGNATIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("conseil", "departemental"), "departement"),
    (("conseil", "general"), "departement"),
    (("departement",), "departement"),
    (("conseil", "regional"), "region"),
    (("collectivite", "territoriale"), "region"),
    (("collectivite",), "region"),
    (("region",), "region"),
    (("mairie",), "commune"),
    (("ville",), "commune"),
    (("commune",), "commune"),
    (("municipalite",), "commune"),
)
# Parenthesised words that only say the level: "Drôme (Département)".
_LEVEL_WORDS = {
    "departement": "departement",
    "dept": "departement",
    "dep": "departement",
    "conseil departemental": "departement",
    "region": "region",
    "conseil regional": "region",
    "commune": "commune",
    "ville": "commune",
    "mairie": "commune",
    "epci": "epci",
    "intercommunalite": "epci",
    "interco": "epci",
    "pays": "pays",
}
# EPCI type phrases at the start of a name, to the short form the COG uses.
_EPCI_TYPES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("communaute", "communes"), "cc"),
    (("communaute", "commune"), "cc"),
    (("communaute", "agglomeration"), "ca"),
    (("communaute", "urbaine"), "cu"),
    (("com", "com"), "cc"),
    (("comcom",), "cc"),
)
_EPCI_TYPE_TOKENS = frozenset({"cc", "ca", "cu"})


def normalise_name(text: str) -> str:
    """A comparison key for a territory name: no accents, case, punctuation or articles.

    "Saint-Étienne", "ST ETIENNE" and "saint étienne" give the same key; so do
    "Côte-d'Or" and "Cote d Or"; "St"/"Ste" are read as "Saint"/"Sainte"; the articles
    le, la, les, l', de, du, des, d' are dropped wherever they are. The project's fold
    (``sources.folding``), then only ASCII words: the key is plain ASCII, a letter the fold
    leaves as it is (``ø``, ``ŧ``) separates words. A "s/" ("sur") is read on the text folded
    with its punctuation first (folding that again gives the same words).
    """
    if "/" in text:
        text = _SUR.sub(" sur ", fold(text, keep_punctuation=True))
    tokens = (_ABBREVIATIONS.get(token, token) for token in _TOKEN.findall(fold(text)))
    return " ".join(token for token in tokens if token not in _ARTICLES)


def epci_key(key: str) -> str:
    """A normalised name with its leading EPCI type phrase in the COG's short form.

    "communaute communes monts pilat" → "cc monts pilat", as the COG writes "CC des Monts du Pilat".
    """
    tokens = key.split()
    for phrase, short in _EPCI_TYPES:
        if tuple(tokens[: len(phrase)]) == phrase:
            return " ".join([short, *tokens[len(phrase) :]])
    return key


def epci_core(key: str) -> str:
    """An EPCI key without its type: "cc monts pilat" → "monts pilat"."""
    tokens = epci_key(key).split()
    if len(tokens) > 1 and tokens[0] in _EPCI_TYPE_TOKENS:
        return " ".join(tokens[1:])
    return " ".join(tokens)


def _token_set(key: str) -> str:
    return " ".join(sorted(set(key.split())))


def strip_designation(key: str) -> tuple[str, str] | None:
    """("caen", "commune") for "ville caen"; None when the key starts with no designation."""
    tokens = key.split()
    for phrase, level in _DESIGNATIONS:
        if tuple(tokens[: len(phrase)]) == phrase and len(tokens) > len(phrase):
            return " ".join(tokens[len(phrase) :]), level
    return None


def clean_text(text: str) -> str:
    """Collapse whitespace (including non-breaking spaces) and unify apostrophes."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    return " ".join(text.split())


_LIST_SEPARATORS = re.compile(r"\s*(?:[,;|\n]|\s/\s)\s*")
_AND_SEPARATORS = re.compile(r"\s+(?:et|&)\s+", re.IGNORECASE)


def split_list(text: str) -> list[str]:
    """The parts of a list of territories: "Landes, Nouvelle-Aquitaine, Occitanie"."""
    return [part for part in _LIST_SEPARATORS.split(text) if part.strip()]


# --------------------------------------------------------------------------- codes

_PREFIXED = re.compile(r"(COM|EPCI|DEP|REG|PAYS)\s*[-_ ]?\s*([0-9]{1,14}|2[AB][0-9]{0,3})", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9][0-9 .]*")
_CORSICA = re.compile(r"2[AB]([0-9]{3})?", re.IGNORECASE)
_PAREN = re.compile(r"\(([^()]*)\)")
_DEP_CODE = re.compile(r"[0-9]{1,3}|2[AB]", re.IGNORECASE)
_DEP_PREFIX = re.compile(r"([0-9]{2,3}|2[AB])\s*[-–:]\s*([^0-9].*)", re.IGNORECASE)
_ZIP_WITH_NAME = re.compile(r"(?:([0-9]{5})\s+([^0-9].*)|([^0-9].*?)\s+([0-9]{5}))")


def normalise_dep_code(code: str | None) -> str | None:
    """'1' → '01', '2a' → '2A', ' 974 ' → '974'; None for empty."""
    if code is None:
        return None
    code = str(code).strip().upper()
    if not code:
        return None
    return code.zfill(2) if code.isdigit() and len(code) == 1 else code


# --------------------------------------------------------------------------- vocab files


def _vocab_rows(name: str) -> list[dict[str, str]]:
    text = (VOCAB_DIR / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


# --------------------------------------------------------------------------- resolver


@dataclass
class _Candidates:
    """Codes found for a name, each with the flags of how it was found."""

    found: dict[str, set[str]]
    union: bool = False  # an alias's codes: together they are the territory, not alternatives

    @classmethod
    def empty(cls) -> _Candidates:
        return cls({})

    def add(self, code: str, *flags: str) -> None:
        self.found.setdefault(code, set()).update(flags)

    def __bool__(self) -> bool:
        return bool(self.found)


@dataclass
class _Hints:
    """What a name's parentheses (or "93 - …" prefix) say besides the name."""

    core: str  # the text without the parentheses that were hints
    bare: str  # the text without any parenthesis
    extra: bool = False  # parentheses that are not hints remain in ``core``
    level: str | None = None
    departement: str | None = None
    region: str | None = None


class GeoResolver:
    """Resolves stated territories to schema codes; built once, then cheap per call."""

    def __init__(
        self,
        communes: list[tuple[str, str, str | None, str, str]],
        rattachees: list[tuple[str, str | None, str, str]],
        codes_postaux: list[tuple[str, str]],
        epci: list[tuple[str, str, str]],
        epci_membres: list[tuple[str, str]],
        departements: list[tuple[str, str, str, str]],
        regions: list[tuple[str, str, str]],
        pays: list[tuple[str, str]],
        aliases: list[tuple[str, str, str]],
    ) -> None:
        """Index the referential: rows as ``from_warehouse`` reads them (see there)."""
        self.vocab_problems: list[str] = []  # rows of the vocab files left out, and why
        self._index_codes(communes, rattachees, codes_postaux, epci, epci_membres, departements, regions, pays)
        self._index_territories()
        self._index_names(rattachees)
        self._index_aliases(aliases)
        self._fuzzy_choices: dict[frozenset[str], tuple[list[str], list[list[str]]]] = {}
        self._territory_cache: dict[str, frozenset[str]] = {}
        self._cache: dict[tuple, Resolution] = {}
        self.organisations: OrganisationIndex | None = None  # set by from_warehouse

    def _index_codes(
        self,
        communes: list[tuple[str, str, str | None, str, str]],
        rattachees: list[tuple[str, str | None, str, str]],
        codes_postaux: list[tuple[str, str]],
        epci: list[tuple[str, str, str]],
        epci_membres: list[tuple[str, str]],
        departements: list[tuple[str, str, str, str]],
        regions: list[tuple[str, str, str]],
        pays: list[tuple[str, str]],
    ) -> None:
        """Every code of the referential, with what it is."""
        self._communes = {code: (nom, dep, reg) for code, nom, _siren, dep, reg in communes}
        self._commune_by_siren = {siren: code for code, _n, siren, _d, _r in communes if siren}
        self._rattachees: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for code, _nom, kind, commune in rattachees:
            self._rattachees[code].append((kind, commune))
        postal: dict[str, set[str]] = defaultdict(set)
        for code_postal, commune in codes_postaux:
            postal[code_postal].add(commune)
        self._postal = {cp: tuple(sorted(codes)) for cp, codes in postal.items()}
        self._epci = {siren: (nom, kind) for siren, nom, kind in epci}
        members: dict[str, set[str]] = defaultdict(set)
        for siren, commune in epci_membres:
            members[siren].add(commune)
        self._epci_members = {siren: tuple(sorted(codes)) for siren, codes in members.items()}
        self._deps = {code: (nom, region, zone) for code, nom, region, zone in departements}
        self._regions = {code: (nom, zone) for code, nom, zone in regions}
        self._pays: dict[str, str] = {}
        self._pays_rows: list[tuple[str, str]] = []
        for code, nom in pays:
            if not re.fullmatch(r"99[0-9]{3}", code or ""):
                self.vocab_problems.append(
                    f"pays.csv : « {nom} » → {code} : un code pays du COG a 5 chiffres et commence par 99"
                )
                continue
            self._pays.setdefault(code, nom)
            self._pays_rows.append((code, nom))

    def _index_territories(self) -> None:
        """Which communes, départements and régions each territory holds."""
        dep_communes: dict[str, list[str]] = defaultdict(list)
        reg_communes: dict[str, list[str]] = defaultdict(list)
        for code, (_nom, dep, reg) in self._communes.items():
            dep_communes[dep].append(code)
            reg_communes[reg].append(code)
        self._dep_communes = {dep: tuple(sorted(codes)) for dep, codes in dep_communes.items()}
        self._reg_communes = {reg: tuple(sorted(codes)) for reg, codes in reg_communes.items()}
        self._reg_deps: dict[str, set[str]] = defaultdict(set)
        for dep, (_nom, region, _zone) in self._deps.items():
            self._reg_deps[region].add(dep)
        self._epci_deps = {
            siren: (
                {self._communes[c][1] for c in codes if c in self._communes},
                {self._communes[c][2] for c in codes if c in self._communes},
            )
            for siren, codes in self._epci_members.items()
        }

    def _index_names(self, rattachees: list[tuple[str, str | None, str, str]]) -> None:
        """Normalised name → codes, one index per level."""
        self._commune_names = self._index(
            (normalise_name(nom), f"COM-{code}") for code, (nom, _d, _r) in self._communes.items()
        )
        rattachee_names: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for _code, nom, kind, commune in rattachees:
            if not nom:
                continue
            key = normalise_name(nom)
            rattachee_names[key].add((kind, commune))
            if kind == "arrondissement-municipal":  # "Paris 1er Arrondissement" → also "Paris 1er"
                rattachee_names[key.replace(" arrondissement", "")].add((kind, commune))
        self._rattachee_names = dict(rattachee_names)
        self._dep_names = self._index(
            (normalise_name(nom), f"DEP-{code}") for code, (nom, _r, _z) in self._deps.items()
        )
        self._region_names = self._index(
            (normalise_name(nom), self._region_code(code)) for code, (nom, _z) in self._regions.items()
        )
        self._pays_names = self._index((normalise_name(nom), f"PAYS-{code}") for code, nom in self._pays_rows)
        epci_full, epci_cores, epci_tokens = [], [], []
        for siren, (nom, _kind) in self._epci.items():
            for variant in {nom, _PAREN.sub(" ", nom)}:  # "CA de l'Albigeois (C2A)" also without "(C2A)"
                key = epci_key(normalise_name(variant))
                epci_full.append((key, f"EPCI-{siren}"))
                epci_cores.append((epci_core(key), f"EPCI-{siren}"))
                epci_tokens.append((_token_set(epci_core(key)), f"EPCI-{siren}"))
        self._epci_names = self._index(epci_full)
        self._epci_cores = self._index(epci_cores)
        self._epci_tokens = self._index(epci_tokens)

    def _index_aliases(self, aliases: list[tuple[str, str, str]]) -> None:
        """geo_aliases.csv: rows whose code is not a territory of the referential are reported, not used."""
        self._aliases: dict[str, list[str]] = defaultdict(list)
        for alias, code, _note in aliases:
            key = normalise_name(alias)
            if not self.is_known(code):
                self.vocab_problems.append(f"geo_aliases.csv : « {alias} » → {code} : code inconnu du référentiel")
            elif not key:
                self.vocab_problems.append(f"geo_aliases.csv : alias vide ou sans lettre : « {alias} »")
            elif code not in self._aliases[key]:
                self._aliases[key].append(code)

    @staticmethod
    def _index(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
        index: dict[str, list[str]] = defaultdict(list)
        for key, code in pairs:
            if key and code not in index[key]:
                index[key].append(code)
        return {key: tuple(codes) for key, codes in index.items()}

    # ------------------------------------------------------------------ building

    @classmethod
    def from_warehouse(cls, conn: duckdb.DuckDBPyConnection) -> GeoResolver:
        """Load the lookups from the ``ref_*`` tables (one query each) and the vocab CSV files."""

        def rows(sql: str) -> list[tuple]:
            return conn.execute(sql).fetchall()

        resolver = cls(
            communes=rows("SELECT code, nom, siren, departement, region FROM ref_communes"),
            rattachees=rows("SELECT code, nom, type, commune FROM ref_communes_rattachees"),
            codes_postaux=rows("SELECT code_postal, commune FROM ref_codes_postaux"),
            epci=rows("SELECT siren, nom, type FROM ref_epci"),
            epci_membres=rows("SELECT epci, commune FROM ref_epci_membres"),
            departements=rows("SELECT code, nom, region, zone FROM ref_departements"),
            regions=rows("SELECT code, nom, zone FROM ref_regions"),
            pays=[(row["code"], row["nom"]) for row in _vocab_rows("pays.csv")],
            aliases=[(row["alias"], row["code"], row.get("note") or "") for row in _vocab_rows("geo_aliases.csv")],
        )
        resolver.organisations = OrganisationIndex.from_warehouse(conn, resolver.collectivity_code)
        return resolver

    def collectivity_code(self, name: str) -> str | None:
        """The one commune, EPCI, département or région ``name`` designates without doubt, else None."""
        answer = self.resolve(name)
        if answer.status != RESOLVED or len(answer.codes) != 1:
            return None
        code = answer.codes[0]
        return code if code.split("-")[0] in ("COM", "EPCI", "DEP", "REG") else None

    def _resolve_organisation(self, query: str) -> Resolution:
        """A financer's name as the territory of the organisation it designates (flagged ``organisme``)."""
        if self.organisations is None:
            return _unresolved(query, "référentiel des organisations non chargé")
        answer = self.organisations.resolve(query)
        names = ", ".join(org.nom for org in answer.organisations)
        if answer.status == RESOLVED:
            return _resolved(query, answer.codes, (ORGANISATION,), f"territoire de l'organisme : {names}")
        if answer.status == PARTIAL:
            return _resolved(
                query, answer.codes, (ORGANISATION, "partiel"), f"territoire de l'organisme : {names} ; {answer.reason}"
            )
        return _unresolved(query, f"organisme « {query} » : {answer.reason}", (ORGANISATION,))

    # ------------------------------------------------------------------ public API

    def resolve(self, text: str, niveau: str | None = None, context: GeoContext | None = None) -> Resolution:
        """Resolve one stated territory (code, name or list of them); never raises on any text."""
        query = text if isinstance(text, str) else ("" if text is None else str(text))
        context = self._normalise_context(context)
        key = (query, niveau, context)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._resolve_uncached(query, niveau, context)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def resolve_mention(
        self, niveau: str | None, code: str | None, nom: str | None, context: GeoContext | None = None
    ) -> Resolution:
        """Resolve a ``sources.record.GeoMention``'s fields: its code when it has one, else its name.

        When the code is unknown but the name resolves, the name's answer is kept, flagged
        ``code_ignore`` with the code's failure in ``reason``.
        """
        code = code.strip() if isinstance(code, str) and code.strip() else None
        nom = nom.strip() if isinstance(nom, str) and nom.strip() else None
        if code is None and nom is None:
            return _unresolved("", "mention sans code ni nom")
        if code is None:
            return self.resolve(nom, niveau, context)  # type: ignore[arg-type]
        by_code = self.resolve(code, niveau, context)
        if by_code.status == RESOLVED or nom is None:
            return by_code
        by_name = self.resolve(nom, niveau, context)
        if by_name.status == RESOLVED:
            reason = f"code « {code} » écarté ({by_code.reason}) ; résolu par le nom « {nom} »"
            return _resolved(by_name.query, by_name.codes, (*by_name.flags, "code_ignore"), reason)
        return by_code

    def resolve_mentions(self, mentions: pl.DataFrame) -> pl.DataFrame:
        """Resolve a frame of mentions (columns niveau, code, nom, ctx_departement, ctx_region).

        Each distinct mention is resolved once, then joined back to every row, so that
        millions of rows with few distinct mentions cost the distinct ones only. The output
        keeps the rows and their order, and adds status, codes, candidates, reason, flags.
        """
        keys = ["niveau", "code", "nom", "ctx_departement", "ctx_region"]
        frame = mentions.with_columns(
            [
                (pl.col(name).cast(pl.Utf8) if name in mentions.columns else pl.lit(None, dtype=pl.Utf8)).alias(name)
                for name in keys
            ]
        )
        distinct = frame.select(keys).unique(maintain_order=True)
        results = [
            self.resolve_mention(niveau, code, nom, GeoContext(ctx_dep, ctx_reg) if (ctx_dep or ctx_reg) else None)
            for niveau, code, nom, ctx_dep, ctx_reg in distinct.iter_rows()
        ]
        resolved = distinct.with_columns(
            pl.Series("status", [r.status for r in results], dtype=pl.Utf8),
            pl.Series("codes", [list(r.codes) for r in results], dtype=pl.List(pl.Utf8)),
            pl.Series("candidates", [list(r.candidates) for r in results], dtype=pl.List(pl.Utf8)),
            pl.Series("reason", [r.reason for r in results], dtype=pl.Utf8),
            pl.Series("flags", [list(r.flags) for r in results], dtype=pl.List(pl.Utf8)),
        )
        return frame.join(resolved, on=keys, how="left", nulls_equal=True, maintain_order="left")

    def commune_codes(self, code: str) -> list[str]:
        """The current communes (INSEE codes) a schema code covers; [] for an unknown territory.

        COM → itself, EPCI → its members, DEP / REG → their communes, PAYS-99100 → all
        communes (overseas collectivities included), another country → none.
        Raises ValueError for a string that is not one schema code.
        """
        if not isinstance(code, str) or not _GEO_CODE.fullmatch(code):
            raise ValueError(f"code géographique invalide : {code!r}")
        return sorted(self._territory(code))

    def current_commune(self, code: str) -> str | None:
        """The one current commune an INSEE code stands for: itself, or the commune of an
        arrondissement municipal, commune déléguée / associée or former code. None when unknown
        or split between several communes: a commune lookup answers for one, never a guess."""
        if code in self._communes:
            return code
        communes = {commune for _kind, commune in self._rattachees.get(code, ())}
        return communes.pop() if len(communes) == 1 else None

    # ------------------------------------------------------------------ territories

    def _territory(self, code: str) -> frozenset[str]:
        cached = self._territory_cache.get(code)
        if cached is not None:
            return cached
        prefix, value = code.split("-", 1)
        if prefix == "COM":
            found: Iterable[str] = (value,) if value in self._communes else ()
        elif prefix == "EPCI":
            found = self._epci_members.get(value, ())
        elif prefix == "DEP":
            found = self._dep_communes.get(value, ())
        elif prefix == "REG":
            found = self._reg_communes.get(value, ())
        elif code == FRANCE:
            found = self._communes
        else:
            found = ()
        territory = frozenset(found)
        self._territory_cache[code] = territory
        return territory

    def is_known(self, code: str) -> bool:
        """Whether ``code`` is one schema code of a territory of the referential (or of pays.csv)."""
        if not isinstance(code, str) or not _GEO_CODE.fullmatch(code):
            return False
        prefix, value = code.split("-", 1)
        table: Any = {
            "COM": self._communes,
            "EPCI": self._epci,
            "DEP": self._deps,
            "REG": self._regions,
            "PAYS": self._pays,
        }[prefix]
        return value in table

    def _deps_regions(self, code: str) -> tuple[set[str], set[str]]:
        prefix, value = code.split("-", 1)
        if prefix == "COM" and value in self._communes:
            _nom, dep, reg = self._communes[value]
            return {dep}, {reg}
        if prefix == "EPCI":
            return self._epci_deps.get(value, (set(), set()))
        if prefix == "DEP" and value in self._deps:
            return {value}, {self._deps[value][1]}
        if prefix == "REG":
            return set(self._reg_deps.get(value, ())), {value}
        if code == FRANCE:
            return set(self._deps), set(self._regions)
        return set(), set()

    def _fits(self, code: str, context: GeoContext) -> bool:
        deps, regions = self._deps_regions(code)
        if context.departement and context.departement not in deps:
            return False
        if context.region and context.region not in regions:
            return False
        return True

    def _region_code(self, code: str) -> str:
        """REG-xx, or DEP-9xx for an overseas collectivity (one canonical code per territory)."""
        if self._regions.get(code, ("", ""))[1] == "com" and code in self._deps:
            return f"DEP-{code}"
        return f"REG-{code}"

    def label(self, code: str) -> str:
        """A readable label for a schema code: "COM-93066 (Saint-Denis, 93)"."""
        try:
            prefix, value = code.split("-", 1)
        except ValueError:
            return code
        if prefix == "COM" and value in self._communes:
            nom, dep, _reg = self._communes[value]
            return f"{code} ({nom}, {dep})"
        if prefix == "EPCI" and value in self._epci:
            return f"{code} ({self._epci[value][0]})"
        if prefix == "DEP" and value in self._deps:
            return f"{code} ({self._deps[value][0]})"
        if prefix == "REG" and value in self._regions:
            return f"{code} ({self._regions[value][0]})"
        if prefix == "PAYS" and value in self._pays:
            return f"{code} ({self._pays[value]})"
        return code

    def _labels(self, codes: Iterable[str], limit: int = 12) -> str:
        codes = list(codes)
        shown = ", ".join(self.label(code) for code in codes[:limit])
        return shown + (f" et {len(codes) - limit} autres" if len(codes) > limit else "")

    # ------------------------------------------------------------------ dispatch

    def _normalise_context(self, context: GeoContext | None) -> GeoContext | None:
        if context is None:
            return None
        dep = normalise_dep_code(context.departement)
        reg = normalise_dep_code(context.region)
        if dep is None and reg is None:
            return None
        return GeoContext(dep, reg)

    def _resolve_uncached(self, query: str, niveau: str | None, context: GeoContext | None) -> Resolution:
        if niveau is not None and niveau not in MENTION_LEVELS:
            return _unresolved(query, f"niveau géographique inconnu : {niveau!r}")
        text = clean_text(query)
        if not text:
            return _unresolved(query, "texte vide")
        if niveau == ORGANISATION:
            return self._resolve_organisation(query)
        if niveau == "territoire":
            niveau = None
        single = self._resolve_single(text, niveau, context, fuzzy=False)
        if single is not None:
            return self._with_query(single, query)
        parts = split_list(text)
        if len(parts) > 1:
            return self._with_query(self._resolve_list(parts, niveau, context), query)
        parts = [part for part in _AND_SEPARATORS.split(text) if part.strip()]
        if len(parts) > 1:
            listed = self._resolve_list(parts, niveau, context)
            if listed.status == RESOLVED:
                return self._with_query(listed, query)
        fuzzy = self._resolve_single(text, niveau, context, fuzzy=True)
        if fuzzy is not None:
            return self._with_query(fuzzy, query)
        return _unresolved(query, f"aucun territoire ne porte le nom « {text} »")

    @staticmethod
    def _with_query(resolution: Resolution, query: str) -> Resolution:
        if resolution.query == query:
            return resolution
        return Resolution(
            query, resolution.status, resolution.codes, resolution.candidates, resolution.reason, resolution.flags
        )

    def _resolve_list(self, parts: list[str], niveau: str | None, context: GeoContext | None) -> Resolution:
        results = [self.resolve(part, niveau, context) for part in parts]
        codes = [code for result in results for code in result.codes]
        flags = ["liste", *(flag for result in results for flag in result.flags)]
        failed = [result for result in results if result.status != RESOLVED]
        if not failed:
            reasons = [f"« {r.query} » : {r.reason}" for r in results if r.reason]
            return _resolved("", codes, flags, " ; ".join(reasons) or None)
        why = " ; ".join(
            f"« {r.query} » {'ambiguë' if r.status == AMBIGUOUS else 'non résolue'} ({r.reason})" for r in failed
        )
        return _unresolved("", f"liste dont une partie n'est pas résolue : {why}", flags, codes)

    def _resolve_single(
        self, text: str, niveau: str | None, context: GeoContext | None, fuzzy: bool
    ) -> Resolution | None:
        """One territory: a code (always answered) or a name (None when nothing matches)."""
        coded = self._resolve_code(text, niveau)
        if coded is not None:
            return coded
        return self._resolve_name(text, niveau, context, fuzzy)

    # ------------------------------------------------------------------ codes

    def _resolve_code(self, text: str, niveau: str | None) -> Resolution | None:
        """The answer for a text that looks like a code; None when it does not."""
        compact = text.strip()
        prefixed = _PREFIXED.fullmatch(compact)
        if prefixed:
            return self._prefixed_code(text, prefixed.group(1).upper(), prefixed.group(2).upper())
        if _DIGITS.fullmatch(compact) or _CORSICA.fullmatch(compact):
            bare = re.sub(r"[ .]", "", compact).upper()
            result = self._bare_code(text, bare, niveau)
            if result.status == UNRESOLVED and niveau is not None:
                other = self._bare_code(text, bare, None)
                if other.status != UNRESOLVED:
                    found = other.codes or other.candidates
                    return _ambiguous(
                        text,
                        found,
                        f"« {text} » n'est pas {_LEVEL_LABEL.get(niveau, niveau)} ({result.reason}) ; "
                        f"lu sans niveau : {self._labels(found)}",
                        (*other.flags, "niveau_different"),
                    )
            return result
        return None

    def _prefixed_code(self, query: str, prefix: str, body: str) -> Resolution:
        if prefix == "COM":
            if len(body) == 4 and body.isdigit():
                return self._commune_code(query, body.zfill(5), ("code_sans_zero",))
            if len(body) == 3 and body in self._deps:  # "COM-975": an overseas collectivity (or DROM)
                flag = "collectivite_outre_mer" if self._deps[body][2] == "com" else "code_departement"
                return _resolved(query, [f"DEP-{body}"], [flag])
            return self._commune_code(query, body, ())
        if prefix == "EPCI":
            return self._siren(query, body, ())
        if prefix == "DEP":
            return self._departement_code(query, body)
        if prefix == "REG":
            return self._region_code_resolution(query, body)
        return self._pays_code(query, body)

    def _bare_code(self, query: str, code: str, niveau: str | None) -> Resolution:
        if len(code) == 14 and code.isdigit():
            return self._siren(query, code[:9], ("siret",), niveau)
        if len(code) == 9 and code.isdigit():
            return self._siren(query, code, (), niveau)
        if niveau == "pays":
            return self._pays_code(query, code)
        if niveau == "region":
            return self._region_code_resolution(query, code)
        if niveau == "departement":
            return self._departement_code(query, code)
        if niveau == "epci":
            return _unresolved(query, f"un EPCI se désigne par son SIREN (9 chiffres), pas par « {code} »")
        if len(code) <= 3:
            if niveau in ("commune", "code_postal"):
                return _unresolved(query, f"« {code} » n'est pas un code de {niveau.replace('_', ' ')}")
            return self._departement_code(query, code)  # a bare short code is a département
        if len(code) == 4 and code.isdigit():
            return self._five_digits(query, code.zfill(5), niveau, ("code_sans_zero",))
        if len(code) == 5:
            return self._five_digits(query, code, niveau, ())
        return _unresolved(query, f"« {code} » n'a la forme d'aucun code géographique connu")

    def _commune_code(self, query: str, code: str, flags: tuple[str, ...]) -> Resolution:
        found = self._insee(code)
        if found is None:
            return _unresolved(
                query,
                f"code INSEE {code} inconnu du référentiel (ni commune actuelle, "
                "ni arrondissement, commune déléguée, associée ou ancienne)",
                flags,
            )
        codes, more = found
        return _resolved(query, codes, (*flags, *more))

    _RATTACHEE_FLAGS = {
        "arrondissement-municipal": "arrondissement_municipal",
        "commune-deleguee": "commune_deleguee",
        "commune-associee": "commune_associee",
        "ancien-code": "ancien_code",
    }

    def _insee(self, code: str) -> tuple[list[str], list[str]] | None:
        """The current communes an INSEE code stands for, with how; None when unknown."""
        if code in self._communes:
            return [f"COM-{code}"], []
        entries = self._rattachees.get(code)
        if not entries:
            return None
        communes = sorted({commune for _kind, commune in entries})
        flags = sorted({self._RATTACHEE_FLAGS.get(kind, kind) for kind, _commune in entries})
        return [f"COM-{c}" for c in communes], flags

    def _five_digits(self, query: str, code: str, niveau: str | None, flags: tuple[str, ...]) -> Resolution:
        code = code.upper()
        insee = self._insee(code)
        postal = self._postal.get(code)
        postal_codes = [f"COM-{c}" for c in postal] if postal else []
        postal_flags = ["code_postal"] + (["code_postal_partage"] if len(postal_codes) > 1 else [])
        if niveau == "code_postal":
            if postal_codes:
                return _resolved(query, postal_codes, (*flags, *postal_flags))
            if insee:
                return _ambiguous(
                    query,
                    insee[0],
                    f"{code} n'est pas un code postal ; c'est le code INSEE de {self._labels(insee[0])}",
                    (*flags, "niveau_different"),
                )
            return _unresolved(query, f"code postal {code} inconnu du référentiel", flags)
        if niveau == "commune":
            if insee:
                return _resolved(query, insee[0], (*flags, *insee[1]))
            if postal_codes:
                return _ambiguous(
                    query,
                    postal_codes,
                    f"{code} n'est pas un code INSEE de commune ; c'est le code postal de {self._labels(postal_codes)}",
                    (*flags, *postal_flags, "niveau_different"),
                )
            return self._commune_code(query, code, flags)
        if insee:
            if postal_codes and set(postal_codes) != set(insee[0]):
                return _ambiguous(
                    query,
                    [*insee[0], *postal_codes],
                    f"{code} est à la fois le code INSEE de {self._labels(insee[0])} et le code postal de "
                    f"{self._labels(postal_codes)} ; précisez le niveau (commune ou code_postal)",
                    flags,
                )
            return _resolved(query, insee[0], (*flags, *insee[1]))
        if postal_codes:
            return _resolved(query, postal_codes, (*flags, *postal_flags))
        if code in self._pays:
            return self._pays_code(query, code)
        return _unresolved(query, f"{code} n'est ni un code INSEE ni un code postal du référentiel", flags)

    def _siren(self, query: str, siren: str, flags: tuple[str, ...], niveau: str | None = None) -> Resolution:
        if len(siren) != 9 or not siren.isdigit():
            return _unresolved(query, f"un SIREN a 9 chiffres : « {siren} »", flags)
        epci = f"EPCI-{siren}" if siren in self._epci else None
        commune = self._commune_by_siren.get(siren)
        if niveau == "commune" and commune:
            return _resolved(query, [f"COM-{commune}"], (*flags, "siren_commune"))
        if niveau in (None, "epci") and epci:
            return _resolved(query, [epci], flags)
        if niveau in (None, "commune") and commune:
            return _resolved(query, [f"COM-{commune}"], (*flags, "siren_commune"))
        if niveau not in (None, "epci", "commune"):
            return _unresolved(query, f"un SIREN ne désigne pas {_LEVEL_LABEL.get(niveau, niveau)}", flags)
        return _unresolved(query, f"SIREN {siren} : ni un EPCI ni une commune du référentiel", flags)

    def _departement_code(self, query: str, code: str) -> Resolution:
        dep = normalise_dep_code(code) or ""
        flags = ("code_sans_zero",) if dep != code else ()
        if dep in self._deps:
            return _resolved(query, [f"DEP-{dep}"], flags)
        return _unresolved(query, f"département {code} inconnu du référentiel", flags)

    def _region_code_resolution(self, query: str, code: str) -> Resolution:
        reg = normalise_dep_code(code) or ""
        flags = ["code_sans_zero"] if reg != code else []
        if reg not in self._regions:
            return _unresolved(query, f"région {code} inconnue du référentiel", flags)
        canonical = self._region_code(reg)
        if canonical.startswith("DEP-"):
            flags.append("collectivite_outre_mer")
        return _resolved(query, [canonical], flags)

    def _pays_code(self, query: str, code: str) -> Resolution:
        if code in self._pays:
            return _resolved(query, [f"PAYS-{code}"])
        return _unresolved(query, f"code pays {code} absent de warehouse/normalise/vocab/pays.csv")

    # ------------------------------------------------------------------ names

    def _levels_for(self, niveau: str | None) -> frozenset[str]:
        if niveau in (None, "territoire"):
            return ALL_LEVELS
        if niveau == "code_postal":
            return frozenset({"commune"})
        return frozenset({niveau})

    def _resolve_name(
        self, text: str, niveau: str | None, context: GeoContext | None, fuzzy: bool
    ) -> Resolution | None:
        levels = self._levels_for(niveau)
        explicit = niveau not in (None, "territoire")
        hints = self._parse_parentheses(text)
        core = hints.core
        if hints.level:
            levels, explicit = frozenset({hints.level}), True
        prefixed = _DEP_PREFIX.fullmatch(core)
        if prefixed and normalise_dep_code(prefixed.group(1)) in self._deps:  # "93 - Seine-Saint-Denis"
            core = prefixed.group(2)
            hints.departement = normalise_dep_code(prefixed.group(1))
        if hints.departement or hints.region:
            context = GeoContext(
                hints.departement or (context.departement if context else None),
                hints.region or (context.region if context else None),
            )
        core, zip_code, zip_filter = self._zip_hint(core)
        key = normalise_name(core)
        if not key:
            return None
        candidates = self._name_candidates(key, levels)
        bare = normalise_name(hints.bare) if hints.extra else ""
        if not candidates and bare:  # "CA de l'Albigeois (C2A)": retry without the parenthesis ("(0)" has no name left)
            candidates = self._name_candidates(bare, levels)
        if zip_filter is not None and candidates:
            kept = {code: flags for code, flags in candidates.found.items() if code in zip_filter}
            if not kept:
                found = list(candidates.found)
                return _ambiguous(
                    text,
                    found,
                    f"le code {zip_code} ne correspond à aucun des territoires nommés "
                    f"« {core} » : {self._labels(found)}",
                )
            candidates = _Candidates(kept, candidates.union)
        if candidates:
            return self._decide(text, candidates, context, explicit)
        if explicit:
            anywhere = self._name_candidates(key, ALL_LEVELS)
            if anywhere:
                found = list(anywhere.found)
                return _ambiguous(
                    text,
                    found,
                    f"« {text} » n'est pas {_LEVEL_LABEL.get(hints.level or niveau or '', 'du niveau indiqué')} "
                    f"du référentiel ; le même nom désigne {self._labels(found)}",
                    ["niveau_different"],
                )
        if fuzzy:
            return self._fuzzy(text, key, levels)
        return None

    def _parse_parentheses(self, text: str) -> _Hints:
        """What parentheses say: a level ("(Département)"), a département ("(974)", "(Gironde)"),
        a région ("(Bretagne)"); other parentheses stay in the name (``extra``)."""
        hints = _Hints(core="", bare=clean_text(_PAREN.sub(" ", text)))

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1).strip()
            key = normalise_name(inner)
            if key in _LEVEL_WORDS:
                hints.level = _LEVEL_WORDS[key]
                return " "
            if _DEP_CODE.fullmatch(inner) and normalise_dep_code(inner) in self._deps:
                hints.departement = normalise_dep_code(inner)
                return " "
            deps, regions = self._dep_names.get(key, ()), self._region_names.get(key, ())
            if len(deps) == 1 or (not deps and len(regions) == 1 and regions[0].startswith("DEP-")):
                hints.departement = (deps or regions)[0].split("-", 1)[1]
                return " "
            if not deps and len(regions) == 1:
                hints.region = regions[0].split("-", 1)[1]
                return " "
            hints.extra = True
            return match.group(0)

        hints.core = clean_text(_PAREN.sub(replace, text))
        return hints

    def _zip_hint(self, text: str) -> tuple[str, str | None, set[str] | None]:
        """ "01400 Châtillon-sur-Chalaronne" → the name, the code and the communes the code can mean."""
        match = _ZIP_WITH_NAME.fullmatch(text)
        if not match:
            return text, None, None
        code = match.group(1) or match.group(4)
        name = match.group(2) or match.group(3)
        allowed = {f"COM-{c}" for c in self._postal.get(code, ())}
        insee = self._insee(code)
        if insee:
            allowed.update(insee[0])
        return (name, code, allowed) if allowed else (text, None, None)

    def _exact(self, key: str, levels: frozenset[str]) -> _Candidates:
        found = _Candidates.empty()
        if "pays" in levels:
            for code in self._pays_names.get(key, ()):
                found.add(code)
        if "region" in levels:
            for code in self._region_names.get(key, ()):
                found.add(code)
        if "departement" in levels:
            for code in self._dep_names.get(key, ()):
                found.add(code)
        if "epci" in levels:
            for code in self._epci_names.get(epci_key(key), ()):
                found.add(code)
        if "commune" in levels:
            for code in self._commune_names.get(key, ()):
                found.add(code)
        return found

    def _alias(self, key: str, levels: frozenset[str] | None) -> _Candidates:
        found = _Candidates.empty()
        codes = self._aliases.get(key, [])
        if levels is not None and not all(level_of(code) in levels for code in codes if _GEO_CODE.fullmatch(code)):
            return found
        for code in codes:
            found.add(code, "alias")
        found.union = True
        return found

    def _name_candidates(self, key: str, levels: frozenset[str]) -> _Candidates:
        """Every exact reading of a normalised name, by decreasing confidence; empty when none."""
        aliased = self._alias(key, None)
        if aliased:
            return aliased
        exact = self._exact(key, levels)
        if exact:
            return exact
        designated = strip_designation(key)
        if designated is not None:
            rest, level = designated
            if level in levels and level in ("departement", "region") and _DEP_CODE.fullmatch(rest):
                code = normalise_dep_code(rest) or ""  # "Département 93", "Région 84"
                known = (
                    f"DEP-{code}"
                    if level == "departement" and code in self._deps
                    else (self._region_code(code) if level == "region" and code in self._regions else None)
                )
                if known:
                    found = _Candidates.empty()
                    found.add(known)
                    return found
            if level in levels:
                found = self._alias(rest, frozenset({level}))
                if found:
                    return found
                found = self._exact(rest, frozenset({level}))
                if found:
                    return found
        found = _Candidates.empty()
        if "epci" in levels:
            stated = epci_key(key).split()[0]
            for index, query in ((self._epci_cores, epci_core(key)), (self._epci_tokens, _token_set(epci_core(key)))):
                for code in index.get(query, ()):
                    kind = self._epci[code.split("-", 1)[1]][1].lower()
                    flags = ("type_epci_different",) if stated in _EPCI_TYPE_TOKENS and stated != kind else ()
                    found.add(code, *flags)
                if found:
                    break
        if "commune" in levels:
            target = designated[0] if designated and designated[1] == "commune" else key
            for kind, commune in self._rattachee_names.get(target, ()):
                found.add(f"COM-{commune}", self._RATTACHEE_FLAGS.get(kind, kind))
        return found

    def _decide(self, text: str, candidates: _Candidates, context: GeoContext | None, explicit: bool) -> Resolution:
        """One answer from the exact readings of a name (see the module docstring for the rules)."""
        found = candidates.found
        if candidates.union:  # an alias: the union of its codes
            return _resolved(text, found, sorted({flag for flags in found.values() for flag in flags}))
        codes = sorted(found, key=lambda c: (TERRITORY_LEVELS.index(level_of(c)), c))
        extra_flags: list[str] = []
        if context is not None and len(codes) > 1:
            fitting = [code for code in codes if self._fits(code, context)]
            if fitting and len(fitting) < len(codes):
                codes = fitting
                extra_flags.append("contexte")

        def flags_of(selected: Iterable[str]) -> list[str]:
            return sorted({flag for code in selected for flag in found[code]}) + extra_flags

        if len(codes) == 1:
            return _resolved(text, codes, flags_of(codes))
        # Readings that cover the same communes are one territory, named by its most specific code.
        groups: dict[Any, list[str]] = {}
        for code in codes:
            territory = self._territory(code)
            groups.setdefault(territory if territory else code, []).append(code)
        chosen: list[str] | None = None
        if len(groups) == 1:
            chosen = codes
        elif not explicit:

            def rank(group: list[str]) -> int:
                return max(TERRITORY_LEVELS.index(level_of(code)) for code in group)

            best = max(rank(group) for group in groups.values())
            top = [group for group in groups.values() if rank(group) == best]
            if best >= TERRITORY_LEVELS.index("departement") and len(top) == 1:
                chosen = top[0]
        if chosen is not None:
            kept = chosen[0]
            flags = flags_of([kept])
            notes = []
            if len(chosen) > 1:
                flags.append("meme_territoire")
                notes.append(
                    f"« {text} » désigne {self._labels(chosen)}, qui couvrent les mêmes communes : {kept} est retenu"
                )
            others = [code for code in codes if code not in chosen]
            if others:
                flags.append("homonyme_ecarte")
                notes.append(
                    f"sans niveau précisé, {self.label(kept)} est retenu ; "
                    f"homonyme(s) écarté(s) : {self._labels(others)}"
                )
            return _resolved(text, [kept], flags, " ; ".join(notes))
        where = "" if context is None else " (le contexte ne départage pas)"
        return _ambiguous(
            text,
            codes,
            f"« {text} » désigne plusieurs territoires{where} : {self._labels(codes)} ; "
            "précisez le niveau ou le département",
            flags_of(codes),
        )

    # ------------------------------------------------------------------ fuzzy

    def _choices(self, levels: frozenset[str]) -> tuple[list[str], list[list[str]]]:
        cached = self._fuzzy_choices.get(levels)
        if cached is not None:
            return cached
        merged: dict[str, list[str]] = defaultdict(list)
        indexes = [
            ("pays", self._pays_names),
            ("region", self._region_names),
            ("departement", self._dep_names),
            ("epci", self._epci_names),
            ("commune", self._commune_names),
        ]
        for level, index in indexes:
            if level in levels:
                for key, codes in index.items():
                    merged[key].extend(codes)
        keys = list(merged)
        cached = (keys, [merged[key] for key in keys])
        self._fuzzy_choices[levels] = cached
        return cached

    def _fuzzy(self, text: str, key: str, levels: frozenset[str]) -> Resolution | None:
        """Approximate matches, proposed only: always ambiguous, never resolved."""
        from rapidfuzz import fuzz, process

        keys, codes = self._choices(levels)
        queries = {key, epci_key(key)}
        designated = strip_designation(key)
        if designated is not None:
            queries.add(designated[0])
        scored: dict[str, float] = {}
        names: dict[str, str] = {}
        for query in queries:
            for choice, score, index in process.extract(
                query, keys, scorer=fuzz.token_sort_ratio, score_cutoff=85, limit=8
            ):
                for code in codes[index]:
                    if score > scored.get(code, 0):
                        scored[code], names[code] = score, choice
        if not scored:
            return None
        ranked = sorted(scored, key=lambda c: (-scored[c], c))[:10]
        shown = ", ".join(f"{self.label(code)} à {scored[code]:.0f} %" for code in ranked)
        return _ambiguous(
            text,
            ranked,
            f"aucun territoire ne porte exactement le nom « {text} » ; correspondance approchée, à vérifier : {shown}",
            ["approximatif"],
        )
