// Tests de l'oracle : `npm test` (ou `node --test`) dans ce dossier.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import Engine from "publicodes";
import rules from "@betagouv/aides-velo/rules";
import {
  GEO_INPUTS,
  KEEP_DEFAULTS,
  createOracle,
  formatInputs,
  undeterminedRules,
} from "./applicable.mjs";

const SCRIPT = fileURLToPath(new URL("./applicable.mjs", import.meta.url));

const geo = (insee, epci, dep, reg, pays = "France") => ({
  "localisation . code insee": insee,
  "localisation . epci": epci,
  "localisation . département": dep,
  "localisation . région": reg,
  "localisation . pays": pays,
});

const SITUATIONS = {
  caen: geo("14118", "CU Caen la Mer", "14", "28"),
  // commune de CU Caen la Mer sans aide communale
  cormelles: geo("14181", "CU Caen la Mer", "14", "28"),
  paris: geo("75056", "Métropole du Grand Paris", "75", "11"),
  orleans: geo("45234", "Orléans Métropole", "45", "24"),
  nogent: geo("28280", "CC du Perche", "28", "24"),
  // commune sans EPCI (epci null, puis absent)
  ouessant: geo("29155", null, "29", "53"),
  ouessantAbsent: (() => {
    const s = geo("29155", null, "29", "53");
    delete s["localisation . epci"];
    return s;
  })(),
  lux1: geo("99137", null, "99", "99", "Luxembourg"),
  lux2: geo("12345", "n'importe", "01", "84", "Luxembourg"),
  // Ville-sur-Jarnioux : cycle dans le modèle (voir README)
  jarnioux: geo("69265", "CA Villefranche Beaujolais Saône", "69", "84"),
};

function runCli(input, args = []) {
  const res = spawnSync(process.execPath, [SCRIPT, ...args], {
    input: JSON.stringify(input),
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  return res;
}

const cli = runCli({ situations: SITUATIONS });
const out = JSON.parse(cli.stdout);

test("format de sortie", () => {
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(out.publicodes, "1.10.3");
  assert.equal(out.model, "3.6.1");
  assert.equal(out.aids.length, 341);
  assert.ok(out.aids.every((a) => a.startsWith("aides . ") && !a.slice(8).includes(" . ")));
  assert.deepEqual(Object.keys(out.applicable).sort(), Object.keys(SITUATIONS).sort());
  assert.deepEqual(out.errors, {});
});

test("Caen (14118) : aides de Caen et de Caen la Mer", () => {
  const a = out.applicable.caen;
  for (const aid of ["aides . caen", "aides . caen jeune", "aides . caen vélo adapté", "aides . caen la mer"]) {
    assert.ok(a.includes(aid), aid);
  }
  assert.ok(!a.includes("aides . paris"));
  assert.ok(!a.includes("aides . region centre"));
});

test("Paris (75056) : Ville de Paris et Île-de-France, pas Caen", () => {
  const a = out.applicable.paris;
  assert.ok(a.includes("aides . paris"));
  assert.ok(a.includes("aides . ile de france"));
  assert.ok(!a.includes("aides . caen"));
  assert.ok(!a.includes("aides . caen la mer"));
});

test("Région Centre : CC du Perche oui, Orléans Métropole non", () => {
  assert.ok(out.applicable.nogent.includes("aides . region centre"));
  assert.ok(!out.applicable.orleans.includes("aides . region centre"));
  // l'autre aide régionale (Rémi Zen) n'a pas de liste d'EPCI
  assert.ok(out.applicable.orleans.includes("aides . region centre rémi zen"));
});

test("Caen la Mer exige `aides . commune > 0 €` : prouvé faux sans aide communale", () => {
  assert.ok(!out.applicable.cormelles.includes("aides . caen la mer"));
  assert.deepEqual(out.applicable.cormelles, []);
});

test("EPCI null ou absent : même résultat", () => {
  assert.deepEqual(out.applicable.ouessant, out.applicable.ouessantAbsent);
});

test("aide « état » (Luxembourg) : applicable partout dans le pays, nulle part en France", () => {
  assert.deepEqual(out.applicable.lux1, ["aides . luxembourg"]);
  assert.deepEqual(out.applicable.lux2, ["aides . luxembourg"]);
  for (const k of ["caen", "paris", "orleans", "nogent", "ouessant"]) {
    assert.ok(!out.applicable[k].includes("aides . luxembourg"), k);
  }
});

test("cycle du modèle à Ville-sur-Jarnioux : les deux aides restent applicables", () => {
  assert.ok(out.applicable.jarnioux.includes("aides . villefranche beaujolais saône"));
  assert.ok(out.applicable.jarnioux.includes("aides . ville-sur-jarnioux"));
});

test("--no-memo et --public-evaluate donnent le même résultat", () => {
  for (const args of [["--no-memo"], ["--no-memo", "--public-evaluate"]]) {
    const r = runCli({ situations: SITUATIONS }, args);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).applicable, out.applicable, args.join(" "));
  }
});

test("entrées invalides", () => {
  const r = runCli({ situations: { x: { "vélo . type": "cargo" }, y: "pas un objet" } });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.applicable.x, null);
  assert.equal(o.applicable.y, null);
  assert.match(o.errors.x.$situation, /vélo \. type/);
  assert.equal(runCli({ nope: 1 }).status, 2);
});

test("règles préparées : plus aucun `par défaut` hors localisation et `maximiser les aides`", () => {
  const { rules: prepared, removed } = undeterminedRules(rules);
  for (const [name, rule] of Object.entries(prepared)) {
    if (rule && typeof rule === "object" && "par défaut" in rule) {
      assert.ok(KEEP_DEFAULTS.has(name), name);
    }
  }
  assert.ok(removed.includes("localisation . ZFE"));
  assert.ok(removed.includes("vélo . prix"));
  const oracle = createOracle();
  oracle.engine.setSituation(formatInputs(SITUATIONS.caen));
  for (const input of [
    "vélo . prix",
    "vélo . type",
    "vélo . état",
    "demandeur . âge",
    "demandeur . statut",
    "demandeur . en situation de handicap",
    "revenu fiscal de référence par part",
    "foyer . personnes",
    "localisation . ZFE",
  ]) {
    assert.equal(oracle.engine.evaluate(input).nodeValue, undefined, input);
  }
  // indéterminé (et non faux) quand une aide dépend d'une autre
  assert.equal(oracle.engine.evaluate("aides . commune").nodeValue, undefined);
});

test("ce qui est prouvé non applicable le reste pour des entrées non géographiques quelconques", () => {
  const inputs = Object.entries(rules).filter(
    ([n, r]) => r && typeof r === "object" && ("par défaut" in r || "question" in r) && !GEO_INPUTS.includes(n),
  );
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const value = (name, r) => {
    if (r["une possibilité"]) return `'${pick(r["une possibilité"])}'`;
    if (["booléen", "boolean"].includes(r.type) || ["oui", "non"].includes(r["par défaut"])) {
      return pick(["oui", "non"]);
    }
    const range = {
      "demandeur . âge": [10, 90],
      "foyer . personnes": [1, 8],
      "revenu fiscal de référence par part . revenu de référence": [0, 80000],
      "revenu fiscal de référence par part . nombre de parts": [1, 5],
      "vélo . prix": [50, 12000],
    }[name] ?? [0, 2000];
    return Math.round(range[0] + rnd() * (range[1] - range[0]));
  };
  const engine = new Engine(rules, { logger: { log() {}, warn() {}, error() {} } });
  for (const key of ["caen", "cormelles", "paris", "orleans", "nogent"]) {
    const notApplicable = out.aids.filter((a) => !out.applicable[key].includes(a));
    for (let i = 0; i < 3; i++) {
      const s = formatInputs(SITUATIONS[key]);
      for (const [n, r] of inputs) s[n] = value(n, r);
      engine.setSituation(s);
      for (const aid of notApplicable) {
        assert.equal(engine.evaluate(aid).nodeValue, null, `${key} ${aid} ${JSON.stringify(s)}`);
      }
    }
  }
});
