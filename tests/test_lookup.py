"""`aides lookup`: the aids of a commune, from the latest release only."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from aides_cli.main import app
from warehouse.lookup import CatalogueIndex, UnknownCommuneError, lookup

AIDES = pl.DataFrame({
    "id": ["a-velo", "a-clos", "a-region", "a-autre"],
    "titre": ["Aide vélo", "Ancienne aide", "Aide régionale", "Aide ailleurs"],
    "echelle": ["commune", "commune", "region", "commune"],
    "statut": ["ouverte", "clôturée", "permanente", "ouverte"],
    "eligibilite_geographique": ["COM-49007", "COM-49007", "REG-52", "COM-14118"],
    "sources": ["ville-angers", "ville-angers", "region-pays-de-la-loire", "ville-caen"],
})
PAIRS = pl.DataFrame({
    "commune": ["49007", "49007", "49007", "14118", "49015"],
    "aid_id": ["a-velo", "a-clos", "a-region", "a-autre", "a-region"],
    "statut": ["ouverte", "clôturée", "permanente", "ouverte", "permanente"],
})


@pytest.fixture
def release(warehouse):
    latest = warehouse.exports_dir / "releases" / "2026-11-29.1"
    latest.mkdir(parents=True)
    AIDES.write_parquet(latest / "aides.parquet")
    PAIRS.write_parquet(latest / "aides-communes.parquet")
    (warehouse.exports_dir / "latest").symlink_to("releases/2026-11-29.1")
    return warehouse.exports_dir / "latest"


def test_open_aids_by_default_and_all_with_the_flag(release):
    index = CatalogueIndex(release)
    assert {a["id"] for a in lookup(index, "49007", None).aides} == {"a-velo", "a-region"}
    assert {a["id"] for a in lookup(index, "49007", None, include_closed=True).aides} == {"a-velo", "a-clos", "a-region"}
    assert index.aid_ids("49015") == ["a-region"]


def test_unknown_code_is_an_error(release):
    with pytest.raises(UnknownCommuneError):
        lookup(CatalogueIndex(release), "99999", None)


def test_cli_prints_json_and_refuses_unknown_codes_with_status_2(release):
    runner = CliRunner()
    result = runner.invoke(app, ["lookup", "49007", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["commune"] == "49007" and answer["nombre"] == 2
    assert [a["titre"] for a in answer["aides"]] == ["Aide vélo", "Aide régionale"]
    result = runner.invoke(app, ["lookup", "49007", "--json", "--all"])
    assert json.loads(result.stdout)["nombre"] == 3
    unknown = runner.invoke(app, ["lookup", "12", "--json"])
    assert unknown.exit_code == 2 and "Code de commune inconnu" in unknown.output


def test_cli_without_a_release_says_how_to_make_one(warehouse):
    result = CliRunner().invoke(app, ["lookup", "49007"])
    assert result.exit_code == 2 and "make run" in result.output
