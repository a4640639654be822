"""Declarative source entries: complete, unique, and each pointing at a real adapter."""

from __future__ import annotations

import importlib

import pytest

from sources.registry import SourceConfigError, fetch_policy, load_specs

ENTRY = """
[[source]]
name = "ville-test"
adapter = "html_scraper"
level = "commune"
publisher = "Ville de Test"
licence = "etalab-2.0"
homepage = "https://exemple.fr"
transport = "http"
schedule = "0 4 * * *"
"""


def test_every_declared_source_is_complete_and_has_its_adapter():
    specs = load_specs()
    assert len({spec.name for spec in specs}) == len(specs)
    for spec in specs:
        module = importlib.import_module(f"sources.adapters.{spec.adapter}")
        assert callable(module.collect) and callable(module.parse), spec.name
        assert spec.transport in {"npm", "http", "local"}


def test_entries_are_read_from_every_file_of_the_folder(tmp_path):
    (tmp_path / "a.toml").write_text(ENTRY, encoding="utf-8")
    (tmp_path / "b.toml").write_text(ENTRY.replace("ville-test", "ville-autre"), encoding="utf-8")
    assert [spec.name for spec in load_specs(tmp_path)] == ["ville-autre", "ville-test"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ENTRY.replace('level = "commune"\n', ""), r"a\.toml, source n° 1 : champs manquants : level"),
        (ENTRY.replace('"ville-test"', '"Ville Test"'), "nom 'Ville Test' invalide"),
        (ENTRY.replace('"commune"', '"canton"'), "niveau 'canton' inconnu"),
        (ENTRY + ENTRY, "déjà déclarée"),
        (ENTRY + 'colour = "red"\n', "champs inconnus : colour"),
        ("[[source]\n", "TOML invalide"),
    ],
)
def test_a_wrong_entry_is_refused_naming_file_and_entry(tmp_path, text, message):
    (tmp_path / "a.toml").write_text(text, encoding="utf-8")
    with pytest.raises(SourceConfigError, match=message):
        load_specs(tmp_path)


def test_user_agent_names_the_project_and_a_contact_url():
    policy = fetch_policy()
    assert policy.user_agent.startswith("catalogue-aides-transition-ecologique/")
    assert "(+https://" in policy.user_agent
