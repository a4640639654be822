"""`aides run` end to end on the real referential, twice (needs the npm registry)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from aides_cli.main import app
from warehouse.db import connect_reader
from warehouse.referential import referential_counts


@pytest.mark.registry
def test_run_builds_the_referential_then_reuses_it(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    runner = CliRunner()
    first = runner.invoke(app, ["run"])
    assert first.exit_code == 0, first.output
    assert "telecharge=True" in first.output and "communes=34969" in first.output
    with connect_reader(warehouse) as conn:
        counts = referential_counts(conn)
    assert counts["epci"] == 1255 and counts["arrondissements_municipaux"] == 45

    second = runner.invoke(app, ["run"])
    assert second.exit_code == 0, second.output
    assert "telecharge=False" in second.output and "recharge=False" in second.output
