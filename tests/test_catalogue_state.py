"""The catalogue is rebuilt only when one of its inputs changed; its validation is kept per build."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from sources.base import SourceSpec
from warehouse import catalogue_state
from warehouse.catalogue_state import build_if_changed, check_schema
from warehouse.db import connect_writer
from warehouse.normalise.catalogue import CatalogueSummary
from warehouse.settings import PROJECT_ROOT, warehouse_paths

SPECS = [
    SourceSpec(
        "ville-test", "fake", "commune", "Ville de Test", "etalab-2.0", "https://exemple.fr", "http", "0 4 * * *"
    )
]
DAY = date(2026, 11, 29)


@pytest.fixture
def builds(monkeypatch):
    calls: list[date] = []

    def fake_build(conn, specs, today):
        calls.append(today)
        return CatalogueSummary(
            records=3,
            aides=2,
            publiables=2,
            geo_resolues=2,
            doublons_fusionnes=1,
            a_revoir=0,
            problemes=0,
            par_statut={"ouverte": 2},
        )

    monkeypatch.setattr(catalogue_state, "build_catalogue", fake_build)
    return calls


def test_unchanged_inputs_reuse_the_stored_catalogue(warehouse, builds):
    with connect_writer(warehouse) as conn:
        conn.execute(
            "INSERT INTO source_state (source, digest, records, rejected, fetched_at, version, parsed_at) "
            "VALUES ('ville-test', 'aaa', 3, 0, '2026-11-29', NULL, now())"
        ).fetchall()
        first, rebuilt = build_if_changed(conn, SPECS, DAY)
        assert rebuilt and builds == [DAY]
        again, rebuilt = build_if_changed(conn, SPECS, DAY)
        assert not rebuilt and again == first and builds == [DAY]

        conn.execute("UPDATE source_state SET digest = 'bbb'").fetchall()  # a source changed
        assert build_if_changed(conn, SPECS, DAY)[1]
        assert build_if_changed(conn, SPECS, date(2026, 11, 30))[1]  # statuses depend on the day
        other = [SourceSpec(**{**SPECS[0].__dict__, "precedence": 90})]
        assert build_if_changed(conn, other, date(2026, 11, 30))[1]  # a declaration changed
        assert not build_if_changed(conn, other, date(2026, 11, 30))[1]
    assert len(builds) == 4


def test_the_code_of_the_transforms_is_an_input(warehouse, builds, monkeypatch):
    with connect_writer(warehouse) as conn:
        build_if_changed(conn, SPECS, DAY)
        monkeypatch.setattr(catalogue_state, "_code_digest", lambda: "autre version du code")
        assert build_if_changed(conn, SPECS, DAY)[1]


def test_the_schema_check_runs_once_per_build(warehouse, builds, monkeypatch):
    checked = []
    original = catalogue_state.validate_relation

    def counting(*args, **kwargs):
        checked.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(catalogue_state, "validate_relation", counting)
    with connect_writer(warehouse) as conn:
        build_if_changed(conn, SPECS, DAY)
        first = check_schema(conn)
        again = check_schema(conn)
        assert (first.reused, again.reused, first.violations, again.rows) == (False, True, [], first.rows)
        assert len(checked) == 1
        build_if_changed(conn, SPECS, date(2026, 11, 30))  # a new build is checked again
        assert not check_schema(conn).reused and len(checked) == 2


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The code folders of the project, copied, so that a test can add data beside them."""
    root = tmp_path / "projet"
    for folder in ("warehouse", "schemas", "sources"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_code_fingerprint_ignores_data_kept_under_the_code_folders(project_copy, monkeypatch):
    before = catalogue_state._code_digest(project_copy)
    release = project_copy / "warehouse" / "exports" / "releases" / "2026-11-29T0400"
    release.mkdir(parents=True)
    (release / "aides.csv").write_text("id,titre\n1,Aide\n", encoding="utf-8")
    (release / "outil.py").write_text("print('pas du code du catalogue')\n", encoding="utf-8")
    for folder in ("data", "snapshots"):
        (project_copy / "warehouse" / folder).mkdir()
        (project_copy / "warehouse" / folder / "extrait.csv").write_text("a\n1\n", encoding="utf-8")
    # a warehouse configured inside a code folder, with a published release
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(project_copy / "warehouse" / "normalise" / "donnees"))
    published = warehouse_paths().exports_dir / "releases" / "v1"
    published.mkdir(parents=True)
    (published / "aides.csv").write_text("id\n1\n", encoding="utf-8")
    warehouse_paths().data_dir.mkdir(parents=True)
    (warehouse_paths().data_dir / "catalogue.duckdb").write_bytes(b"DUCK")
    (project_copy / "warehouse" / "normalise" / "vocab" / "exports").mkdir()
    (project_copy / "warehouse" / "normalise" / "vocab" / "exports" / "vieux.csv").write_text("a\n", encoding="utf-8")
    assert catalogue_state._code_digest(project_copy) == before
    assert not any("donnees" in p.parts or "exports" in p.parts for p in catalogue_state.code_files(project_copy))


@pytest.mark.parametrize(
    "changed",
    [
        "warehouse/normalise/vocab/thematiques.csv",
        "warehouse/organisations/organisations.csv",
        "warehouse/submissions/libelles.csv",
        "warehouse/normalise/catalogue.py",
        "sources/folding.py",
        "schemas/schema.json",
        "warehouse/migrations/0001_referentiel.sql",
    ],
)
def test_the_code_fingerprint_follows_code_and_mapping_tables(project_copy, changed):
    before = catalogue_state._code_digest(project_copy)
    with (project_copy / changed).open("a", encoding="utf-8") as handle:
        handle.write("\n")
    assert catalogue_state._code_digest(project_copy) != before


def test_a_new_vocabulary_table_is_an_input(project_copy):
    before = catalogue_state._code_digest(project_copy)
    (project_copy / "warehouse" / "normalise" / "vocab" / "nouvelle.csv").write_text("a,b\n", encoding="utf-8")
    assert catalogue_state._code_digest(project_copy) != before
