"""Shared helpers for sources published as publicodes models in npm packages.

A publicodes model, once built, is one JSON object mapping dotted rule names
("aides . paris", "logement . EPCI") to rules: objects whose keys are publicodes
mechanisms ("applicable si", "valeur", "plafond", "variations"…) or metadata
("titre", "description", "lien"…). Both npm adapters (aides-velo, mesaidesreno) read
such models; what they share lives here so that they read them the same way:

- reading one member out of a package tarball, with an error naming the package;
- loading the model JSON, turning an unreadable payload into one reason;
- the key alias table: real models carry typos in key names ("plaond",
  "dernière mise jour"…); they are read under the intended name;
- the condition walker, which transcribes the territories named in conditions such as
  ``localisation . code insee = '75056'`` into GeoMentions (``=`` includes, ``!=``
  excludes, and a ``non applicable si`` flips both);
- the amount collector, which gathers the euro amounts and percentages written in the
  computation mechanisms (``valeur``, ``plafond``, ``variations``…) as stated strings.

Nothing here interprets: a code stays a code, a name stays a name, an amount stays the
text the model writes.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from sources import geo_expression as gx
from sources.archives import archive_member, is_zip
from sources.base import CollectContext, Payload, SourceSpec
from sources.config import SourceConfig
from sources.npm import NpmPackage, NpmPackageError
from sources.record import GeoMention
from sources.text_files import strict_utf8

# Key names as found in real models, read under the name publicodes intends.
KEY_ALIASES: dict[str, str] = {
    "dernière mise jour": "dernière mise à jour",  # aides-velo 3.6.1, 'aides . caen'
    "derière mise à jour": "dernière mise à jour",  # aides-velo 3.6.1, 'aides . la côtière à montluel'
    "derniere mise a jour": "dernière mise à jour",
    "dernière mise a jour": "dernière mise à jour",
    "plaond": "plafond",  # aides-velo 3.6.1, 'aides . sarlat'
    "plafon": "plafond",
    "unite": "unité",  # aides-velo 3.6.1, sub-rules of 'aides . cluses arve et montagnes'
    "date de fn": "date de fin",
}

# Mechanisms whose value combines conditions; publicodes requires a list there.
CONDITION_LISTS = ("toutes ces conditions", "une de ces conditions")
# Computation mechanisms, the only keys where amounts are looked for: conditions
# ("si", "applicable si"…), prose ("description", "note"…) and metadata are not amounts.
AMOUNT_MECHANISMS = (
    "valeur",
    "formule",
    "plafond",
    "plancher",
    "somme",
    "produit",
    "variations",
    "alors",
    "sinon",
    "abattement",
    "le maximum de",
    "le minimum de",
    "barème",
    "grille",
    "taux progressif",
    "tranches",
    "montant",
    "taux",
    "assiette",
    "multiplicateur",
    "facteur",
)
# Prose and metadata keys, never read as conditions.
TEXT_KEYS = (
    "titre",
    "description",
    "note",
    "notes",
    "question",
    "lien",
    "remplace",
    "références à",
    "type",
    "par défaut",
    "unité",
    "descriptionHtml",
    "titreHtml",
    "icône",
    "illustration",
)

# A comparison makes an expression a condition (a threshold), not an amount.
_COMPARISON = re.compile(r"[<>=]|!=")
# An amount or a rate as written: "600 €", "10000 €/an", "33 %", "1 500 €", "2,5 %".
_AMOUNT = re.compile(r"(?<![\w.,])(\d+(?:[ \u00a0\u202f]\d{3})*(?:[.,]\d+)?)\s*(€(?:/[\w.]+)?|%)")


class UnreadableCondition(ValueError):
    """A condition whose shape publicodes would not accept; the message is in French."""


# --------------------------------------------------------------------------- package


def read_package_member(package: NpmPackage, member: str) -> bytes:
    """The bytes of ``member`` (path inside the package) from the package tarball.

    npm tarballs hold their files under a ``package/`` folder. Raises NpmPackageError
    naming the package and version when the tarball cannot be read or lacks the member,
    so that the caller serves the last good collection instead.
    """
    what = f"paquet npm {package.name} {package.version}"
    wanted = {f"package/{member}", member}
    try:
        with tarfile.open(package.tarball, "r:*") as archive:
            for info in archive:
                if info.isfile() and info.name in wanted:
                    handle = archive.extractfile(info)
                    if handle is not None:
                        return handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise NpmPackageError(f"{what} : archive illisible ({exc}).") from exc
    raise NpmPackageError(f"{what} : le fichier {member!r} est absent du paquet.")


class ModelLocation(SourceConfig):
    """Where a publicodes model is read: an npm package (``package``, ``version``) by default, or
    ``url``: the model file itself, or a repository archive (``.tar.gz`` / ``.zip``, a fork, a
    historical model) holding it at ``member``. A model in YAML (``member`` ending ``.yaml``) is
    read as publicodes writes its rules."""

    package: str | None = None
    version: str = "latest"
    member: str | None = None
    url: str | None = None


def collect_model(spec: SourceSpec, ctx: CollectContext, package_name: str, default_member: str) -> Payload:
    """The model document, from npm, a URL or a repository archive (:class:`ModelLocation`)."""
    member = spec.config.get("member") or default_member
    url = spec.config.get("url")
    if url:
        content = ctx.client(spec).get(url).content
        if is_zip(content) or content[:2] == b"\x1f\x8b":  # a repository archive (zip, gzip)
            content = archive_member(content, member)
        return Payload.build([(member, content, _media(member))])
    package = ctx.npm_package(spec.config.get("package") or package_name, spec.config.get("version", "latest"))
    return Payload.build([(member, read_package_member(package, member), _media(member))], version=package.version)


def _media(member: str) -> str:
    return "application/yaml" if member.lower().endswith((".yaml", ".yml")) else "application/json"


def model_from_payload(payload: Payload, member: str) -> tuple[dict[str, Any] | None, str | None, str]:
    """The model (rule name → rule) held by the payload document ``member``.

    Returns (model, None, location) or (None, reason in French, location) when the
    document is missing, is not UTF-8 JSON, or is not a JSON object.
    """
    try:
        content = payload.content(member)
    except KeyError:
        names = ", ".join(document.name for document, _ in payload.documents) or "aucun"
        return None, f"document {member!r} absent de la collecte (documents : {names})", member
    try:
        text = strict_utf8(content)
    except UnicodeDecodeError as exc:
        return None, f"encodage invalide, UTF-8 attendu ({exc.reason} à l'octet {exc.start})", member
    if member.lower().endswith((".yaml", ".yml")):
        try:
            model = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return None, f"YAML illisible ({exc})", member
    else:
        try:
            model = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            where = f" (ligne {exc.lineno}, colonne {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            return None, f"JSON illisible{where}", member
    if not isinstance(model, dict):
        return None, f"un objet JSON de règles est attendu, trouvé : {type(model).__name__}", member
    return model, None, member


def document_excerpt(payload: Payload, name: str) -> str:
    """The first bytes of a payload document, for a rejection's excerpt."""
    try:
        return payload.content(name)[:200].decode("utf-8", errors="replace")
    except KeyError:
        return ""


def rule_excerpt(value: Any) -> str:
    """A rule as JSON text, cut short, for a rejection's excerpt."""
    try:
        return json.dumps(value, ensure_ascii=False)[:500]
    except (TypeError, ValueError):
        return repr(value)[:500]


# --------------------------------------------------------------------------- rules


def normalise_keys(value: Any) -> Any:
    """A copy of ``value`` whose dict keys are read through KEY_ALIASES, at every depth.

    When both a misspelt key and its intended spelling are present, the intended one
    wins (the misspelt one is kept in ``raw`` by the callers, never lost).
    """
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = KEY_ALIASES.get(key.strip() if isinstance(key, str) else key, key)
            if name in out and name != key:
                continue
            out[name] = normalise_keys(item)
        return out
    if isinstance(value, list):
        return [normalise_keys(item) for item in value]
    return value


def is_direct_child(name: str, parent: str) -> bool:
    prefix = parent + " . "
    return name.startswith(prefix) and " . " not in name[len(prefix) :]


def descendants(model: dict[str, Any], name: str) -> list[str]:
    """Rule names under ``name``, in model order."""
    prefix = name + " . "
    return [other for other in model if isinstance(other, str) and other.startswith(prefix)]


def subtree(model: dict[str, Any], name: str) -> dict[str, Any]:
    """The rule and its descendants, as the source wrote them (for ``raw``)."""
    return {name: model.get(name), **{other: model[other] for other in descendants(model, name)}}


def optional_text(rule: dict[str, Any], key: str) -> str | None:
    """A text field, stripped; None when absent or empty. Raises ValueError on another type."""
    value = rule.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"« {key} » devrait être un texte, trouvé : {type(value).__name__}")
    return value.strip() or None


def remplace_level(remplace: Any, namespace: str) -> str | None:
    """The level a rule states through ``remplace``, as written.

    ``{"références à": "commune"}`` (aides-velo), ``"intercommunalité"`` (mesaidesreno)
    or ``"aides . commune"`` all state "commune"/"intercommunalité": the name of the
    sum the rule contributes to, without the ``namespace`` prefix. Raises ValueError
    when ``remplace`` is present but unreadable.
    """
    if remplace is None:
        return None
    target = remplace.get("références à") if isinstance(remplace, dict) else remplace
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"« remplace » illisible : {remplace!r}")
    target = target.strip()
    prefix = namespace + " . "
    return target[len(prefix) :] if target.startswith(prefix) else target


# --------------------------------------------------------------------------- geography


@dataclass(frozen=True)
class GeoField:
    """How one comparable field names a territory: its level and whether it holds a code."""

    niveau: str
    holds: str  # "code", "nom", or "auto" (a code when it looks like one, else a name)


# Field names (lower-cased) found after the prefix in real models.
GEO_FIELDS: dict[str, GeoField] = {
    "code insee": GeoField("commune", "code"),
    "commune": GeoField("commune", "auto"),
    "epci": GeoField("epci", "auto"),
    "département": GeoField("departement", "auto"),
    "departement": GeoField("departement", "auto"),
    "région": GeoField("region", "auto"),
    "region": GeoField("region", "auto"),
    "pays": GeoField("pays", "nom"),
    "code postal": GeoField("code_postal", "code"),
}

# What a code looks like at each level, for fields that may hold a code or a name.
_CODE_SHAPES = {
    "commune": re.compile(r"\d{5}|2[AB]\d{3}", re.IGNORECASE),
    "epci": re.compile(r"\d{9}"),
    "departement": re.compile(r"\d{2,3}|2[AB]", re.IGNORECASE),
    "region": re.compile(r"\d{2}"),
}


@dataclass
class GeoConditions:
    """Territories a condition names: included, excluded, and fields not understood."""

    inclusions: list[GeoMention] = field(default_factory=list)
    exclusions: list[GeoMention] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)  # "localisation . canton"

    def add(self, mention: GeoMention, excluded: bool) -> None:
        target = self.exclusions if excluded else self.inclusions
        if mention not in target:
            target.append(mention)

    def extend(self, other: GeoConditions) -> None:
        for mention in other.inclusions:
            self.add(mention, False)
        for mention in other.exclusions:
            self.add(mention, True)
        for name in other.unknown_fields:
            if name not in self.unknown_fields:
                self.unknown_fields.append(name)


def _comparison_pattern(prefixes: Iterable[str]) -> re.Pattern[str]:
    """``prefix . field = 'value'`` / ``!=``.

    The string literal is read as publicodes' own lexer reads it (``/'.*'/``, greedy
    up to the last quote of the line), so that a value holding quotes, like
    ``'CA "Saintes - Grandes Rives - L'Agglo"'`` in aides-velo, is kept whole.
    """
    alternatives = "|".join(re.escape(prefix) for prefix in prefixes)
    return re.compile(
        rf"(?<![\w.])(?P<prefix>{alternatives})\s*\.\s*(?P<field>[^=!<>'\"\n]+?)\s*"
        rf"(?P<op>!=|=)\s*(?P<quote>['\"])(?P<value>.*)(?P=quote)"
    )


def mention_for(geo: GeoField, value: str) -> GeoMention:
    """The mention a field states; raises ValueError (French) when the value is empty."""
    value = value.strip()
    if not value:
        raise ValueError("valeur géographique vide")
    holds = geo.holds
    if holds == "auto":
        shape = _CODE_SHAPES.get(geo.niveau)
        holds = "code" if shape is not None and shape.fullmatch(value) else "nom"
    if holds == "code":
        return GeoMention(geo.niveau, code=value)
    return GeoMention(geo.niveau, nom=value)


def geography(
    condition: Any, prefixes: tuple[str, ...], negated: bool = False, strict_prefixes: tuple[str, ...] = ()
) -> GeoConditions:
    """The territories a publicodes condition names, as stated.

    ``prefixes`` are the rule namespaces whose comparisons can name a territory
    ("localisation" for aides-velo, "logement" and "ménage" for mesaidesreno). A
    comparison ``prefix . field = 'value'`` on a known field (GEO_FIELDS) is an
    inclusion, ``!=`` an exclusion; inside a ``non applicable si`` (``negated``) the two
    swap. Comparisons on other fields are ignored, except under ``strict_prefixes``
    (namespaces that only hold geography) where they are reported in
    ``unknown_fields`` for the caller to reject. Nested ``toutes ces conditions`` /
    ``une de ces conditions`` lists, strings and mechanism objects are walked; the
    logical structure (and/or) is not kept here, it stays in the record's ``raw``.

    Raises UnreadableCondition when the condition has a shape publicodes refuses.
    """
    found = GeoConditions()
    pattern = _comparison_pattern(prefixes)
    _walk_condition(condition, negated, pattern, strict_prefixes, found, depth=0)
    return found


def _walk_condition(
    node: Any, negated: bool, pattern: re.Pattern[str], strict: tuple[str, ...], found: GeoConditions, depth: int
) -> None:
    if depth > 50:
        raise UnreadableCondition("condition trop profondément imbriquée")
    if isinstance(node, str):
        for match in pattern.finditer(node):
            name = " ".join(match.group("field").split())
            geo = GEO_FIELDS.get(name.lower())
            if geo is None:
                if match.group("prefix") in strict:
                    full = f"{match.group('prefix')} . {name}"
                    if full not in found.unknown_fields:
                        found.unknown_fields.append(full)
                continue
            try:
                mention = mention_for(geo, match.group("value"))
            except ValueError as exc:
                raise UnreadableCondition(f"{exc} dans « {match.group(0)} »") from exc
            found.add(mention, excluded=negated != (match.group("op") == "!="))
    elif isinstance(node, dict):
        if not node:
            raise UnreadableCondition("condition vide ({})")
        for key, value in node.items():
            if key in TEXT_KEYS:
                continue  # prose and metadata, not conditions
            if key in CONDITION_LISTS and not isinstance(value, list):
                raise UnreadableCondition(f"« {key} » devrait être une liste, trouvé : {type(value).__name__}")
            flip = key == "non applicable si"
            _walk_condition(value, negated != flip, pattern, strict, found, depth + 1)
    elif isinstance(node, list):
        for item in node:
            if item is None or isinstance(item, (int, float)) and not isinstance(item, bool):
                raise UnreadableCondition(f"élément de condition invalide : {item!r}")
            _walk_condition(item, negated, pattern, strict, found, depth + 1)
    elif node is None or isinstance(node, bool):
        return  # no condition / "oui" / "non" as YAML booleans
    else:
        raise UnreadableCondition(f"condition illisible de type {type(node).__name__} : {node!r}")


def check_condition(condition: Any, key: str) -> None:
    """Raise UnreadableCondition (French, naming ``key``) for a condition of the wrong type."""
    if condition is None or isinstance(condition, (str, dict, list, bool)):
        return
    raise UnreadableCondition(f"« {key} » illisible : type {type(condition).__name__} ({condition!r})")


# --------------------------------------------------------------------------- amounts


@dataclass
class StatedAmounts:
    """Euro amounts and percentages as written, in order of appearance, without repeats."""

    montants: list[str] = field(default_factory=list)
    taux: list[str] = field(default_factory=list)

    def add_text(self, text: str) -> None:
        if _COMPARISON.search(text):
            return  # "revenu fiscal de référence par part <= 15400 €/an" is a threshold
        for match in _AMOUNT.finditer(text):
            number, unit = match.group(1), match.group(2)
            if _is_zero(number):
                continue  # "sinon: 0 €" is publicodes for "no aid otherwise"
            stated = f"{number} {unit}"
            target = self.taux if unit == "%" else self.montants
            if stated not in target:
                target.append(stated)

    def extend(self, other: StatedAmounts) -> None:
        for text in other.montants:
            if text not in self.montants:
                self.montants.append(text)
        for text in other.taux:
            if text not in self.taux:
                self.taux.append(text)


def _is_zero(number: str) -> bool:
    digits = re.sub(r"[ \u00a0\u202f]", "", number).replace(",", ".")
    try:
        return float(digits) == 0
    except ValueError:
        return False


def stated_amounts(rule: Any, keys: tuple[str, ...] | None = None) -> StatedAmounts:
    """The amounts and rates written in a rule's computation mechanisms.

    ``keys`` restricts the top level to some mechanisms (e.g. valeur, plafond,
    variations); otherwise, and below them, the computation mechanisms of
    AMOUNT_MECHANISMS are walked, never conditions (``si``, ``applicable si``…) nor
    prose. An expression holding a comparison is a threshold and is skipped; a zero is
    skipped ("sinon: 0 €" means no aid). A number with a ``unité`` in € or % counts.
    """
    found = StatedAmounts()
    if isinstance(rule, dict) and keys is not None:
        for key in keys:
            if key in rule:
                _walk_amounts(rule[key], found, 0)
    else:
        _walk_amounts(rule, found, 0)
    return found


def _walk_amounts(node: Any, found: StatedAmounts, depth: int) -> None:
    if depth > 50:
        return
    if isinstance(node, str):
        found.add_text(node)
    elif isinstance(node, dict):
        unit = node.get("unité")
        number = node.get("valeur")
        if isinstance(unit, str) and isinstance(number, (int, float)) and not isinstance(number, bool):
            if unit.strip().startswith(("€", "%")):
                found.add_text(f"{number} {unit.strip()}")
        for key, value in node.items():
            if key in AMOUNT_MECHANISMS:
                _walk_amounts(value, found, depth + 1)
    elif isinstance(node, list):
        for item in node:
            _walk_amounts(item, found, depth + 1)


# --------------------------------------------------------------------------- structure


def resolve_reference(model: dict[str, Any], context: str, text: str) -> str | None:
    """The rule a reference written inside rule ``context`` names, as publicodes resolves it:
    the rule itself's namespace first, then each parent's, then the root."""
    text = " ".join(text.split())
    if not text:
        return None
    parts = context.split(" . ")
    for depth in range(len(parts), -1, -1):
        candidate = " . ".join([*parts[:depth], text]) if depth else text
        if candidate in model:
            return candidate
    return None


def is_question(rule: Any) -> bool:
    """A rule the simulator asks the user (an input), not a computation: a ``question``, a
    choice, or a bare default (a default beside ``variations`` is a computed parameter)."""
    if not isinstance(rule, dict):
        return False
    if "question" in rule or "une possibilité" in rule:
        return True
    return "par défaut" in rule and not any(key in rule for key in AMOUNT_MECHANISMS)


_OPERANDS = re.compile(r"\s[*/+]\s|\s-\s|[()]")


class AmountReader:
    """The amounts and rates of a rule's computation, following the rules it names.

    A model rarely writes an aid's amount where the aid is: ``montant: taux * travaux
    plafonnés`` names a rate rule (20 % / 10 % by income) and an expense rule (the works,
    capped at 20,000 €). The reader follows such references (resolved as publicodes does),
    never into a question (an input of the simulation) nor into a rule ``stop`` refuses
    (another aid), and sorts what it finds: amounts and rates of the aid, and the ceilings
    of the expense (the ``plafond`` of a rule whose value is an input, such as the works).
    """

    def __init__(self, model: dict[str, Any], stop: Callable[[str], bool] = lambda name: False) -> None:
        self.model = model
        self.stop = stop

    def read(self, names: list[str]) -> tuple[StatedAmounts, StatedAmounts]:
        """(amounts and rates of the aid, expense ceilings) of the rules ``names``."""
        aid, ceilings = StatedAmounts(), StatedAmounts()
        seen: set[str] = set()
        for name in names:
            self._rule(name, False, aid, ceilings, seen, 0)
        return aid, ceilings

    def _rule(
        self, name: str, ceiling: bool, aid: StatedAmounts, ceilings: StatedAmounts, seen: set[str], depth: int
    ) -> None:
        if name in seen or depth > 8 or name not in self.model:
            return
        seen.add(name)
        rule = self.model[name]
        if isinstance(rule, dict):
            rule = normalise_keys(rule)
            expense = self._is_expense(name, rule)
            for key, value in rule.items():
                if key in AMOUNT_MECHANISMS:
                    below = ceiling or (key == "plafond" and expense)
                    self._node(name, value, below, aid, ceilings, seen, depth)
            unit, number = rule.get("unité"), rule.get("valeur")
            if isinstance(unit, str) and isinstance(number, (int, float)) and not isinstance(number, bool):
                (ceilings if ceiling else aid).add_text(f"{number} {unit.strip()}")
        else:
            self._node(name, rule, ceiling, aid, ceilings, seen, depth)

    def _node(
        self,
        context: str,
        node: Any,
        ceiling: bool,
        aid: StatedAmounts,
        ceilings: StatedAmounts,
        seen: set[str],
        depth: int,
    ) -> None:
        if isinstance(node, str):
            (ceilings if ceiling else aid).add_text(node)
            if _COMPARISON.search(node):
                return
            for operand in _OPERANDS.split(node):
                target = resolve_reference(self.model, context, operand)
                if target is None or self.stop(target) or is_question(self.model.get(target)):
                    continue
                self._rule(target, ceiling, aid, ceilings, seen, depth + 1)
        elif isinstance(node, dict):
            expense = self._is_expense(context, node)
            for key, value in node.items():
                if key in AMOUNT_MECHANISMS:
                    self._node(context, value, ceiling or (key == "plafond" and expense), aid, ceilings, seen, depth)
        elif isinstance(node, list):
            for item in node:
                self._node(context, item, ceiling, aid, ceilings, seen, depth)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            return  # a bare number has no unit: not an amount

    def _is_expense(self, context: str, rule: dict[str, Any]) -> bool:
        """A rule whose value is an input of the simulation (the works, a price, or their sum),
        not a computation on it: its ``plafond`` caps the expense (``travaux plafonnés``),
        whereas the ``plafond`` of ``25 % * travaux`` caps the aid."""
        value = rule.get("valeur", rule.get("formule"))
        if not isinstance(value, str) or re.search(r"\s[*/]\s|%", value):
            return False  # a product or a rate: a computation of the aid
        operands = [o for o in _OPERANDS.split(value) if o.strip()]
        return bool(operands) and all(self._is_input(context, operand) for operand in operands)

    def _is_input(self, context: str, text: str) -> bool:
        """Whether ``text`` names an input of the simulation, through rules that only rename another."""
        target = resolve_reference(self.model, context, text)
        for _ in range(8):
            candidate = self.model.get(target) if target else None
            if is_question(candidate):
                return True
            if not (isinstance(candidate, dict) and isinstance(candidate.get("valeur"), str)):
                return False
            target = resolve_reference(self.model, target or "", candidate["valeur"])
        return False


class Applicability:
    """Where a rule of a model applies, as a geographic expression (``sources/geo_expression.py``).

    A rule applies when its ``applicable si`` holds and its ``non applicable si`` does not,
    and so do its parents'. Conditions keep their structure: ``toutes ces conditions`` is
    "all", ``une de ces conditions`` "one", ``non applicable si`` a negation; a comparison
    ``localisation . epci = '…'`` is a place (``!=`` its negation); any other condition
    (age, income, bike…) is ``autre`` and never narrows the territory.

    A condition on another aid (``aides . ile de france``, ``aides . bordeaux > 0 €``) or on
    a sum that aids replace (``aides . commune > 0 €``: some communal aid applies) holds at
    most where that aid (one of those aids) applies: its applicability is inlined, beside
    the condition itself, which stays undecided.
    """

    def __init__(self, model: dict[str, Any], prefixes: tuple[str, ...], namespace: str) -> None:
        self.model = model
        self.prefixes = prefixes
        self.namespace = namespace
        self.pattern = _comparison_pattern(prefixes)
        self.replacers: dict[str, list[str]] = {}
        for name, rule in model.items():
            if isinstance(rule, dict) and rule.get("remplace") is not None:
                try:
                    level = remplace_level(normalise_keys(rule).get("remplace"), namespace)
                except ValueError:
                    continue
                target = self.reference(name, level) if level is not None else None
                if target is not None:  # the sum the rule contributes to, as publicodes resolves it
                    self.replacers.setdefault(target, []).append(name)
        self._memo: dict[str, Any] = {}

    def reference(self, context: str, text: str) -> str | None:
        return resolve_reference(self.model, context, text)

    def of_rule(self, name: str, visiting: frozenset[str] = frozenset()) -> Any:
        """The expression under which rule ``name`` applies (its parents' conditions included)."""
        if name in self._memo:
            return self._memo[name]
        if name in visiting:
            return gx.other(f"référence circulaire à {name}")
        visiting = visiting | {name}
        parts = name.split(" . ")
        items = []
        for depth in range(1, len(parts) + 1):
            ancestor = " . ".join(parts[:depth])
            rule = self.model.get(ancestor)
            if not isinstance(rule, dict):
                continue
            rule = normalise_keys(rule)
            if "applicable si" in rule:
                items.append(self.of_condition(ancestor, rule["applicable si"], visiting))
            if "non applicable si" in rule:
                items.append(gx.negation(self.of_condition(ancestor, rule["non applicable si"], visiting)))
        result = gx.all_of(items)
        if len(visiting) == 1:  # a rule read from the top: no cycle cut it short
            self._memo[name] = result
        return result

    def of_condition(self, context: str, node: Any, visiting: frozenset[str] = frozenset()) -> Any:
        """The expression of one condition written inside rule ``context``."""
        if isinstance(node, bool):
            return node
        if isinstance(node, str):
            return self._of_text(context, node, visiting)
        if isinstance(node, list):
            return gx.all_of([self.of_condition(context, item, visiting) for item in node])
        if isinstance(node, dict):
            items = []
            for key, value in node.items():
                if key == "toutes ces conditions":
                    items.append(gx.all_of([self.of_condition(context, v, visiting) for v in value]))
                elif key == "une de ces conditions":
                    items.append(gx.any_of([self.of_condition(context, v, visiting) for v in value]))
                elif key in TEXT_KEYS:
                    continue
                else:
                    items.append(gx.other(rule_excerpt({key: value})))
            return gx.all_of(items)
        return gx.other(repr(node))

    def _of_text(self, context: str, text: str, visiting: frozenset[str]) -> Any:
        stripped = " ".join(text.split())
        if stripped in ("oui", "non"):
            return stripped == "oui"
        match = self.pattern.fullmatch(stripped)
        if match is not None:
            geo = GEO_FIELDS.get(" ".join(match.group("field").split()).lower())
            if geo is not None:
                leaf = gx.place(mention_for(geo, match.group("value")))
                return gx.negation(leaf) if match.group("op") == "!=" else leaf
        # A condition on another aid, or on a sum of aids: it holds at most where they apply.
        head = re.split(r"\s*(?:<=|>=|!=|<|>|=)\s*", stripped, maxsplit=1)[0]
        target = self.reference(context, head)
        if target is not None:
            aids = [target] if target not in self.replacers else self.replacers[target]
            if target in self.replacers or self._is_aid(target):
                reach = gx.any_of([self.of_rule(aid, visiting) for aid in aids])
                return gx.all_of([reach, gx.other(stripped)])
        return gx.other(stripped)

    def _is_aid(self, name: str) -> bool:
        rule = self.model.get(name)
        return is_direct_child(name, self.namespace) and isinstance(rule, dict) and "titre" in rule


ALTERNATIVE = "une de ces conditions : "
EXCLUSION = "non applicable si : "


def stated_conditions(
    rule: dict[str, Any], prefixes: tuple[str, ...], expand: Callable[[str], Any] | None = None
) -> list[str]:
    """The conditions of a rule that name no place, as written, in order, without repeats.

    ``applicable si`` conditions as they are (``vélo . électrique``, ``revenu fiscal de
    référence par part <= 15400 €/an``); one that stands among alternatives (inside a
    ``une de ces conditions``) prefixed with ALTERNATIVE, since it is not required;
    ``non applicable si`` ones prefixed with EXCLUSION. ``expand`` may replace a condition
    that names a rule by that rule's own conditions (a model that writes ``applicable si:
    conditions`` and states them in a sub-rule); it returns None to keep the text.
    Normalisation maps them to the published eligibility fields and titles
    (``warehouse/normalise/vocab/conditions.csv``).
    """
    pattern = _comparison_pattern(prefixes)
    found: dict[str, None] = {}

    def is_place(text: str) -> bool:
        match = pattern.fullmatch(text)
        return match is not None and " ".join(match.group("field").split()).lower() in GEO_FIELDS

    def walk(node: Any, prefix: str, depth: int) -> None:
        if depth > 30:
            return
        if isinstance(node, str):
            text = " ".join(node.split())
            body = expand(text) if expand is not None else None
            if body is not None:
                walk(body, prefix, depth + 1)
            elif text and text not in ("oui", "non") and not is_place(text):
                found[prefix + text] = None
        elif isinstance(node, list):
            for item in node:
                walk(item, prefix, depth + 1)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key not in TEXT_KEYS:
                    walk(value, ALTERNATIVE if key == "une de ces conditions" and not prefix else prefix, depth + 1)

    walk(rule.get("applicable si"), "", 0)
    walk(rule.get("non applicable si"), EXCLUSION, 0)
    return list(found)


def amount_variations(rule: dict[str, Any]) -> list[str]:
    """The amounts of a rule that depend on a condition, as stated: ``400 € si vélo . cargo
    électrique``, ``300 € sinon`` (publicodes ``variations`` at the top of the rule or of its
    ``valeur`` / ``formule`` / ``plafond``). Branches whose condition is not a plain text, or
    that grant nothing (``sinon: 0 €``), are left out; fewer than two branches say nothing."""
    for key in ("variations", "valeur", "formule", "plafond"):
        node = rule.get(key)
        if key != "variations":
            node = node.get("variations") if isinstance(node, dict) else None
        if not isinstance(node, list):
            continue
        found: list[str] = []
        for branch in node:
            if not isinstance(branch, dict):
                continue
            condition = branch.get("si")
            value = branch.get("alors") if "si" in branch else branch.get("sinon")
            if "si" in branch and not isinstance(condition, str):
                continue
            if isinstance(value, str):
                stated = StatedAmounts()
                stated.add_text(value)
            else:
                stated = stated_amounts(value)
            amounts = stated.montants or stated.taux
            if not amounts:
                continue
            found.append(
                f"{amounts[0]} si {' '.join(condition.split())}"
                if isinstance(condition, str)
                else f"{amounts[0]} sinon"
            )
        if len(found) > 1:
            return found
    return []
