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

[source.config]
list_url = "https://exemple.fr/aides"
item_selector = "article"
link_selector = "a@href"
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
        (ENTRY.replace("[source.config]", 'colour = "red"\n[source.config]'), "champs inconnus : colour"),
        (ENTRY + 'item_selecter = "li"\n', r"\(ville-test\) : configuration invalide : clé inconnue : item_selecter"),
        (ENTRY.replace('"html_scraper"', '"html_scrapper"'), "adaptateur 'html_scrapper' introuvable"),
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


def test_a_deployment_declares_its_own_sources_in_a_folder_named_by_the_environment(tmp_path, monkeypatch):
    own = tmp_path / "sources"
    own.mkdir()
    (own / "ville.toml").write_text(ENTRY, encoding="utf-8")
    monkeypatch.setenv("AIDES_SOURCES_DIR", str(own))
    names = [spec.name for spec in load_specs()]
    assert "ville-test" in names and "aides-velo" in names  # the repository's sources stay
    (own / "double.toml").write_text(ENTRY.replace("ville-test", "aides-velo"), encoding="utf-8")
    with pytest.raises(
        SourceConfigError, match=r"double\.toml, source n° 1 : la source 'aides-velo' est déjà déclarée"
    ):
        load_specs()
    monkeypatch.setenv("AIDES_SOURCES_DIR", str(tmp_path / "absent"))
    with pytest.raises(SourceConfigError, match="AIDES_SOURCES_DIR=.*absent : dossier introuvable"):
        load_specs()
