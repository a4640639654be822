#!/usr/bin/env node
// Oracle d'applicabilité géographique des aides du modèle publicodes
// @betagouv/aides-velo, évalué par le vrai moteur publicodes.
//
// Entrée (stdin, un seul document JSON) :
//   {"situations": {"<clé>": {"localisation . code insee": "14118",
//                             "localisation . epci": "CU Caen la Mer",
//                             "localisation . département": "14",
//                             "localisation . région": "28",
//                             "localisation . pays": "France"}, ...}}
// Sortie (stdout, un seul document JSON) :
//   {"aids": [...], "applicable": {"<clé>": [...]}, "errors": {...},
//    "publicodes": "<version>", "model": "<version aides-velo>"}
//
// Sémantique : une aide est applicable à une situation SAUF si le moteur
// PROUVE qu'elle est non applicable (`est non applicable` vaut `true`).
// Toutes les entrées non géographiques du modèle sont laissées indéterminées
// (leurs `par défaut` sont retirés), donc une valeur indéterminée
// (`undefined`) compte comme applicable. Voir README.md.

import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import Engine, { traverseASTNode } from "publicodes";
import rules from "@betagouv/aides-velo/rules";

// Entrées géographiques acceptées (les seules que l'appelant peut fixer).
export const GEO_INPUTS = [
  "localisation . code insee",
  "localisation . epci",
  "localisation . département",
  "localisation . région",
  "localisation . pays",
];

// Règles dont on GARDE le `par défaut` :
// - les 5 entrées géographiques (écrasées par la situation quand elles sont
//   fournies ; sinon valeur par défaut du modèle : '' ou pays calculé) ;
// - `maximiser les aides` (drapeau de configuration expérimental, pas une
//   caractéristique du demandeur). S'il était indéterminé, publicodes 1.x
//   considérerait quand même active sa règle enfant
//   `maximiser les aides . maximiser prix vélo` (la désactivation par un parent
//   booléen n'a lieu que si le parent vaut `non` de façon certaine), qui
//   remplace `vélo . prix` par un prix CONCRET dépendant de l'EPCI : le prix
//   ne serait alors plus indéterminé. Avec `non`, `vélo . prix` (dont on retire
//   le défaut) reste indéterminé.
export const KEEP_DEFAULTS = new Set([...GEO_INPUTS, "maximiser les aides"]);

/** Copie des règles où tous les `par défaut` hors KEEP_DEFAULTS sont retirés. */
export function undeterminedRules(source = rules) {
  const out = {};
  const removed = [];
  for (const [name, rule] of Object.entries(source)) {
    if (
      rule !== null &&
      typeof rule === "object" &&
      Object.hasOwn(rule, "par défaut") &&
      !KEEP_DEFAULTS.has(name)
    ) {
      const { "par défaut": _dropped, ...rest } = rule;
      out[name] = rest;
      removed.push(name);
    } else {
      out[name] = rule;
    }
  }
  return { rules: out, removed };
}

/** Enfants directs de l'espace de nom `aides` ayant un `titre`. */
export function aidNames(source = rules) {
  return Object.keys(source).filter((name) => {
    if (!name.startsWith("aides . ")) return false;
    if (name.slice("aides . ".length).includes(" . ")) return false;
    const rule = source[name];
    return rule !== null && typeof rule === "object" && Boolean(rule.titre);
  });
}

/**
 * Reproduit `formatInputs` de @betagouv/aides-velo (dist/src/index.js), sans
 * la table epciSirenToName (on passe directement le nom de l'EPCI) :
 * - undefined -> clé ignorée (le `par défaut` du modèle s'applique) ;
 * - booléen -> oui / non ;
 * - epci : valeur vide / null -> null, sinon `'<nom>'` ;
 * - chaîne -> `'<chaîne>'` ;
 * - autre (null, nombre) -> tel quel.
 */
export function formatInputs(inputs) {
  const out = {};
  for (const [key, val] of Object.entries(inputs)) {
    if (val === undefined) continue;
    let v;
    if (typeof val === "boolean") v = val ? "oui" : "non";
    else if (key === "localisation . epci") v = val ? `'${val}'` : null;
    else if (typeof val === "string") v = `'${val}'`;
    else v = val;
    out[key] = v;
  }
  return out;
}

function packageVersion(specifier) {
  // Les `exports` des deux paquets n'exposent pas package.json : on remonte
  // depuis le fichier résolu jusqu'au package.json du paquet.
  let dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (pkg.name && pkg.version) return pkg.version;
    } catch {
      // pas de package.json ici : on remonte
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function message(err) {
  return String(err && err.message ? err.message : err)
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Analyse statique du modèle PARSÉ (après inlining des `remplace`) : pour
 * chaque entrée géographique, vérifie que toutes ses utilisations sont des
 * comparaisons `=` / `!=` avec une constante chaîne (ou la simple liste des
 * parents d'une règle enfant, p. ex. `localisation . pays . France`), et
 * collecte ces constantes. Si c'est le cas, deux valeurs chaînes qui ne sont
 * PAS parmi ces constantes donnent exactement les mêmes évaluations : on peut
 * mutualiser l'évaluation (voir canonicalKey). Sinon, la variable n'est pas
 * canonicalisée (sa valeur brute entre dans la clé).
 */
export function analyseGeoUsage(parsedRules) {
  const info = Object.fromEntries(
    GEO_INPUTS.map((name) => [name, { safe: true, literals: new Set(), unsafeUses: [] }]),
  );
  const children = (node) => {
    const out = [];
    traverseASTNode((child) => {
      out.push(child);
      return child;
    }, node);
    return out;
  };
  for (const [ruleName, rule] of Object.entries(parsedRules)) {
    const seen = new Set();
    const walk = (node, parent) => {
      if (node.nodeKind === "reference" && Object.hasOwn(info, node.dottedName)) {
        const var_ = info[node.dottedName];
        const other =
          parent?.nodeKind === "operation" && ["=", "!="].includes(parent.operationKind)
            ? parent.explanation.find((x) => x !== node)
            : undefined;
        if (other?.nodeKind === "constant" && typeof other.nodeValue === "string") {
          var_.literals.add(other.nodeValue);
        } else if (parent?.nodeKind === "rule" && parent.explanation.parents?.includes(node)) {
          // référence « parent » d'une règle enfant (désactivation de branche) :
          // ne dépend que du caractère null/non-null de la valeur.
        } else {
          var_.safe = false;
          var_.unsafeUses.push(`${ruleName} (${parent?.nodeKind ?? "racine"})`);
        }
      }
      if (seen.has(node)) return;
      seen.add(node);
      for (const child of children(node)) walk(child, node);
    };
    walk(rule, undefined);
  }
  // Les comparaisons de chaînes au format date (jj/mm/aaaa) ne sont pas des
  // égalités exactes en publicodes : pas de canonicalisation dans ce cas.
  const dateLike = /^[\d]{2}\/[\d]{2}\/[\d]{4}$/;
  for (const var_ of Object.values(info)) {
    if ([...var_.literals].some((l) => dateLike.test(l))) var_.safe = false;
  }
  return info;
}

/**
 * Clé de mutualisation d'une situation publicodes (déjà formatée). Pour une
 * variable « sûre », une chaîne simple (sans fin de ligne) absente des
 * constantes du modèle est remplacée par un marqueur ; null, absent et tout
 * autre type restent distincts. Les autres valeurs entrent telles quelles.
 */
export function canonicalKey(situation, geoInfo) {
  return JSON.stringify(
    GEO_INPUTS.map((name) => {
      if (!Object.hasOwn(situation, name)) return ["absent"];
      const v = situation[name];
      const var_ = geoInfo?.[name];
      if (var_?.safe && typeof v === "string" && /^'[^\n\r\u2028\u2029]*'$/.test(v)) {
        const inner = v.slice(1, -1);
        return var_.literals.has(inner) ? ["=", inner] : ["autre chaîne"];
      }
      return ["brut", v === undefined ? "undefined" : v];
    }),
  );
}

/**
 * Crée l'oracle : un seul Engine, réutilisé pour toutes les situations.
 * Options :
 * - memo (défaut true) : mutualise l'évaluation des situations de même clé
 *   canonique (voir analyseGeoUsage) ;
 * - publicEvaluate (défaut false) : passe par l'API publique
 *   `engine.evaluate({"est non applicable": aide})` (re-parse à chaque appel,
 *   ~3x plus lent) au lieu d'évaluer directement le nœud
 *   `est non applicable` construit sur la règle parsée.
 */
export function createOracle({ memo = true, publicEvaluate = false } = {}) {
  const { rules: prepared, removed } = undeterminedRules(rules);
  const aids = aidNames(rules);
  const warnings = new Map();
  const note = (m) => {
    const k = message(m);
    warnings.set(k, (warnings.get(k) ?? 0) + 1);
  };
  const engine = new Engine(prepared, {
    logger: { log: () => {}, warn: note, error: note },
  });
  const geoInfo = memo ? analyseGeoUsage(engine.getParsedRules()) : null;
  const cache = new Map();
  const stats = { situations: 0, evaluated: 0 };

  function isNotApplicable(aid) {
    if (publicEvaluate) {
      return engine.evaluate({ "est non applicable": aid }).nodeValue;
    }
    // Équivalent à engine.evaluate({"est non applicable": aid}) sans le
    // re-parsing de l'expression à chaque appel. Comme evaluate(), on repart
    // de piles d'évaluation vides (le cache des nœuds de la situation est
    // conservé et partagé entre les aides).
    engine.cache._meta = { evaluationRuleStack: [], parentRuleStack: [] };
    return engine.evaluateNode({
      nodeKind: "est non applicable",
      explanation: engine.context.parsedRules[aid],
    }).nodeValue;
  }

  function applicableAt(situation) {
    const errors = {};
    engine.setSituation(situation);
    const applicable = [];
    for (const aid of aids) {
      let notApplicable;
      try {
        notApplicable = isNotApplicable(aid);
      } catch (err) {
        // Le moteur ne peut pas trancher : non prouvée non applicable, donc
        // comptée applicable, et signalée.
        errors[aid] = message(err);
        notApplicable = undefined;
        engine.resetCache();
      }
      if (notApplicable !== true) applicable.push(aid);
    }
    return { applicable, errors };
  }

  function evaluateOne(inputs) {
    const bad =
      inputs === null || typeof inputs !== "object" || Array.isArray(inputs)
        ? ["<pas un objet>"]
        : Object.keys(inputs).filter((k) => !GEO_INPUTS.includes(k));
    if (bad.length) {
      return {
        applicable: null,
        errors: { $situation: `clé(s) non géographique(s) refusée(s): ${bad.join(", ")}` },
      };
    }
    const situation = formatInputs(inputs);
    const key = memo ? canonicalKey(situation, geoInfo) : null;
    if (memo && cache.has(key)) return cache.get(key);
    let res;
    try {
      stats.evaluated += 1;
      res = applicableAt(situation);
    } catch (err) {
      res = { applicable: null, errors: { $situation: message(err) } };
    }
    if (memo) cache.set(key, res);
    return res;
  }

  function evaluate(situations) {
    const applicable = {};
    const errors = {};
    for (const [key, inputs] of Object.entries(situations)) {
      stats.situations += 1;
      const res = evaluateOne(inputs);
      applicable[key] = res.applicable;
      if (Object.keys(res.errors).length) errors[key] = res.errors;
    }
    return { applicable, errors };
  }

  return { aids, removedDefaults: removed, warnings, geoInfo, stats, evaluate, engine };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !["--no-memo", "--public-evaluate"].includes(a));
  if (unknown.length) {
    process.stderr.write(`applicable.mjs: option(s) inconnue(s): ${unknown.join(" ")}\n`);
    process.exit(2);
  }
  let doc;
  try {
    doc = JSON.parse(await readStdin());
  } catch (err) {
    process.stderr.write(`applicable.mjs: JSON invalide sur stdin: ${message(err)}\n`);
    process.exit(2);
  }
  const situations = doc?.situations;
  if (situations === null || typeof situations !== "object" || Array.isArray(situations)) {
    process.stderr.write('applicable.mjs: attendu {"situations": {"<clé>": {...}}}\n');
    process.exit(2);
  }
  const oracle = createOracle({
    memo: !args.includes("--no-memo"),
    publicEvaluate: args.includes("--public-evaluate"),
  });
  const { applicable, errors } = oracle.evaluate(situations);
  const out = {
    aids: oracle.aids,
    applicable,
    errors,
    publicodes: packageVersion("publicodes"),
    model: packageVersion("@betagouv/aides-velo/rules"),
  };
  for (const [w, n] of oracle.warnings) {
    process.stderr.write(`applicable.mjs: avertissement publicodes (x${n}): ${w}\n`);
  }
  process.stdout.write(JSON.stringify(out));
  process.stdout.write("\n");
}

function isMain() {
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (process.argv[1] && isMain()) {
  await main();
}
