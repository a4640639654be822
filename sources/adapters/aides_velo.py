"""Adapter for ``@betagouv/aides-velo``, the publicodes model behind mesaidesvelo.fr.

The npm package ships the built model ``publicodes-build/aides-velo.model.json``: one
JSON object of publicodes rules. The aids are the direct children of the ``aides``
namespace that carry a ``titre`` (341 in version 3.6.1), e.g. ``aides . paris``:

- ``titre`` is the publisher's name ("Ville de Paris", "Île-de-France Mobilités"): it is
  kept as the record's title AND put in ``porteurs``; normalisation builds the published
  title from the conditions (the source's ``[source.config.titre]`` template);
- ``remplace: {références à: commune|intercommunalité|département|région|état}`` gives
  the publisher's level, kept as stated in ``niveau``;
- geography comes from the ``localisation . …`` comparisons anywhere inside
  ``applicable si`` (``=`` → inclusion, ``!=`` → exclusion) and ``non applicable si``
  (where they are exclusions): ``code insee`` → commune code, ``epci`` → EPCI name (a
  code when it is 9 digits), ``département`` / ``région`` → code (a name when it does
  not look like one), ``pays`` → country name. An ``état`` aid naming no territory is
  national: ``GeoMention("pays", nom="France")``. The and/or/not structure of the
  conditions is kept in ``geo_expression`` (``publicodes.Applicability``: conditions on
  other aids, such as ``aides . commune > 0 €``, hold where those aids apply), so that
  normalisation computes exactly where the aid applies;
- the conditions that name no place (``vélo . électrique``, ``demandeur . âge . de 18 à
  25 ans``…) → ``conditions``, as written;
- ``lien`` → url_source, ``dernière mise à jour`` → date_mise_a_jour,
  ``date de fin`` → date_cloture, ``description`` → description, all as written;
- the € amounts and % rates written in ``valeur``, ``plafond``, ``plancher``,
  ``somme``, ``produit``, ``formule`` and ``variations`` (conditions excluded, zero
  fallbacks excluded) → montants / taux, as stated strings.

What the source is about is constant and stated once here: aids to buy a bike
(thematiques ``["vélo"]``, types_aides ``["prime à l'achat"]``) for individuals
(publics ``["particuliers"]``).

Not items: the other titled rules of the model (``plafond état``, ``demandeur .
statut . …``, ``localisation . …``, ``vélo . …``…) are parameters of the simulation,
and the untitled children of ``aides`` (``aides . commune``, ``aides . montant``…) are
the sums the aids replace; none of them is an aid, so none is a record or a
rejection. Sub-rules of an aid (``aides . lorient agglo . …``) belong to it and are
kept in its ``raw``. Real key typos (``dernière mise jour``, ``derière mise à jour``,
``plaond``, ``unite``) are read through the shared alias table.
"""

from __future__ import annotations

from typing import Any

from sources import geo_expression as gx
from sources.adapters.publicodes import (
    Applicability,
    ModelLocation,
    UnreadableCondition,
    amount_variations,
    check_condition,
    collect_model,
    document_excerpt,
    geography,
    is_direct_child,
    model_from_payload,
    normalise_keys,
    optional_text,
    remplace_level,
    rule_excerpt,
    stated_amounts,
    stated_conditions,
    subtree,
)
from sources.base import CollectContext, Payload, SourceSpec
from sources.record import AidRecord, GeoMention, ParseResult

PACKAGE = "@betagouv/aides-velo"
MEMBER = "publicodes-build/aides-velo.model.json"
AIDS_NAMESPACE = "aides"
GEO_PREFIXES = ("localisation",)
AMOUNT_KEYS = ("valeur", "plafond", "plancher", "somme", "produit", "formule", "variations")
NATIONAL_LEVEL = "état"

PUBLICS = ["particuliers"]
TYPES_AIDE = ["prime à l'achat"]
THEMATIQUES = ["vélo"]


class Config(ModelLocation):
    """Where the model is read (``publicodes.ModelLocation``: npm by default)."""


def collect(spec: SourceSpec, ctx: CollectContext) -> Payload:
    """The model, from the npm package at the configured version (or from a URL or an archive)."""
    return collect_model(spec, ctx, PACKAGE, MEMBER)


def is_item(name: str, rule: Any) -> bool:
    """An aid of the model: a titled direct child of ``aides``.

    A direct child that is not an object (and not null, which publicodes allows for a
    bare namespace) is counted too, so that a corrupted aid is rejected, not dropped; so
    is an object with ``remplace`` but no title.
    """
    if not isinstance(name, str) or not is_direct_child(name, AIDS_NAMESPACE) or rule is None:
        return False
    if not isinstance(rule, dict):
        return True
    return "titre" in rule or "remplace" in rule


def parse(spec: SourceSpec, payload: Payload) -> ParseResult:
    """One record per aid of the model; one rejection per aid that cannot be read."""
    result = ParseResult()
    model, reason, location = model_from_payload(payload, (spec.config.get("member") or MEMBER))
    if model is None:
        result.reject(spec.name, location, reason or "modèle illisible", document_excerpt(payload, location))
        return result
    try:
        applicability = Applicability(model, GEO_PREFIXES, AIDS_NAMESPACE)
    except Exception as exc:  # noqa: BLE001 - a model the reader cannot walk is one rejection, not a crash
        result.reject(spec.name, location, f"modèle illisible ({type(exc).__name__} : {exc})", "")
        return result
    for name, rule in model.items():
        if not is_item(name, rule):
            continue
        where = f"règle '{name}'"
        try:
            result.records.append(_record(spec, model, name, rule, applicability))
        except (ValueError, TypeError, UnreadableCondition) as exc:
            result.reject(spec.name, where, str(exc), rule_excerpt(rule))
        except Exception as exc:  # noqa: BLE001 - one bad rule never stops the others
            result.reject(spec.name, where, f"erreur inattendue ({type(exc).__name__} : {exc})", rule_excerpt(rule))
    return result


def _record(
    spec: SourceSpec, model: dict[str, Any], name: str, original: Any, applicability: Applicability
) -> AidRecord:
    if not isinstance(original, dict):
        raise ValueError(f"la règle devrait être un objet, trouvé : {type(original).__name__}")
    rule = normalise_keys(original)
    titre = rule.get("titre")
    if not isinstance(titre, str) or not titre.strip():
        raise ValueError("titre absent, vide ou qui n'est pas un texte")
    titre = titre.strip()
    niveau = remplace_level(rule.get("remplace"), AIDS_NAMESPACE)

    check_condition(rule.get("applicable si"), "applicable si")
    check_condition(rule.get("non applicable si"), "non applicable si")
    geo = geography(rule.get("applicable si"), GEO_PREFIXES, strict_prefixes=GEO_PREFIXES)
    geo.extend(geography(rule.get("non applicable si"), GEO_PREFIXES, negated=True, strict_prefixes=GEO_PREFIXES))
    if geo.unknown_fields:
        raise ValueError(f"critère géographique inconnu : {', '.join(geo.unknown_fields)}")
    inclusions = list(geo.inclusions)
    expression = applicability.of_rule(name)
    if not inclusions and niveau == NATIONAL_LEVEL:
        inclusions = [GeoMention("pays", nom="France")]
        expression = gx.all_of([gx.place(inclusions[0]), expression])

    amounts = stated_amounts(rule, AMOUNT_KEYS)
    return AidRecord(
        source=spec.name,
        native_id=name,
        titre=titre,
        description=optional_text(rule, "description"),
        url_source=optional_text(rule, "lien"),
        porteurs=[titre],
        niveau=niveau,
        geo_inclusions=inclusions,
        geo_exclusions=list(geo.exclusions),
        geo_expression=expression if gx.has_place(expression) else None,
        date_cloture=optional_text(rule, "date de fin"),
        date_mise_a_jour=optional_text(rule, "dernière mise à jour"),
        montants=amounts.montants,
        taux=amounts.taux,
        conditions=stated_conditions(rule, GEO_PREFIXES),
        montants_variations=amount_variations(rule),
        cibles=list(PUBLICS),
        types_aides=list(TYPES_AIDE),
        thematiques=list(THEMATIQUES),
        raw=subtree(model, name),
    )
