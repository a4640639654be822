"""The catalogue is rebuilt only when one of its inputs changed; its validation is kept per build."""

from __future__ import annotations

from datetime import date

import pytest

from sources.base import SourceSpec
from warehouse import catalogue_state
from warehouse.catalogue_state import build_if_changed, check_schema
from warehouse.db import connect_writer
from warehouse.normalise.catalogue import CatalogueSummary

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
