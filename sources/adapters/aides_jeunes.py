"""The ecological-transition benefits of aides-jeunes (1jeune1solution's simulator), read from
its GitHub repository ``betagouv/aides-jeunes``.

Collect: ONE GET of the repository archive (``archive_url``, a ``.tar.gz`` as GitHub's
codeload serves it; its top folder, ``aides-jeunes-<ref>/``, is ignored). The payload is
that archive, as fetched.

Parse reads three things from the archive:

- ``data/institutions/*.yml``: who runs each benefit (``name``, ``type``: commune, epci,
  departement, region, national, caf, msa, autre…; ``code_insee`` for communes,
  départements and régions; ``code_siren`` for all; ``departments`` for CAF and MSA);
  an institution's slug is its file stem;
- ``data/benefits/javascript/*.yml``: the benefits written by hand. Only those the
  configuration selects become records (:func:`selection_of`): a benefit is selected by its
  slug (the file stem) or by a regular expression searched in its ``label``, unless its slug
  or label is excluded, or it is ``private: true`` (hidden by aides-jeunes itself) and
  ``include_private`` is off. A benefit not selected is skipped, not rejected
  (:func:`selected_benefits` counts them). A file whose YAML cannot be read is rejected:
  its label, hence whether it is in scope, cannot be known;
- ``data/benefits/dynamic/incitations-covoiturage.json``: the collectivités' carpooling
  campaigns (one per ``code_siren``), which aides-jeunes turns into benefits in
  ``incitations-covoiturage.ts``: one record each, native id
  ``incitation-covoiturage-<siren>``, titled as aides-jeunes titles them.

A benefit becomes a record as follows (the source states no dates):

- ``label`` → titre; ``description`` (HTML, kept as stated; normalisation makes it text);
  ``link`` → url_source; ``teleservice``, else ``form``, else ``instructions`` → url_demarche;
  the free-text ``conditions`` and ``voluntary_conditions`` → eligibilite (an HTML list);
- the institution's ``name`` → porteurs, its ``type`` → niveau (as written);
- geography, from the typed ``conditions_generales`` (all of which must hold):
  ``regions`` / ``departements`` / ``communes`` (COG codes), ``epcis`` (SIREN),
  ``codes_postaux`` → inclusions at that level; ``excluded_epcis`` → exclusions;
  ``attached_to_institution`` → the institution's territory (région / département by
  ``code_insee``, EPCI by ``code_siren``, commune by ``code_insee``), as aides-jeunes
  evaluates it; when several geographic conditions combine, or one excludes, their
  structure is kept in geo_expression. A benefit stating no geographic condition is offered
  by aides-jeunes everywhere: it gets its institution's territory when the institution is a
  territory (or a CAF / MSA with ``departments``), else France (``GeoMention("pays",
  nom="France")``, as the other adapters state a national aid);
- the other typed conditions → ``conditions``, written so that the table
  ``warehouse/normalise/vocab/conditions.csv`` reads them through its ``*`` rows:
  ``age`` (``<``, ``<=``, ``>``, ``>=``, ``=``, whole years) → ``age_min : N`` /
  ``age_max : N``; ``quotient_familial`` (``<`` / ``<=``), which aides-jeunes computes as
  the revenu fiscal de référence divided by the number of parts (per month when
  ``period: month``) → ``plafond_rfr_par_part : N`` and ``plafond_rfr_periode : mois|an``;
  ``beneficiaire_rsa`` → ``situations : bénéficiaire du RSA``; the others as French text;
- ``profils`` (one of which must hold) → ``situations : …`` for the profiles the schema's
  vocabulary names (apprenti, demandeur d'emploi, salarié, étudiant for higher education,
  bénéficiaire du RSA, handicap), ``profil : <label>`` for the others; with several
  profiles each is prefixed « une de ces conditions : », the conditions every profile
  shares being required;
- ``montant`` with ``unit``, ``periodicite`` and ``legend`` → montants (``€``: « 4000 €
  maximum », « 1000 € par mois maximum ») or taux (``%``); when the legend compares it to a
  full price (« au lieu de 64 € »), the amount is a reduced price the user pays, not an aid
  amount: promesse « Tarif réduit : 20 € par mois au lieu de 64 € », no montant;
- publics ``["particuliers"]``, types_aides ``["Aide"]`` (aides-jeunes' ``type``,
  float / bool, says how its simulator answers, not what the aid is; all are aids to
  individuals, money or fare reductions), thematiques from the selection rule(s) that chose
  the benefit.

A carpooling campaign becomes a record: porteur the institution whose ``code_siren`` it names
(all 111 real ones are EPCIs of data/institutions; a SIREN no institution has is rejected, as
aides-jeunes drops it too), geography that EPCI by SIREN (a commune, département or région by
its ``code_insee``), montants « 1 € par trajet et par passager », « 4 € par trajet et par passager » and « jusqu'à 150 €
par mois », condition « distance du trajet : de 2 à 80 km », the operators and what the
passenger pays in the description, the steps aides-jeunes lists in eligibilite; thematiques
``carpooling_thematiques``. The campaigns state no dates.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from sources import geo_expression as gx
from sources.adapters.mte_programmes import jsonable
from sources.adapters.publicodes import ALTERNATIVE, EXCLUSION  # the prefixes normalisation reads
from sources.archives import ArchiveError, archive_files
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import AdapterConfig, SourceConfig
from sources.record import AidRecord, GeoMention, ParseResult
from sources.text_files import decode

ARCHIVE_MEDIA = "application/gzip"
BENEFITS_DIR = "data/benefits/javascript"
INSTITUTIONS_DIR = "data/institutions"
CAMPAIGNS_FILE = "data/benefits/dynamic/incitations-covoiturage.json"
YAML_SUFFIXES = (".yml", ".yaml")

PUBLICS = ["particuliers"]
TYPES_AIDE = ["Aide"]
NATIONAL = GeoMention("pays", nom="France")


# -- configuration -----------------------------------------------------------------------------
class SelectionRule(AdapterConfig):
    """Benefits chosen together, and the thematiques (as stated, mapped by
    ``vocab/thematiques.csv``) they are given."""

    thematiques: list[str] = Field(min_length=1)
    # benefit file stems (``data/benefits/javascript/<slug>.yml``)
    slugs: list[str] = []
    # regular expressions searched, case-insensitively, in the benefit's ``label``
    label_patterns: list[str] = []

    @field_validator("label_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        return _compiled(patterns)

    @model_validator(mode="after")
    def _selects_something(self) -> SelectionRule:
        if not self.slugs and not self.label_patterns:
            raise ValueError("une règle de sélection nomme des slugs ou des motifs de libellé")
        return self


class Config(SourceConfig):
    """Where the archive is, and which benefits belong to the ecological transition."""

    # the repository archive (.tar.gz), e.g. codeload.github.com/<owner>/<repo>/tar.gz/refs/heads/main
    archive_url: str
    # the rules choosing benefits of data/benefits/javascript; a benefit matched by several
    # rules gets the thematiques of each
    selection: list[SelectionRule] = []
    # slugs never selected, whatever the rules say
    exclude_slugs: list[str] = []
    # regular expressions (case-insensitive) of labels never selected
    exclude_label_patterns: list[str] = []
    # benefits aides-jeunes hides (``private: true``) are skipped unless this is on
    include_private: bool = False
    # the carpooling campaigns of incitations-covoiturage.json, one record each
    carpooling_campaigns: bool = True
    # thematiques of the campaigns' records, as stated
    carpooling_thematiques: list[str] = ["mobilité"]

    @field_validator("exclude_label_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        return _compiled(patterns)


def _compiled(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"motif illisible {pattern!r} ({exc})") from exc
    return patterns


# -- collect -----------------------------------------------------------------------------------
def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """The repository archive, in one GET, named by its URL."""
    url = spec.config["archive_url"]
    document = ctx.client(spec).get(url)
    return Payload.build([(url, document.content, ARCHIVE_MEDIA)])


# -- reading the archive -----------------------------------------------------------------------
def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def read_archive(content: bytes) -> dict[str, bytes]:
    """The files parse needs, by path inside the repository (the archive's top folder removed)."""
    return archive_files(content, _needed)


def _needed(path: str) -> bool:
    folder, _, name = path.rpartition("/")
    return path == CAMPAIGNS_FILE or (folder in (BENEFITS_DIR, INSTITUTIONS_DIR) and name.endswith(YAML_SUFFIXES))


class _Loader(yaml.SafeLoader):
    """YAML as aides-jeunes reads it (js-yaml): a plain ``=`` is the string "=" (PyYAML alone
    takes it for the YAML 1.1 ``value`` tag and fails, e.g. ``operator: =``)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def load_yaml(content: bytes) -> tuple[Any, str | None]:
    """(data, None), or (None, why the YAML cannot be read)."""
    text, _encoding = decode(content)
    try:
        return yaml.load(text, Loader=_Loader), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (ligne {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, f"YAML invalide{where} : {problem}"
    except Exception as exc:  # noqa: BLE001 - e.g. an impossible timestamp: this file's failure only
        return None, f"YAML illisible : {type(exc).__name__} : {exc}"


def _slug(path: str) -> str:
    return PurePosixPath(path).stem


# -- institutions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Institution:
    slug: str
    name: str
    type: str | None
    code_insee: str | None
    code_siren: str | None
    prefix: str | None
    departments: tuple[str, ...] = ()

    def territory(self) -> list[GeoMention]:
        """The institution's own territory, as aides-jeunes' ``attached_to_institution`` reads it."""
        if self.type in ("region", "departement", "commune") and self.code_insee:
            return [GeoMention(self.type, code=self.code_insee)]
        if self.type == "epci" and self.code_siren:
            return [GeoMention("epci", code=self.code_siren)]
        return []

    def default_geography(self) -> list[GeoMention]:
        """Where a benefit stating no geographic condition applies: the institution's territory,
        its départements (CAF, MSA), else everywhere."""
        if self.type == "national":
            return [NATIONAL]
        territory = self.territory() or [GeoMention("departement", code=code) for code in self.departments]
        return territory or [NATIONAL]


def _code(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def read_institutions(files: dict[str, bytes]) -> dict[str, Institution | str]:
    """Every institution by slug, or why its file cannot be used."""
    institutions: dict[str, Institution | str] = {}
    for path in sorted(files):
        if not path.startswith(INSTITUTIONS_DIR + "/"):
            continue
        slug = _slug(path)
        data, error = load_yaml(files[path])
        if error is not None:
            institutions[slug] = f"{path} : {error}"
            continue
        if not isinstance(data, dict):
            institutions[slug] = f"{path} : pas un dictionnaire YAML"
            continue
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            institutions[slug] = f"{path} : champ 'name' absent ou vide"
            continue
        departments = data.get("departments")
        institutions[slug] = Institution(
            slug=slug,
            name=" ".join(name.split()),
            type=_code(data.get("type")),
            code_insee=_code(data.get("code_insee")),
            code_siren=_code(data.get("code_siren")),
            prefix=_code(data.get("prefix")),
            departments=tuple(c for c in map(_code, departments) if c) if isinstance(departments, list) else (),
        )
    return institutions


# -- selection ---------------------------------------------------------------------------------
SELECTED = "sélectionnée"
NOT_MATCHED = "hors sélection"
EXCLUDED = "exclue"
PRIVATE = "masquée (private)"
UNREADABLE = "illisible"


def selection_of(config: Config, slug: str, data: Any) -> tuple[str, list[str]]:
    """(status, thematiques) of one benefit file: ``data`` is its loaded YAML, None when unreadable."""
    slug = _nfc(slug)
    if slug in {_nfc(s) for s in config.exclude_slugs}:
        return EXCLUDED, []
    label = data.get("label") if isinstance(data, dict) else None
    label = _nfc(label) if isinstance(label, str) else ""
    if label and any(re.search(p, label, re.IGNORECASE) for p in config.exclude_label_patterns):
        return EXCLUDED, []
    thematiques: list[str] = []
    for rule in config.selection:
        by_slug = slug in {_nfc(s) for s in rule.slugs}
        by_label = bool(label) and any(re.search(p, label, re.IGNORECASE) for p in rule.label_patterns)
        if by_slug or by_label:
            thematiques.extend(t for t in rule.thematiques if t not in thematiques)
    if data is None:
        return UNREADABLE, thematiques
    if not thematiques:
        return NOT_MATCHED, []
    if isinstance(data, dict) and data.get("private") is True and not config.include_private:
        return PRIVATE, []
    return SELECTED, thematiques


@dataclass
class BenefitSelection:
    """What the configuration made of the benefit files of an archive, by slug."""

    status: dict[str, str] = field(default_factory=dict)
    thematiques: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # configured slugs with no file

    def slugs(self, status: str) -> list[str]:
        return sorted(slug for slug, s in self.status.items() if s == status)

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.status.values())


def _benefit_files(files: dict[str, bytes]) -> dict[str, tuple[str, bytes]]:
    return {_slug(path): (path, files[path]) for path in sorted(files) if path.startswith(BENEFITS_DIR + "/")}


def _select(config: Config, benefits: dict[str, tuple[str, bytes]]) -> tuple[BenefitSelection, dict[str, Any]]:
    selection = BenefitSelection()
    loaded: dict[str, Any] = {}
    for slug, (_path, content) in benefits.items():
        data, error = load_yaml(content)
        loaded[slug] = data if error is None else error
        status, thematiques = selection_of(config, slug, data if error is None else None)
        selection.status[slug] = status
        selection.thematiques[slug] = thematiques
    present = {_nfc(slug) for slug in benefits}
    for rule in config.selection:
        selection.missing.extend(s for s in rule.slugs if _nfc(s) not in present and s not in selection.missing)
    return selection, loaded


def selected_benefits(spec: SourceSpec, payload: Payload) -> BenefitSelection:
    """How the source's configuration sorts the benefit files of the payload's archive
    (empty when the archive cannot be read)."""
    config = Config.model_validate(spec.config)
    for _document, content in payload.documents:
        try:
            files = read_archive(content)
        except ArchiveError:
            continue
        return _select(config, _benefit_files(files))[0]
    return BenefitSelection()


# -- parse -------------------------------------------------------------------------------------
class Unusable(ValueError):
    """A benefit or campaign that cannot become a record; the message names the field."""


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """One record per selected benefit and per carpooling campaign; a rejection for each that
    cannot be read; the archive unreadable when it is not a .tar.gz or lacks what is read."""
    result = ParseResult()
    config = Config.model_validate(spec.config)
    if not payload.documents:
        result.reject_document(spec.name, "archive", "aucun document collecté", [])
        return result
    for document, content in payload.documents:
        try:
            files = read_archive(content)
        except ArchiveError as exc:
            result.reject_document(spec.name, document.name, str(exc), [], content[:200].decode("utf-8", "replace"))
            continue
        _parse_archive(spec, config, document.name, files, result)
    return result


def _parse_archive(spec: SourceSpec, config: Config, name: str, files: dict[str, bytes], result: ParseResult) -> None:
    institutions = read_institutions(files)
    if not institutions:
        result.reject_document(spec.name, f"{name} : {INSTITUTIONS_DIR}", "aucune institution dans l'archive", [])
    benefits = _benefit_files(files)
    if not benefits and config.selection:
        result.reject_document(spec.name, f"{name} : {BENEFITS_DIR}", "aucune aide dans l'archive", [])
    selection, loaded = _select(config, benefits)
    for slug, (path, content) in benefits.items():
        status = selection.status[slug]
        location = f"fichier {path}"
        if status == UNREADABLE:
            reason = str(loaded[slug])
            if not selection.thematiques[slug]:
                reason += " ; impossible de savoir si l'aide relève de la sélection"
            result.reject(spec.name, location, reason, content[:300].decode("utf-8", "replace"))
            continue
        if status != SELECTED:
            continue
        try:
            record = benefit_record(spec.name, slug, loaded[slug], institutions, selection.thematiques[slug])
        except (Unusable, ValueError, TypeError) as exc:
            result.reject(spec.name, location, str(exc), content[:300].decode("utf-8", "replace"))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad benefit never stops the others
            reason = f"erreur inattendue ({type(exc).__name__} : {exc})"
            result.reject(spec.name, location, reason, content[:300].decode("utf-8", "replace"))
            continue
        result.records.append(record)
    for slug in selection.missing:
        result.reject(
            spec.name, f"configuration, aide '{slug}'", f"aucun fichier {BENEFITS_DIR}/{slug}.yml dans l'archive"
        )
    if config.carpooling_campaigns:
        _parse_campaigns(spec, config, files, institutions, result)


# -- benefits ----------------------------------------------------------------------------------
_GEO_LEVEL = {"regions": "region", "departements": "departement", "communes": "commune", "epcis": "epci"}
_GEO_LEVEL_EXTRA = {"codes_postaux": "code_postal"}
_PROFILES = {
    "collegien": "collégien ou collégienne",
    "lyceen": "lycéen ou lycéenne",
    "enseignement_superieur": "dans l'enseignement supérieur",
    "etudiant": "scolarisé ou scolarisée",
    "stagiaire": "stagiaire",
    "apprenti": "apprenti ou apprentie",
    "professionnalisation": "en contrat de professionnalisation",
    "chomeur": "en recherche d'emploi",
    "salarie": "salarié ou salariée",
    "independant": "travailleur indépendant ou travailleuse indépendante",
    "service_civique": "en service civique",
    "beneficiaire_rsa": "bénéficiaire du RSA",
    "situation_handicap": "en situation de handicap",
    "inactif": "inactif ou inactive",
    "parent": "parent",
}
# profiles the schema's ``situations`` vocabulary names
_SITUATIONS = {
    "enseignement_superieur": "étudiant",
    "apprenti": "apprenti",
    "chomeur": "demandeur d'emploi",
    "salarie": "salarié",
    "beneficiaire_rsa": "bénéficiaire du RSA",
    "situation_handicap": "handicap",
}
_TEXT_CONDITIONS = {
    "formation_sanitaire_social": "en formation sanitaire et sociale",
    "difficultes_acces_ou_frais_logement": (
        "difficultés importantes pour accéder à un logement ou pour payer les frais liés à un logement"
    ),
    "agence_travail_temporaire": "intérimaire d'une agence de travail temporaire",
    "boursier": "boursier ou boursière",
}
_LISTED_CONDITIONS = {
    "annee_etude": "année d'étude",
    "mention_baccalaureat": "mention au baccalauréat",
}
_INCLUDES_EXCLUDES = {
    "regime_securite_sociale": "régime de sécurité sociale",
    "statut_occupation_logement": "statut d'occupation du logement",
}
_OPERATORS = ("<", "<=", ">", ">=", "=")
_PERIOD = {"mensuelle": " par mois", "annuelle": " par an"}


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (str, int, float)):
        text = str(value).strip()
        return text or None
    raise Unusable(f"champ '{key}' : texte attendu, trouvé {type(value).__name__}")


def _list(data: dict[str, Any], key: str, where: str = "") -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unusable(f"{where}champ '{key}' : liste attendue, trouvé {type(value).__name__}")
    return value


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value.replace(",", ".").strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() else number
    return None


def number_text(value: int | float) -> str:
    """A number as French text: ``1.5`` → « 1,5 », ``150.0`` → « 150 »."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace(".", ",")


def _plain_number(value: int | float) -> str:
    """A number as the condition table reads it (``\\d+(?:\\.\\d+)?``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def age_conditions(operator: Any, value: Any, where: str) -> list[str]:
    """aides-jeunes' age in whole years compared to ``value`` → ``age_min`` / ``age_max``."""
    number = _number(value)
    if operator not in _OPERATORS:
        raise Unusable(f"{where} (age) : opérateur {operator!r} inconnu ({', '.join(_OPERATORS)})")
    if number is None or int(number) != number:
        raise Unusable(f"{where} (age) : valeur {value!r} qui n'est pas un nombre entier d'années")
    years = int(number)
    if operator == ">=":
        return [f"age_min : {years}"]
    if operator == ">":
        return [f"age_min : {years + 1}"]
    if operator == "<=":
        return [f"age_max : {years}"]
    if operator == "<":
        return [f"age_max : {years - 1}"]
    return [f"age_min : {years}", f"age_max : {years}"]


def quotient_conditions(condition: dict[str, Any], where: str) -> list[str]:
    """aides-jeunes' quotient familial (RFR / parts, per month or year) → an income ceiling per part."""
    operator, value = condition.get("operator"), _number(condition.get("value"))
    if operator not in _OPERATORS:
        raise Unusable(f"{where} (quotient_familial) : opérateur {operator!r} inconnu")
    if value is None:
        raise Unusable(f"{where} (quotient_familial) : valeur {condition.get('value')!r} qui n'est pas un nombre")
    period = condition.get("period") or "year"
    if period not in ("month", "year"):
        raise Unusable(f"{where} (quotient_familial) : période {period!r} inconnue (month, year)")
    periode = "mois" if period == "month" else "an"
    if operator in ("<", "<="):
        return [f"plafond_rfr_par_part : {_plain_number(value)}", f"plafond_rfr_periode : {periode}"]
    return [f"revenu fiscal de référence par part {operator} {number_text(value)} € par {periode}"]


def _values(condition: dict[str, Any], key: str, where: str) -> list[str]:
    values = condition.get(key)
    if values is None:
        return []
    if not isinstance(values, list):
        raise Unusable(f"{where} : '{key}' devrait être une liste, trouvé {type(values).__name__}")
    codes = [_code(v) for v in values]
    if any(c is None for c in codes):
        raise Unusable(f"{where} : valeur vide ou qui n'est pas un code dans '{key}' ({values!r})")
    return [c for c in codes if c]


@dataclass
class _Stated:
    """What the typed conditions of a benefit state."""

    geo: list[gx.Expression] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)


def _condition(condition: Any, where: str, institution: Institution, stated: _Stated, negated: bool = False) -> None:
    """One typed condition (``conditions_generales`` or a profile's) into ``stated``."""
    if not isinstance(condition, dict) or not isinstance(condition.get("type"), str):
        raise Unusable(f"{where} : condition sans 'type' ({condition!r})")
    kind = condition["type"]
    prefix = EXCLUSION if negated else ""
    if kind in _GEO_LEVEL or kind in _GEO_LEVEL_EXTRA or kind == "excluded_epcis":
        level = _GEO_LEVEL.get(kind) or _GEO_LEVEL_EXTRA.get(kind) or "epci"
        codes = _values(condition, "values", f"{where} ({kind})")
        if codes:
            expression = gx.any_of([gx.place(GeoMention(level, code=code)) for code in codes])
            stated.geo.append(gx.negation(expression) if (kind == "excluded_epcis") != negated else expression)
    elif kind == "attached_to_institution":
        territory = institution.territory()
        if not territory:
            raise Unusable(
                f"{where} (attached_to_institution) : l'institution '{institution.slug}' "
                f"(type {institution.type}) n'a pas de territoire (commune, epci, departement ou region avec code)"
            )
        expression = gx.any_of([gx.place(place) for place in territory])
        stated.geo.append(gx.negation(expression) if negated else expression)
    elif kind == "not":
        _condition(condition.get("value"), f"{where} (not)", institution, stated, not negated)
    elif kind == "age":
        stated.conditions.extend(
            prefix + text for text in age_conditions(condition.get("operator"), condition.get("value"), where)
        )
    elif kind == "quotient_familial":
        stated.conditions.extend(prefix + text for text in quotient_conditions(condition, where))
    elif kind == "beneficiaire_rsa":
        stated.conditions.append(prefix + "situations : bénéficiaire du RSA")
    elif kind == "taux_incapacite":
        value = _number(condition.get("value"))
        if condition.get("operator") not in _OPERATORS or value is None:
            raise Unusable(f"{where} (taux_incapacite) : opérateur ou valeur illisible ({condition!r})")
        stated.conditions.append(f"{prefix}taux d'incapacité {condition['operator']} {number_text(value * 100)} %")
    elif kind in _TEXT_CONDITIONS:
        stated.conditions.append(prefix + _TEXT_CONDITIONS[kind])
    elif kind in _LISTED_CONDITIONS:
        values = _values(condition, "values", f"{where} ({kind})")
        stated.conditions.append(f"{prefix}{_LISTED_CONDITIONS[kind]} : {', '.join(values)}")
    elif kind in _INCLUDES_EXCLUDES:
        label = _INCLUDES_EXCLUDES[kind]
        includes = _values(condition, "includes", f"{where} ({kind})")
        excludes = _values(condition, "excludes", f"{where} ({kind})")
        if includes:
            stated.conditions.append(f"{prefix}{label} : {', '.join(includes)}")
        if excludes:
            stated.conditions.append(f"{EXCLUSION if not negated else ''}{label} : {', '.join(excludes)}")
    else:
        # a condition this adapter does not know: kept as stated, listed by normalisation
        details = {k: v for k, v in condition.items() if k != "type"}
        stated.conditions.append(
            prefix + (f"{kind} : {json.dumps(jsonable(details), ensure_ascii=False)}" if details else kind)
        )


def _profiles(data: dict[str, Any], institution: Institution) -> list[str]:
    """The ``profils`` (one of which must hold) as conditions."""
    profiles = _list(data, "profils")
    readings: list[list[str]] = []
    for position, profile in enumerate(profiles, start=1):
        where = f"profils n° {position}"
        if not isinstance(profile, dict) or not isinstance(profile.get("type"), str):
            raise Unusable(f"{where} : profil sans 'type' ({profile!r})")
        kind = profile["type"]
        text = f"situations : {_SITUATIONS[kind]}" if kind in _SITUATIONS else f"profil : {_PROFILES.get(kind, kind)}"
        stated = _Stated()
        for index, condition in enumerate(_list(profile, "conditions", f"{where} : "), start=1):
            _condition(condition, f"{where}, condition n° {index}", institution, stated)
        if stated.geo:
            raise Unusable(f"{where} : condition géographique dans un profil")
        readings.append([text, *stated.conditions])
    if not readings:
        return []
    if len(readings) == 1:
        return _unique(readings[0])
    shared = [text for text in readings[0][1:] if all(text in reading[1:] for reading in readings[1:])]
    alternatives = [text for reading in readings for text in reading if text not in shared]
    return _unique(shared + [ALTERNATIVE + text for text in alternatives])


def _unique(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))


# a legend comparing the amount to a full price: the amount is a reduced price the user pays
_PRICE_LEGEND = re.compile(r"^(?:au lieu de|à la place de)\b", re.IGNORECASE)


@dataclass
class Amounts:
    montants: list[str] = field(default_factory=list)
    taux: list[str] = field(default_factory=list)
    tarif: str | None = None  # a reduced price, « 20 € par mois au lieu de 64 € »: not an aid amount


def amounts(data: dict[str, Any]) -> Amounts:
    """What ``montant``, ``unit``, ``periodicite`` and ``legend`` state: an amount (« 4000 €
    maximum », « 1000 € par mois maximum »), a rate (unit ``%``), or a reduced price."""
    if data.get("montant") is None:
        return Amounts()
    value = _number(data.get("montant"))
    if value is None:
        raise Unusable(f"champ 'montant' : nombre attendu, trouvé {data.get('montant')!r}")
    unit = _text(data, "unit") or "€"
    legend = " ".join((_text(data, "legend") or "").split())
    period = _PERIOD.get(_text(data, "periodicite") or "", "")
    if period and legend.lower().startswith(period.strip()):
        period = ""  # « par mois maximum » already says it
    text = f"{number_text(value)} {unit}{period}" + (f" {legend}" if legend else "")
    if _PRICE_LEGEND.match(legend):
        return Amounts(tarif=text)
    return Amounts(taux=[text]) if unit == "%" else Amounts(montants=[text])


def _html_list(items: list[Any]) -> str | None:
    texts = [" ".join(str(item).split()) for item in items if isinstance(item, (str, int, float)) and str(item).strip()]
    if not texts:
        return None
    return "<ul>" + "".join(f"<li>{text}</li>" for text in texts) + "</ul>"


def benefit_record(
    source: str, slug: str, data: Any, institutions: dict[str, Institution | str], thematiques: list[str]
) -> AidRecord:
    """One selected benefit as an AidRecord; raises Unusable naming the field when it cannot be one."""
    if not isinstance(data, dict):
        kind = "vide" if data is None else type(data).__name__
        raise Unusable(f"l'aide n'est pas un dictionnaire YAML ({kind})")
    titre = data.get("label")
    if titre is not None and not isinstance(titre, str):
        raise Unusable(f"champ 'label' : texte attendu, trouvé {type(titre).__name__}")
    if titre is None or not titre.strip():
        raise Unusable("champ 'label' absent ou vide")
    slug_institution = data.get("institution")
    if not isinstance(slug_institution, str) or not slug_institution.strip():
        raise Unusable("champ 'institution' absent ou vide")
    institution = institutions.get(slug_institution.strip())
    if institution is None:
        raise Unusable(
            f"champ 'institution' : institution '{slug_institution}' inconnue "
            f"(aucun fichier {INSTITUTIONS_DIR}/{slug_institution}.yml)"
        )
    if isinstance(institution, str):
        raise Unusable(f"champ 'institution' : institution '{slug_institution}' illisible ({institution})")

    stated = _Stated()
    for position, condition in enumerate(_list(data, "conditions_generales"), start=1):
        _condition(condition, f"conditions_generales n° {position}", institution, stated)
    conditions = _unique(stated.conditions + _profiles(data, institution))

    expression = gx.all_of(stated.geo) if stated.geo else None
    placed = list(gx.places(expression)) if expression is not None else []
    inclusions = _unique_places([place for place, negated in placed if not negated])
    exclusions = _unique_places([place for place, negated in placed if negated])
    needs_expression = len(stated.geo) > 1 or bool(exclusions)
    if not inclusions:
        # no stated territory (or only exclusions): where aides-jeunes offers it
        inclusions = institution.default_geography()
        if exclusions:
            expression = gx.all_of([gx.any_of([gx.place(p) for p in inclusions]), expression or True])

    stated_amounts = amounts(data)
    eligibilite = _html_list(_list(data, "conditions") + _list(data, "voluntary_conditions"))
    url_demarche = _text(data, "teleservice") or _text(data, "form") or _text(data, "instructions")
    return AidRecord(
        source=source,
        native_id=slug,
        titre=" ".join(titre.split()),
        description=_text(data, "description"),
        eligibilite=eligibilite,
        url_source=_text(data, "link"),
        url_demarche=url_demarche,
        porteurs=[institution.name],
        niveau=institution.type,
        geo_inclusions=inclusions,
        geo_exclusions=exclusions,
        geo_expression=expression if needs_expression and expression is not None and gx.has_place(expression) else None,
        montants=stated_amounts.montants,
        taux=stated_amounts.taux,
        promesse=f"Tarif réduit : {stated_amounts.tarif}" if stated_amounts.tarif else None,
        cibles=list(PUBLICS),
        types_aides=list(TYPES_AIDE),
        thematiques=list(thematiques),
        conditions=conditions,
        raw=jsonable(data),
    )


def _unique_places(places: list[GeoMention]) -> list[GeoMention]:
    return list(dict.fromkeys(places))


# -- carpooling campaigns ----------------------------------------------------------------------
_CAMPAIGN_NUMBERS = (
    "conducteur_montant_min_par_passager",
    "conducteur_montant_max_par_passager",
    "conducteur_montant_max_par_mois",
    "trajet_longueur_min",
    "trajet_longueur_max",
    "passager_trajets_max_par_mois",
)


def _parse_campaigns(
    spec: SourceSpec,
    config: Config,
    files: dict[str, bytes],
    institutions: dict[str, Institution | str],
    result: ParseResult,
) -> None:
    content = files.get(CAMPAIGNS_FILE)
    if content is None:
        result.reject_document(spec.name, CAMPAIGNS_FILE, "fichier absent de l'archive", [])
        return
    try:
        campaigns = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        result.reject_document(
            spec.name, CAMPAIGNS_FILE, f"JSON invalide ({exc})", [], content[:300].decode("utf-8", "replace")
        )
        return
    if not isinstance(campaigns, list):
        result.reject_document(
            spec.name,
            CAMPAIGNS_FILE,
            f"liste de campagnes attendue, trouvé {type(campaigns).__name__}",
            [],
            str(campaigns)[:300],
        )
        return
    by_siren: dict[str, Institution] = {}
    for institution in institutions.values():
        if isinstance(institution, Institution) and institution.code_siren:
            by_siren.setdefault(institution.code_siren, institution)
    for position, campaign in enumerate(campaigns, start=1):
        siren = _code(campaign.get("code_siren")) if isinstance(campaign, dict) else None
        location = f"{CAMPAIGNS_FILE}, campagne n° {position}" + (f" (SIREN {siren})" if siren else "")
        try:
            result.records.append(campaign_record(spec.name, campaign, by_siren, config.carpooling_thematiques))
        except (Unusable, ValueError, TypeError) as exc:
            result.reject(spec.name, location, str(exc), json.dumps(campaign, ensure_ascii=False)[:300])
        except Exception as exc:  # noqa: BLE001 - one bad campaign never stops the others
            reason = f"erreur inattendue ({type(exc).__name__} : {exc})"
            result.reject(spec.name, location, reason, json.dumps(campaign, ensure_ascii=False)[:300])


def _prefix_title(institution: Institution) -> str:
    """« de la », « du »… before the institution's name, as incitations-covoiturage.ts writes it."""
    if institution.type == "departement" and not institution.prefix:
        return "du "
    if not institution.prefix:
        return ""
    return institution.prefix if institution.prefix in ("d'", "d’") else institution.prefix + " "


def _campaign_geography(institution: Institution, siren: str) -> list[GeoMention]:
    if institution.type == "epci":
        return [GeoMention("epci", code=siren)]
    if institution.type in ("commune", "departement", "region") and institution.code_insee:
        return [GeoMention(institution.type, code=institution.code_insee)]
    # a SIREN of another kind of body (a syndicat mixte…): kept as stated, without a level
    return [GeoMention(None, code=siren, nom=institution.name)]


def campaign_record(source: str, campaign: Any, by_siren: dict[str, Institution], thematiques: list[str]) -> AidRecord:
    """One carpooling campaign as an AidRecord; raises Unusable naming the field."""
    if not isinstance(campaign, dict):
        raise Unusable(f"la campagne devrait être un objet, trouvé {type(campaign).__name__}")
    siren = _code(campaign.get("code_siren"))
    if siren is None:
        raise Unusable("champ 'code_siren' absent ou vide")
    if not re.fullmatch(r"\d{9}", siren):
        raise Unusable(f"champ 'code_siren' : {siren!r} n'est pas un SIREN (9 chiffres)")
    institution = by_siren.get(siren)
    if institution is None:
        raise Unusable(
            f"champ 'code_siren' : SIREN {siren} d'aucune institution de {INSTITUTIONS_DIR} "
            "(aides-jeunes n'en fait pas d'aide non plus)"
        )
    numbers: dict[str, int | float | None] = {}
    for key in _CAMPAIGN_NUMBERS:
        raw = campaign.get(key)
        numbers[key] = None if raw in (None, "") else _number(raw)
        if raw not in (None, "") and numbers[key] is None:
            raise Unusable(f"champ '{key}' : nombre attendu, trouvé {raw!r}")
    low, high = numbers["conducteur_montant_min_par_passager"], numbers["conducteur_montant_max_par_passager"]
    monthly = numbers["conducteur_montant_max_par_mois"]
    if low is None and high is None:
        raise Unusable("champs 'conducteur_montant_min_par_passager' et 'conducteur_montant_max_par_passager' absents")
    # three real campaigns state their minimum above their maximum (8 € and 1,5 €): the range
    # is written from the smaller to the larger
    given = [amount for amount in (low, high) if amount is not None]
    low, high = min(given), max(given)
    # each bound on its own, per trip: a range « de 1 € à 4 € par trajet » would read as 1 € in all
    montants = [f"{number_text(amount)} € par trajet et par passager" for amount in dict.fromkeys((low, high))]
    montants += [f"jusqu'à {number_text(monthly)} € par mois"] if monthly else []

    operators = _campaign_text(campaign, "operateurs")
    platform = _campaign_text(campaign, "nom_plateforme")
    application = f"{platform}, opérée par {operators}" if platform and operators else (platform or operators)
    shortest, longest = numbers["trajet_longueur_min"], numbers["trajet_longueur_max"]
    conditions = []
    if shortest is not None and longest is not None:
        conditions.append(f"distance du trajet : de {number_text(shortest)} à {number_text(longest)} km")
    elif longest is not None:
        conditions.append(f"distance du trajet : jusqu'à {number_text(longest)} km")
    elif shortest is not None:
        conditions.append(f"distance du trajet : au moins {number_text(shortest)} km")

    if low == high:
        driver = f"{number_text(low)} € par trajet et par passager"
    else:
        driver = (
            f"entre {number_text(low)} € et {number_text(high)} € par trajet et par passager "
            "selon la distance parcourue"
        )
    if monthly:
        driver += f", dans la limite de {number_text(monthly)} € par mois"
    free_trips = numbers["passager_trajets_max_par_mois"]
    if _campaign_text(campaign, "passager_gratuite") == "Oui" and free_trips:
        passenger = f"trajets gratuits, dans la limite de {number_text(free_trips)} par mois."
    else:
        passenger = _campaign_text(campaign, "passager_montant_ticket") or "non précisé."
    description = (
        f"{institution.name} subventionne les trajets en covoiturage réservés depuis l'application "
        f"{application or 'de covoiturage'}. Conductrice ou conducteur : {driver}. "
        f"Passagère ou passager : {passenger}"
    )
    direction = _campaign_text(campaign, "zone_sens_des_trajets")
    stated = [f"Réserver le trajet depuis l'application {application}." if application else None]
    if direction:
        stated.append(
            f"Réaliser un trajet au départ {direction} à l'arrivée {_prefix_title(institution)}{institution.name}."
        )
    stated.append(_campaign_text(campaign, "si_zone_exclue_liste"))
    if shortest is not None and longest is not None:
        stated.append(
            f"Effectuer un trajet d'une distance comprise entre {number_text(shortest)} "
            f"et {number_text(longest)} kilomètres."
        )
    return AidRecord(
        source=source,
        native_id=f"incitation-covoiturage-{siren}",
        titre=f"Incitation au covoiturage {_prefix_title(institution)}{institution.name}",
        description=description,
        eligibilite=_html_list([text for text in stated if text]),
        url_source=_campaign_text(campaign, "link"),
        porteurs=[institution.name],
        niveau=institution.type,
        geo_inclusions=_campaign_geography(institution, siren),
        montants=montants,
        cibles=list(PUBLICS),
        types_aides=list(TYPES_AIDE),
        thematiques=list(thematiques),
        conditions=conditions,
        raw=jsonable(campaign),
    )


def _campaign_text(campaign: dict[str, Any], key: str) -> str | None:
    value = campaign.get(key)
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, (str, int, float)):
        raise Unusable(f"champ '{key}' : texte attendu, trouvé {type(value).__name__}")
    text = " ".join(str(value).split())
    return text or None
