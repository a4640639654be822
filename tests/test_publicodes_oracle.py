"""The publicodes engine is the oracle of where each aides-velo aid applies (needs the registry).

The model is ingested, normalised and published as ``make run`` does; then, for a fixed
sample of communes (every commune an aid names, the communes of every EPCI an aid names,
the 45 arrondissements municipaux, communes déléguées, 300 random communes), the real
engine (``tools/publicodes-oracle``, npm packages ``publicodes`` and
``@betagouv/aides-velo`` pinned by its lock file) says which aids are applicable when
only the place is known, and ``aides lookup CODE --json --all`` must say the same:
precision and recall of the (commune, aid) pairs at least 0.99, every difference printed
with its rule and commune. Each rule with a ``titre`` must be its own catalogue entry.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from golden_release import NPM_PINS
from paths import TESTS

pytestmark = pytest.mark.registry

ORACLE = TESTS.parent / "tools" / "publicodes-oracle"
SEED = 20261207
RANDOM_COMMUNES = 300
DELEGUEES = 200
TODAY = date(2026, 11, 29)


def _engine(situations: dict[str, dict[str, str | None]]) -> dict:
    node = shutil.which("node")
    if node is None or not (ORACLE / "node_modules").exists():
        pytest.fail("node et tools/publicodes-oracle/node_modules sont nécessaires : `make oracle`")
    done = subprocess.run(
        [node, str(ORACLE / "applicable.mjs")],
        input=json.dumps({"situations": situations}, ensure_ascii=False),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def published(tmp_path_factory, referential_package):
    """A warehouse holding the COG and aides-velo 3.6.1, normalised and published."""
    from sources.base import CollectContext
    from sources.fetch import FetchPolicy, SnapshotStore
    from sources.ingest import ingest
    from sources.registry import load_specs
    from warehouse.db import connect_writer
    from warehouse.ingestion import previous_digest, store_outcome
    from warehouse.normalise.catalogue import build_catalogue
    from warehouse.normalise.geography import GeoResolver
    from warehouse.publication.release import publish_release
    from warehouse.referential import load_referential
    from warehouse.settings import WarehousePaths

    tmp = tmp_path_factory.mktemp("oracle")
    paths = WarehousePaths(tmp / "warehouse")
    specs = [spec for spec in load_specs() if spec.name == "aides-velo"]
    saved = os.environ.get("AIDES_WAREHOUSE_DIR")
    os.environ["AIDES_WAREHOUSE_DIR"] = str(paths.root)
    try:
        with connect_writer(paths) as conn:
            load_referential(conn, referential_package)
            ctx = CollectContext(
                SnapshotStore(tmp / "snap"),
                tmp / "npm",
                FetchPolicy(user_agent="t", min_interval_s=0),
                npm_pins=NPM_PINS,
            )
            store_outcome(conn, ingest(specs[0], ctx, previous_digest(conn, "aides-velo")), "oracle")
            build_catalogue(conn, specs, TODAY)
            release = publish_release(
                conn, paths, GeoResolver.from_warehouse(conn), now=datetime(2026, 11, 29, 6, tzinfo=ZoneInfo("UTC"))
            )
    finally:
        if saved is None:
            os.environ.pop("AIDES_WAREHOUSE_DIR", None)
        else:
            os.environ["AIDES_WAREHOUSE_DIR"] = saved
    assert release.path is not None
    return paths, release.path


def _sample(conn, expressions: list[str]) -> list[str]:
    """The sample of codes (see the module docstring), sorted."""
    from sources.geo_expression import places

    named_communes, named_epcis = set(), set()
    for text in expressions:
        for mention, _ in places(json.loads(text)):
            if mention.niveau == "commune" and mention.code:
                named_communes.add(mention.code)
            elif mention.niveau == "epci" and mention.nom:
                named_epcis.add(mention.nom)
    epci_communes = {
        row[0]
        for row in conn.execute(
            "SELECT m.commune FROM ref_epci_membres m JOIN ref_epci e ON e.siren = m.epci WHERE e.nom IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [sorted(named_epcis)],
        ).fetchall()
    }
    arrondissements = [
        row[0]
        for row in conn.execute(
            "SELECT code FROM ref_communes_rattachees WHERE type = 'arrondissement-municipal' ORDER BY code"
        ).fetchall()
    ]
    assert len(arrondissements) == 45
    deleguees = [
        row[0]
        for row in conn.execute(
            "SELECT code FROM ref_communes_rattachees WHERE type = 'commune-deleguee' AND code NOT IN "
            "(SELECT code FROM ref_communes) ORDER BY code"
        ).fetchall()
    ]
    communes = [row[0] for row in conn.execute("SELECT code FROM ref_communes ORDER BY code").fetchall()]
    rng = random.Random(SEED)
    sample = named_communes | epci_communes | set(arrondissements)
    sample |= set(rng.sample(deleguees, DELEGUEES)) | set(rng.sample(communes, RANDOM_COMMUNES))
    return sorted(sample)


def test_the_engine_and_the_lookup_agree_on_every_sampled_commune(published, capsys):
    from warehouse.db import connect_reader
    from warehouse.publication.lookup import CatalogueIndex, current_commune, lookup

    paths, release = published
    provenance = pl.read_csv(release / "provenance.csv", infer_schema=False).filter(pl.col("source") == "aides-velo")
    rule_of = dict(zip(provenance["aid_id"], provenance["identifiant_source"], strict=True))
    index = CatalogueIndex(release)
    with connect_reader(paths) as conn:
        expressions = [
            row[0]
            for row in conn.execute(
                "SELECT geo_expression FROM source_records WHERE source = 'aides-velo' AND geo_expression IS NOT NULL"
            ).fetchall()
        ]
        codes = _sample(conn, expressions)
        places = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT commune, epci_nom, departement, region FROM v_communes_territoires"
            ).fetchall()
        }
        situations, ours = {}, {}
        for code in codes:
            commune = current_commune(code, conn)
            epci, departement, region = places[commune]
            situations[code] = {
                "localisation . code insee": commune,
                "localisation . epci": epci,
                "localisation . département": departement,
                "localisation . région": region,
                "localisation . pays": "France",
            }
            answer = lookup(index, code, conn, include_closed=True)
            ours[code] = {rule_of[a["id"]] for a in answer.aides if a["id"] in rule_of}
    engine = _engine(situations)
    assert not engine.get("errors"), json.dumps(engine.get("errors"), ensure_ascii=False)[:2000]
    expected = {(code, rule) for code, rules in engine["applicable"].items() for rule in rules}
    found = {(code, rule) for code, rules in ours.items() for rule in rules}
    both = expected & found
    precision = len(both) / len(found)
    recall = len(both) / len(expected)
    with capsys.disabled():
        print(
            f"\noracle publicodes : {len(codes)} codes, {len(expected)} paires du moteur, {len(found)} publiées ; "
            f"précision {precision:.4f}, rappel {recall:.4f}",
            file=sys.stderr,
        )
        for code, rule in sorted(found - expected):
            print(f"  publiée à tort : {rule} à {code}", file=sys.stderr)
        for code, rule in sorted(expected - found):
            print(f"  manquante : {rule} à {code}", file=sys.stderr)
    assert precision >= 0.99 and recall >= 0.99


def test_every_titled_rule_is_its_own_catalogue_entry(published):
    paths, release = published
    provenance = pl.read_csv(release / "provenance.csv", infer_schema=False).filter(pl.col("source") == "aides-velo")
    engine = _engine({})
    assert set(provenance["identifiant_source"]) == set(engine["aids"])
    per_aid = provenance.group_by("aid_id").agg(pl.col("identifiant_source"))
    merged = per_aid.filter(pl.col("identifiant_source").list.len() > 1)
    assert merged.height == 0, merged.to_dicts()[:5]


def test_the_cli_lookup_gives_the_same_answer(published):
    """``aides lookup CODE --json --all`` is what the comparison above reads, in process."""
    paths, release = published
    from warehouse.db import connect_reader
    from warehouse.publication.lookup import CatalogueIndex, lookup

    env = {**os.environ, "AIDES_WAREHOUSE_DIR": str(paths.root)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "aides"), "lookup", "14118", "--json", "--all"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cli = {a["id"] for a in json.loads(done.stdout)["aides"]}
    with connect_reader(paths) as conn:
        in_process = {a["id"] for a in lookup(CatalogueIndex(release), "14118", conn, include_closed=True).aides}
    assert cli == in_process and len(cli) >= 3


def test_the_oracle_tool_passes_its_own_tests():
    """``tools/publicodes-oracle/applicable.test.mjs``: its semantics on known communes (node --test)."""
    node = shutil.which("node")
    assert node is not None and (ORACLE / "node_modules").exists(), "`make oracle` installe l'outil"
    done = subprocess.run([node, "--test"], cwd=ORACLE, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
