"""``aides geo resolve``: the CLI over the geography resolver.

The lead registers ``geo_app`` with ``app.add_typer(geo_app, name="geo")``; these tests
build a Typer app the same way. Tests marked ``registry`` read a warehouse holding the
real COG referential, built once for the session.
"""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner
from warehouse_test_helpers import warehouse_with_referential

from aides_cli.geo import geo_app
from warehouse.db import connect_reader, connect_writer
from warehouse.settings import WarehousePaths

app = typer.Typer()
app.add_typer(geo_app, name="geo")


@app.callback()
def main() -> None:
    """A stand-in for aides_cli.main's app."""


runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, ["geo", "resolve", *args], input=input)


@pytest.fixture(scope="session")
def built_warehouse(referential_package, tmp_path_factory) -> WarehousePaths:
    return warehouse_with_referential(tmp_path_factory.mktemp("geo-cli-warehouse"), referential_package)


@pytest.fixture
def real_warehouse(built_warehouse, monkeypatch) -> WarehousePaths:
    """The built warehouse, as the one the CLI opens."""
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(built_warehouse.root))
    return built_warehouse


def test_a_missing_warehouse_is_a_clear_error_with_exit_2(warehouse):
    result = run("--json", "Caen")
    assert result.exit_code == 2
    assert "n'existe pas encore" in result.stderr and "make run" in result.stderr
    assert result.stdout == ""


def test_a_warehouse_without_referential_is_a_clear_error_with_exit_2(warehouse):
    with connect_writer(warehouse):
        pass  # migrated, but the referential was never loaded
    result = run("Caen")
    assert result.exit_code == 2
    assert "référentiel" in result.stdout


def test_an_unknown_level_is_refused(warehouse):
    result = run("--json", "--niveau", "canton", "Caen")
    assert result.exit_code == 2 and "niveau inconnu" in result.stderr


# Every example of the brief, in ONE call: (input, status, codes or candidates that must be there).
EXAMPLES = [
    ("Ville de Caen", "resolved", ["COM-14118"]),
    ("Mairie d'Angers", "resolved", ["COM-49007"]),
    ("Mairie d’Angers", "resolved", ["COM-49007"]),
    ("CC des Monts du Pilat", "resolved", ["EPCI-244200622"]),
    ("Communauté de communes des Monts du Pilat", "resolved", ["EPCI-244200622"]),
    ("Métropole de Lyon", "resolved", ["EPCI-200046977"]),
    ("Grand Lyon", "resolved", ["EPCI-200046977"]),
    ("CA Val Parisis", "resolved", ["EPCI-200058485"]),
    ("Drôme (Département)", "resolved", ["DEP-26"]),
    ("Département de la Drôme", "resolved", ["DEP-26"]),
    ("Conseil départemental de la Manche", "resolved", ["DEP-50"]),
    ("Région Sud", "resolved", ["REG-93"]),
    ("Région Île-de-France", "resolved", ["REG-11"]),
    ("Landes, Nouvelle-Aquitaine, Occitanie", "resolved", ["DEP-40", "REG-75", "REG-76"]),
    ("France et territoires d'outre-mer", "resolved", ["PAYS-99100"]),
    ("France", "resolved", ["PAYS-99100"]),
    ("Monaco", "resolved", ["PAYS-99138"]),
    ("1004", "resolved", ["COM-01004"]),
    ("75101", "resolved", ["COM-75056"]),
    ("69381", "resolved", ["COM-69123"]),
    ("50602", "resolved", ["COM-50129"]),  # Tourlaville, commune déléguée of Cherbourg-en-Cotentin
    ("Tourlaville", "resolved", ["COM-50129"]),
    ("COM-975", "resolved", ["DEP-975"]),
    ("COM-2A004", "resolved", ["COM-2A004"]),
    ("Saint-Étienne", "resolved", ["COM-42218"]),
    ("saint etienne", "resolved", ["COM-42218"]),
    ("ST-ÉTIENNE", "resolved", ["COM-42218"]),
    ("Côte-d'Or", "resolved", ["DEP-21"]),
    ("cote d’or", "resolved", ["DEP-21"]),
    ("Saint-Denis (974)", "resolved", ["COM-97411"]),
    ("Saint-Denis", "ambiguous", ["COM-93066", "COM-97411"]),
    ("13001", "ambiguous", ["COM-13001", "COM-13055"]),
    ("Gironde, Atlantide", "unresolved", ["DEP-33"]),
]


@pytest.mark.registry
def test_every_example_resolves_in_one_call(real_warehouse):
    result = run("--json", *[text for text, _s, _c in EXAMPLES])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert [answer["query"] for answer in answers] == [text for text, _s, _c in EXAMPLES]
    wrong = []
    for (text, status, codes), answer in zip(EXAMPLES, answers, strict=True):
        assert set(answer) >= {"query", "status", "codes", "candidates", "reason", "flags"}
        if status == "resolved":
            ok = answer["status"] == "resolved" and answer["codes"] == codes
        else:
            ok = (
                answer["status"] == status
                and answer["codes"] == []
                and set(codes) <= set(answer["candidates"])
                and bool(answer["reason"])
            )
        if not ok:
            wrong.append(f"{text!r}: attendu {status} {codes}, obtenu {answer}")
    assert not wrong, "\n".join(wrong)
    by_query = {answer["query"]: answer for answer in answers}
    assert by_query["1004"]["flags"] == ["code_sans_zero"]
    assert "liste" in by_query["Landes, Nouvelle-Aquitaine, Occitanie"]["flags"]
    assert "Atlantide" in by_query["Gironde, Atlantide"]["reason"]


@pytest.mark.registry
def test_levels_and_context_options(real_warehouse):
    with connect_reader(real_warehouse) as conn:
        shared = sorted(
            f"COM-{c}"
            for (c,) in conn.execute("SELECT commune FROM ref_codes_postaux WHERE code_postal = '01400'").fetchall()
        )
    postal = json.loads(run("--json", "--niveau", "code_postal", "01400").stdout)
    assert postal[0]["status"] == "resolved" and postal[0]["codes"] == shared and len(shared) == 10
    assert "code_postal_partage" in postal[0]["flags"]
    commune = json.loads(run("--json", "--niveau", "commune", "13001").stdout)
    assert commune[0]["codes"] == ["COM-13001"]
    reunion = json.loads(run("--json", "--departement", "974", "Saint-Denis", "Sainte-Marie").stdout)
    assert reunion[0]["codes"] == ["COM-97411"] and "contexte" in reunion[0]["flags"]
    assert reunion[1]["codes"] == ["COM-97418"]
    paris = json.loads(run("--json", "--niveau", "departement", "Paris").stdout)
    assert paris[0]["codes"] == ["DEP-75"]


@pytest.mark.registry
def test_hundreds_of_inputs_in_one_call_keep_their_order(real_warehouse):
    with connect_reader(real_warehouse) as conn:
        rows = conn.execute("SELECT code, nom FROM ref_communes ORDER BY code DESC LIMIT 400").fetchall()
    inputs = [code for code, _nom in rows[:200]] + [f"COM-{code}" for code, _nom in rows[200:]]
    result = run("--json", "--niveau", "commune", *inputs)
    assert result.exit_code == 0
    answers = json.loads(result.stdout)
    assert [a["query"] for a in answers] == inputs
    assert [a["codes"] for a in answers] == [[f"COM-{code}"] for code, _nom in rows]


@pytest.mark.registry
def test_inputs_from_standard_input(real_warehouse):
    result = run("--json", "Ville de Caen", "-", input="Mairie d'Angers\n\nRégion Sud\n")
    assert result.exit_code == 0
    assert [a["codes"] for a in json.loads(result.stdout)] == [["COM-14118"], ["COM-49007"], ["REG-93"]]


@pytest.mark.registry
def test_without_json_a_readable_table(real_warehouse):
    result = run("Ville de Caen", "Saint-Denis")
    assert result.exit_code == 0
    assert "Résolution géographique" in result.stdout
    assert "COM-14118" in result.stdout and "résolu" in result.stdout and "ambigu" in result.stdout
    assert "COM-97411" in result.stdout
