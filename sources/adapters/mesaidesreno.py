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
types_aides; montants / taux from the ``<aid> . montant`` rule and its descendants,
plus the aid's own ``montant`` text when it has one (PAR: "Jusqu'à 50 000 € …").

Local aids. One item per direct child of ``aides locales`` that has a ``titre``, a
``conditions géo`` rule or a ``montant`` rule below it (``aides locales . montant`` is
the sum, not an aid); one without a ``titre`` is rejected (2.3.1: ``doubs``,
``rennes``). Geography comes from the child's ``conditions géo`` rule, or, when it
has none, from the ``conditions géo`` rules below it: ``logement . EPCI =
'242500361'`` → GeoMention("epci", code="242500361"); ``logement . département =
'Essonne'`` → GeoMention("departement", nom="Essonne"), a code when it looks like one
('25'); ``… . commune``, ``… . région`` alike; ``ménage . …`` is read as
``logement . …``; ``!=`` excludes. ``niveau`` is the ``remplace`` of its ``montant``
rules as stated ("intercommunalité", "département"); montants / taux come from the
rules named ``montant`` below it and their descendants; ``lien`` is the child's or the
first one below it; ``type`` is the one the ``aides locales`` rule states for the
whole family.

Constant, stated once: thematiques ``["rénovation énergétique"]`` and publics
``["particuliers"]``, what the simulator is about.
"""

from __future__ import annotations

from typing import Any

from sources.adapters.publicodes import (
    GeoConditions,
    StatedAmounts,
    UnreadableCondition,
    check_condition,
    descendants,
    document_excerpt,
    geography,
    is_direct_child,
    model_from_payload,
    normalise_keys,
    optional_text,
    read_package_member,
    remplace_level,
    rule_excerpt,
    stated_amounts,
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
FRANCE = GeoMention("pays", nom="France")

PUBLICS = ["particuliers"]
THEMATIQUES = ["rénovation énergétique"]


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """The model JSON, read from the package tarball at the configured version."""
    package = ctx.npm_package(spec.config.get("package", PACKAGE), spec.config.get("version", "latest"))
    member = spec.config.get("member", MEMBER)
    content = read_package_member(package, member)
    return Payload.build([(member, content, "application/json")], version=package.version)


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


def local_items(model: dict[str, Any]) -> list[str]:
    """Names of the local aids: direct children of ``aides locales`` that look like an aid."""
    names = []
    for name, rule in model.items():
        if not is_direct_child(name, LOCAL_NAMESPACE) or _last_segment(name) == AMOUNT_RULE:
            continue
        below = descendants(model, name)
        looks_like_aid = (
            (rule is not None and not isinstance(rule, dict))
            or (isinstance(rule, dict) and "titre" in rule)
            or f"{name} . {GEO_RULE}" in model
            or any(_last_segment(other) == AMOUNT_RULE for other in below)
        )
        if looks_like_aid:
            names.append(name)
    return names


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """One record per national and local aid; one rejection per aid that cannot be read."""
    result = ParseResult()
    model, reason, location = model_from_payload(payload, spec.config.get("member", MEMBER))
    if model is None:
        result.reject(spec.name, location, reason or "modèle illisible", document_excerpt(payload, location))
        return result
    extras = tuple(spec.config.get("extra_national_rules", EXTRA_NATIONAL_RULES))
    local_family = model.get(LOCAL_NAMESPACE)
    for kind, names in (("national", national_items(model, extras)), ("local", local_items(model))):
        for name in names:
            where = f"règle '{name}'"
            try:
                if kind == "national":
                    record = _national(spec, model, name)
                else:
                    record = _local(spec, model, name, local_family)
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


def _amounts_below(model: dict[str, Any], names: list[str]) -> StatedAmounts:
    """Amounts written in the rules ``names`` and in their descendants."""
    found = StatedAmounts()
    seen: set[str] = set()
    for name in names:
        for other in [name, *descendants(model, name)]:
            if other in seen or other not in model:
                continue
            seen.add(other)
            found.extend(stated_amounts(normalise_keys(model[other])))
    return found


def _national(spec: SourceSpec, model: dict[str, Any], name: str) -> AidRecord:
    rule = _rule(model, name)
    marque = optional_text(rule, "marque")
    complement = optional_text(rule, "complément de marque")
    titre = optional_text(rule, "titre")
    if titre is None and marque is not None:
        titre = f"{marque} – {complement}" if complement else marque
    if titre is None:
        raise ValueError("ni titre ni marque")
    amounts = _amounts_below(model, [f"{name} . {AMOUNT_RULE}"])
    stated = optional_text(rule, "montant")
    if stated is not None:
        amounts.montants.insert(0, stated)
    kind = optional_text(rule, "type")
    return AidRecord(
        source=spec.name,
        native_id=name,
        titre=titre,
        description=optional_text(rule, "description"),
        eligibilite=optional_text(rule, "conditions éligibilités"),
        url_source=optional_text(rule, "lien"),
        geo_inclusions=[FRANCE],
        date_cloture=optional_text(rule, "date de fin"),
        date_mise_a_jour=optional_text(rule, "dernière mise à jour"),
        montants=amounts.montants,
        taux=amounts.taux,
        cibles=list(PUBLICS),
        types_aides=[kind] if kind else [],
        thematiques=list(THEMATIQUES),
        programmes_parents=[marque] if marque else [],
        raw=subtree(model, name),
    )


def _local_geography(model: dict[str, Any], name: str) -> GeoConditions:
    direct = f"{name} . {GEO_RULE}"
    sources = (
        [direct]
        if direct in model
        else [other for other in descendants(model, name) if _last_segment(other) == GEO_RULE]
    )
    found = GeoConditions()
    for source in sources:
        condition = normalise_keys(model[source])
        check_condition(condition, source)
        found.extend(geography(condition, GEO_PREFIXES))
    return found


def _local(spec: SourceSpec, model: dict[str, Any], name: str, family: Any) -> AidRecord:
    original = model.get(name)
    if original is None:
        raise ValueError("aide locale sans titre (règle vide)")
    rule = _rule(model, name)
    titre = optional_text(rule, "titre")
    if titre is None:
        raise ValueError("aide locale sans titre")
    geo = _local_geography(model, name)
    below = descendants(model, name)
    amount_rules = [other for other in below if _last_segment(other) == AMOUNT_RULE]
    amounts = _amounts_below(model, amount_rules)
    niveau = None
    for other in amount_rules:
        candidate = model.get(other)
        if isinstance(candidate, dict) and "remplace" in candidate:
            niveau = remplace_level(candidate["remplace"], LOCAL_NAMESPACE)
            break
    lien = optional_text(rule, "lien")
    if lien is None:
        for other in below:
            candidate = model.get(other)
            if isinstance(candidate, dict) and isinstance(candidate.get("lien"), str) and candidate["lien"].strip():
                lien = candidate["lien"].strip()
                break
    kind = family.get("type") if isinstance(family, dict) else None
    return AidRecord(
        source=spec.name,
        native_id=name,
        titre=titre,
        description=optional_text(rule, "description"),
        eligibilite=optional_text(rule, "conditions éligibilités"),
        url_source=lien,
        niveau=niveau,
        geo_inclusions=list(geo.inclusions),
        geo_exclusions=list(geo.exclusions),
        date_cloture=optional_text(rule, "date de fin"),
        date_mise_a_jour=optional_text(rule, "dernière mise à jour"),
        montants=amounts.montants,
        taux=amounts.taux,
        cibles=list(PUBLICS),
        types_aides=[kind.strip()] if isinstance(kind, str) and kind.strip() else [],
        thematiques=list(THEMATIQUES),
        raw=subtree(model, name),
    )
