"""Adapter for ``mesaidesreno``, the publicodes model behind mesaidesreno.beta.gouv.fr.

The npm package (MIT licence, per its package.json and LICENSE) ships the built model
``mesaidesreno.model.json``: one JSON object of publicodes rules describing the
renovation aids and the simulation around them. Two kinds of rules are aids:

National aids. The model marks the aids its interface presents as aid cards with a
``marque`` (the aid's brand); a rule carrying a ``marque`` is a national aid, except
``aides locales`` (the family of local aids, read below) and anything under it. In
version 2.3.1 this gives ``MPR . accompagnée`` (MaPrimeRénov' parcours accompagné),
``MPR . accompagnée . prise en charge MAR`` (Mon Accompagnateur Rénov'),
``CEE . rénovation d'ampleur`` (CEE coup de pouce), ``ampleur . prime individuelle
copropriété`` (MaPrimeRénov' copropriété, prime individuelle), ``denormandie``,
``taxe foncière`` (exonération), ``PTZ`` (éco-PTZ) and ``PAR`` (prêt avance
rénovation). Two aids have a title but no ``marque``: ``MPR . non accompagnée``
(MaPrimeRénov' par geste) and ``copropriété`` (MaPrimeRénov' Copropriété); they are
listed in ``EXTRA_NATIONAL_RULES`` (overridable by ``config.extra_national_rules``),
and a listed rule missing from the model is a rejection, so a renamed aid is seen.
The per-work CEE sheets (``gestes . … . CEE``) are amounts inside the "par geste"
parcours, not separate aids; the titled section rules (``vous``, ``logement``,
``ampleur``, ``gestes``…) are questions and groupings, not aids.
A national aid has ``GeoMention("pays", nom="France")``; ``niveau`` stays None (the
model does not state a level). Fields: ``titre`` (else ``marque – complément de
marque``), ``description``, ``conditions éligibilités`` → eligibilite, ``lien``,
``marque`` → programmes, ``type`` ("remboursement", "prêt", "exonération fiscale") →
types_aides, else the entry's ``type_par_defaut``; porteurs from the entry's
``[source.config.porteurs]`` (by marque, else by rule: the Anah for MaPrimeRénov', the
State for the loans…), never the site that models them.

Amounts. The model seldom writes an aid's amount where the aid is: ``<aid> . montant``
names rate rules (``taux``, ``pourcent brut``: 20 % / 10 % by income) and expense rules
(the works, capped at 20,000 €). ``publicodes.AmountReader`` follows those references and
sorts what it finds into amounts and rates of the aid and ceilings of the expense
(``plafonds_depense``); it never enters an input of the simulation, the income scales or
another aid. ``[source.config.montants]`` adds rules no computation names (MaPrimeRénov'
par geste: one amount per work the user picks).

Local aids. Each direct child of ``aides locales`` is a family (« Essonne - Prime
éco-logis 91 »), and each rule at or under it that owns a ``montant`` is an aid of its own
(« travaux essentiels », 800 €; « gros travaux », 10–20 %), except a ``montant`` that only
adds up or forwards other aids' (``angers . montant``: the family's total). A family with
no such aid is one rejection, and so is an aid the model switches off (``montant: non``,
Rennes). Title: the aid's own ``titre`` (or its ``montant``'s), else the entry's
``[source.config.libelles]`` for its rule (``occupant`` → « Aide aux propriétaires
occupants »), followed by the family's title. Description, link and dates: the aid's, its
``montant``'s, then its parents'; a link written in the description counts. Geography: the
nearest ``conditions géo`` of the aid or its parents (``logement . EPCI = '242500361'`` →
GeoMention("epci", code="242500361"); ``logement . département = 'Essonne'`` →
GeoMention("departement", nom="Essonne"), a code when it looks like one; ``!=``
excludes; ``ménage . …`` is read as ``logement . …``), else those below the family.
``niveau``: the ``remplace`` of its ``montant``, else the level of its territory.
Conditions: the aid's and its ``montant``'s, expanded through the condition rules of its
family and the model-wide lists (``conditions communes``), places left out.

Constant, stated once: thematiques ``["rénovation énergétique"]`` and publics
``["particuliers"]``, what the simulator is about.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sources.adapters.publicodes import (
    CONDITION_LISTS,
    AmountReader,
    GeoConditions,
    ModelLocation,
    StatedAmounts,
    UnreadableCondition,
    amount_variations,
    check_condition,
    collect_model,
    descendants,
    document_excerpt,
    geography,
    is_direct_child,
    is_question,
    model_from_payload,
    normalise_keys,
    optional_text,
    remplace_level,
    resolve_reference,
    rule_excerpt,
    stated_conditions,
    subtree,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.record import AidRecord, GeoMention, ParseResult

PACKAGE = "mesaidesreno"
MEMBER = "mesaidesreno.model.json"
LOCAL_NAMESPACE = "aides locales"
GEO_RULE = "conditions géo"
AMOUNT_RULE = "montant"
GEO_PREFIXES = ("logement", "ménage")
EXTRA_NATIONAL_RULES = ("MPR . non accompagnée", "copropriété")
INCOME_SCALE = "ménage . revenu"  # the income brackets: parameters, not amounts of an aid
CONDITION_KEYS = ("toutes ces conditions", "une de ces conditions", "valeur", "formule", "applicable si")
FRANCE = GeoMention("pays", nom="France")

PUBLICS = ["particuliers"]
THEMATIQUES = ["rénovation énergétique"]


class Config(ModelLocation):
    """Where the model is read (``publicodes.ModelLocation``) and the tables the module docstring describes."""

    extra_national_rules: list[str] | None = None
    type_par_defaut: str | None = None
    montants: dict[str, str] = {}
    porteurs: dict[str, list[str]] = {}
    libelles: dict[str, str] = {}


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """The model, from the npm package at the configured version (or from a URL or an archive)."""
    return collect_model(spec, ctx, PACKAGE, MEMBER)


def _in_local_namespace(name: str) -> bool:
    return name == LOCAL_NAMESPACE or name.startswith(LOCAL_NAMESPACE + " . ")


def national_items(model: dict[str, Any], extras: tuple[str, ...]) -> list[str]:
    """Names of the national aids: rules with a ``marque`` outside ``aides locales``, then extras."""
    names = [
        name
        for name, rule in model.items()
        if isinstance(rule, dict) and "marque" in rule and not _in_local_namespace(name)
    ]
    return names + [name for name in extras if name not in names]


def _last_segment(name: str) -> str:
    return name.rsplit(" . ", 1)[-1]


def _montant(model: dict[str, Any], name: str) -> Any:
    return model.get(f"{name} . {AMOUNT_RULE}")


def _amount_references(model: dict[str, Any], name: str) -> list[str | None]:
    """What the ``montant`` of ``name`` adds up or forwards: the rules it names, when it only names rules."""
    montant = _montant(model, name)
    if isinstance(montant, dict):
        montant = normalise_keys(montant)
        terms = montant.get("somme", montant.get("valeur", montant.get("formule")))
    else:
        terms = montant
    if isinstance(terms, str):
        terms = [terms]
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) for t in terms):
        return []
    return [resolve_reference(model, f"{name} . {AMOUNT_RULE}", term) for term in terms]


def _is_grouping(model: dict[str, Any], name: str) -> bool:
    """A ``montant`` that only adds up (or forwards) other aids' ``montant`` rules: a family, not an aid."""
    targets = _amount_references(model, name)
    return bool(targets) and all(
        t is not None and t != f"{name} . {AMOUNT_RULE}" and _last_segment(t) == AMOUNT_RULE for t in targets
    )


def _is_disabled(model: dict[str, Any], name: str) -> bool:
    """A ``montant`` the model switches off (``valeur: non``): an aid it no longer grants."""
    montant = _montant(model, name)
    value = normalise_keys(montant).get("valeur") if isinstance(montant, dict) else montant
    return isinstance(value, str) and value.strip() == "non"


def local_items(model: dict[str, Any]) -> list[str]:
    """The local aids: every rule at or under a direct child of ``aides locales`` (its family)
    that has a ``montant`` of its own (a sub-aid such as « travaux essentiels »), except a
    ``montant`` that only adds up other aids'. A child with none is one item alone (rejected:
    nothing to publish), so that every child is accounted for."""
    items = []
    for name in model:
        if not is_direct_child(name, LOCAL_NAMESPACE) or _last_segment(name) == AMOUNT_RULE:
            continue
        suffix = f" . {AMOUNT_RULE}"
        owners = [rule[: -len(suffix)] for rule in descendants(model, name) if rule.endswith(suffix)]
        units = [unit for unit in dict.fromkeys(owners) if not _is_grouping(model, unit)]
        items.extend(units or [name])
    return items


def family_of(name: str) -> str:
    """The local aid (direct child of ``aides locales``) a sub-aid belongs to."""
    return " . ".join(name.split(" . ")[:2])


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """One record per national and local aid; one rejection per aid that cannot be read."""
    result = ParseResult()
    model, reason, location = model_from_payload(payload, (spec.config.get("member") or MEMBER))
    if model is None:
        result.reject(spec.name, location, reason or "modèle illisible", document_excerpt(payload, location))
        return result
    try:
        reader = _Reader(spec, model)
        items: list[tuple[str, str | None]] = [(name, None) for name in reader.national]
        items += [(unit, family_of(unit)) for unit in reader.local]
    except Exception as exc:  # noqa: BLE001 - a model the readers cannot walk is one rejection, not a crash
        result.reject(spec.name, location, f"modèle illisible ({type(exc).__name__} : {exc})", "")
        return result
    for name, family in items:
        where = f"règle '{name}'"
        try:
            record = reader.national_record(name) if family is None else reader.local_record(family, name)
            result.records.append(record)
        except (ValueError, TypeError, UnreadableCondition) as exc:
            result.reject(spec.name, where, str(exc), rule_excerpt(model.get(name)))
        except Exception as exc:  # noqa: BLE001 - one bad rule never stops the others
            result.reject(
                spec.name, where, f"erreur inattendue ({type(exc).__name__} : {exc})", rule_excerpt(model.get(name))
            )
    return result


def _rule(model: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in model:
        raise ValueError("règle attendue absente du modèle")
    rule = model[name]
    if not isinstance(rule, dict):
        raise ValueError(f"la règle devrait être un objet, trouvé : {type(rule).__name__}")
    return normalise_keys(rule)


def _text_of(model: dict[str, Any], names: list[str], key: str) -> str | None:
    """The first non-empty text ``key`` of the rules ``names`` (objects only)."""
    for name in names:
        rule = model.get(name)
        if isinstance(rule, dict):
            text = optional_text(normalise_keys(rule), key)
            if text is not None:
                return text
    return None


_LINK = re.compile(r"https?://[^\s)\]>\"']+")
_NIVEAU_OF_GEO = {"commune": "commune", "epci": "intercommunalité", "departement": "département", "region": "région"}


class _Reader:
    """Reads the aids of one model with the source's configuration."""

    def __init__(self, spec: SourceSpec, model: dict[str, Any]) -> None:
        self.spec = spec
        self.model = model
        extras = tuple(spec.config.get("extra_national_rules", EXTRA_NATIONAL_RULES))
        self.national = national_items(model, extras)
        self.porteurs: dict[str, list[str]] = dict(spec.config.get("porteurs", {}))
        self.labels: dict[str, str] = dict(spec.config.get("libelles", {}))
        self.default_type: str | None = spec.config.get("type_par_defaut")
        self.amount_rules: dict[str, str] = dict(spec.config.get("montants", {}))
        family = model.get(LOCAL_NAMESPACE)
        self.local_type = family.get("type") if isinstance(family, dict) else None
        # An aid's computation stops at another aid and at the income scales.
        others = {f"{name} . {AMOUNT_RULE}" for name in self.national}
        self.local = local_items(model)
        others |= {f"{unit} . {AMOUNT_RULE}" for unit in self.local}
        self._other_aids = others

    def _amounts(self, name: str) -> tuple[StatedAmounts, StatedAmounts]:
        """The amounts of the aid's ``montant`` rule, plus those of the rules its source entry
        names for it (``[source.config.montants]``: MaPrimeRénov' par geste adds up one amount
        per work, chosen by the user, that no computation names)."""
        own = f"{name} . {AMOUNT_RULE}"
        names = [own] if own in self.model else [name]
        pattern = self.amount_rules.get(name)
        if pattern is not None:
            names += [other for other in self.model if re.fullmatch(pattern, other)]
        reader = AmountReader(
            self.model,
            stop=lambda target: (target in self._other_aids and target not in names) or target.startswith(INCOME_SCALE),
        )
        return reader.read(names)

    def _variations(self, name: str) -> list[str]:
        """The amounts of the aid's ``montant`` (else the aid's own rule) that depend on a condition."""
        for candidate in (f"{name} . {AMOUNT_RULE}", name):
            rule = self.model.get(candidate)
            if isinstance(rule, dict):
                return amount_variations(normalise_keys(rule))
        return []

    def _conditions(self, name: str, family: str) -> list[str]:
        """The aid's own conditions and its ``montant``'s, expanded through the condition rules of
        its family (``conditions``, ``conditions communes``, ``conditions de revenu``…)."""

        def expand(text: str, context: str) -> Any:
            target = resolve_reference(self.model, context, text)
            if target is None:
                return None
            rule = self.model.get(target)
            own = target == family or target.startswith(family + " . ")
            if own and isinstance(rule, str):
                return rule
            if not isinstance(rule, dict) or is_question(rule):
                return None
            rule = normalise_keys(rule)
            if own:
                return {k: v for k, v in rule.items() if k in CONDITION_KEYS} or None
            if " . " not in target:  # a model-wide list such as « conditions communes »
                return {k: v for k, v in rule.items() if k in CONDITION_LISTS} or None
            return None

        found: dict[str, None] = {}
        for context in (name, f"{name} . {AMOUNT_RULE}"):
            rule = self.model.get(context)
            if isinstance(rule, dict):
                stated = stated_conditions(
                    normalise_keys(rule), GEO_PREFIXES, functools.partial(expand, context=context)
                )
                found.update(dict.fromkeys(stated))
        return list(found)

    def national_record(self, name: str) -> AidRecord:
        rule = _rule(self.model, name)
        marque = optional_text(rule, "marque")
        complement = optional_text(rule, "complément de marque")
        titre = optional_text(rule, "titre")
        if titre is None and marque is not None:
            titre = f"{marque} – {complement}" if complement else marque
        if titre is None:
            raise ValueError("ni titre ni marque")
        amounts, ceilings = self._amounts(name)
        stated = optional_text(rule, "montant")
        if stated is not None:
            amounts.montants.insert(0, stated)
        kind = optional_text(rule, "type") or self.default_type
        return AidRecord(
            source=self.spec.name,
            native_id=name,
            titre=titre,
            description=optional_text(rule, "description"),
            eligibilite=optional_text(rule, "conditions éligibilités"),
            url_source=optional_text(rule, "lien"),
            porteurs=list(self.porteurs.get(marque or "", self.porteurs.get(name, []))),
            geo_inclusions=[FRANCE],
            date_cloture=optional_text(rule, "date de fin"),
            date_mise_a_jour=optional_text(rule, "dernière mise à jour"),
            montants=amounts.montants,
            taux=amounts.taux,
            plafonds_depense=ceilings.montants,
            conditions=self._conditions(name, name),
            cibles=list(PUBLICS),
            types_aides=[kind] if kind else [],
            thematiques=list(THEMATIQUES),
            programmes_parents=[marque] if marque else [],
            raw=subtree(self.model, name),
        )

    def local_record(self, family: str, name: str) -> AidRecord:
        root = self.model.get(family)
        if root is not None and not isinstance(root, dict):
            raise ValueError(f"la règle devrait être un objet, trouvé : {type(root).__name__}")
        chain = _chain(family, name)  # the aid, then its parents up to the family
        geo = _local_geography(self.model, chain, family)
        if _montant(self.model, name) is None:
            raise ValueError("aide locale sans montant : le modèle n'en chiffre aucune aide")
        if _is_disabled(self.model, name):
            raise ValueError("aide désactivée par le modèle (montant : non)")
        own = [name, f"{name} . {AMOUNT_RULE}"]
        family_title = _text_of(self.model, [family], "titre") or _humanised(family[len(LOCAL_NAMESPACE) + 3 :])
        if name == family:
            titre = family_title
        else:
            label = _text_of(self.model, own, "titre") or self.labels.get(
                _last_segment(name), _humanised(_last_segment(name))
            )
            titre = f"{label} — {family_title}"
        description = _text_of(self.model, [*own, *chain[1:]], "description")
        lien = _text_of(self.model, [*own, *chain[1:]], "lien")
        if lien is None and description is not None:
            found = _LINK.search(description)
            lien = found.group(0) if found else None
        amounts, ceilings = self._amounts(name)
        niveau = None
        montant = _montant(self.model, name)
        if isinstance(montant, dict) and "remplace" in montant:
            niveau = remplace_level(montant["remplace"], LOCAL_NAMESPACE)
        if niveau is None and geo.inclusions:
            niveau = _NIVEAU_OF_GEO.get(geo.inclusions[0].niveau or "")
        kind = self.local_type
        return AidRecord(
            source=self.spec.name,
            native_id=name,
            titre=titre,
            description=description,
            eligibilite=_text_of(self.model, own, "conditions éligibilités"),
            url_source=lien,
            niveau=niveau,
            geo_inclusions=list(geo.inclusions),
            geo_exclusions=list(geo.exclusions),
            date_cloture=_text_of(self.model, own, "date de fin"),
            date_mise_a_jour=_text_of(self.model, own, "dernière mise à jour"),
            montants=amounts.montants,
            taux=amounts.taux,
            plafonds_depense=ceilings.montants,
            montants_variations=self._variations(name),
            conditions=self._conditions(name, family),
            cibles=list(PUBLICS),
            types_aides=[kind.strip()] if isinstance(kind, str) and kind.strip() else [],
            thematiques=list(THEMATIQUES),
            raw={
                family: self.model.get(family),
                **{k: v for k, v in subtree(self.model, name).items() if k in self.model},
            },
        )


def _chain(family: str, name: str) -> list[str]:
    """``name`` and its parents up to ``family``, nearest first."""
    chain = [name]
    while chain[-1] != family and " . " in chain[-1]:
        chain.append(chain[-1].rsplit(" . ", 1)[0])
    return chain


def _humanised(segment: str) -> str:
    return segment[:1].upper() + segment[1:]


def _local_geography(model: dict[str, Any], chain: list[str], family: str) -> GeoConditions:
    """The nearest ``conditions géo`` of the aid or its parents; else those below the family."""
    sources = [f"{name} . {GEO_RULE}" for name in chain if f"{name} . {GEO_RULE}" in model][:1]
    if not sources:
        sources = [other for other in descendants(model, family) if _last_segment(other) == GEO_RULE]
    found = GeoConditions()
    for source in sources:
        condition = normalise_keys(model[source])
        check_condition(condition, source)
        found.extend(geography(condition, GEO_PREFIXES))
    return found
