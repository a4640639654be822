"""Issue 16, point 2: a search that finds what people type, on the real COG referential."""

from __future__ import annotations

import pytest
from warehouse_test_helpers import warehouse_with_referential

from warehouse.db import connect_reader
from warehouse.normalise.geography import GeoResolver
from webapp.queries import search_territory
from webapp.territory_search import TerritoryIndex

pytestmark = pytest.mark.registry


@pytest.fixture(scope="module")
def search(referential_package, tmp_path_factory):
    paths = warehouse_with_referential(tmp_path_factory.mktemp("search"), referential_package)
    with connect_reader(paths) as conn:
        resolver, names = GeoResolver.from_warehouse(conn), TerritoryIndex.from_warehouse(conn)
    return lambda text: search_territory(resolver, text, names)


def test_a_prefix_finds_the_commune_people_mean(search) -> None:
    answer = search("Cherbourg")
    assert answer.status == "resolved" and answer.single.code == "COM-50129"  # Cherbourg-en-Cotentin
    assert search("cherbourg en cotentin").single.code == "COM-50129"


def test_homonyms_are_listed_by_population_with_their_departement_never_chosen_silently(search) -> None:
    evry = search("Evry")
    assert evry.status == "ambiguous" and evry.single is None
    assert evry.candidates[0].code == "COM-91228" and "Essonne" in evry.candidates[0].label  # Évry-Courcouronnes
    assert "COM-89162" in [c.code for c in evry.candidates]  # the village of the Yonne, listed too
    assert search("Évry").candidates[0].code == "COM-91228"
    saint_denis = search("St-Denis")
    codes = [c.code for c in saint_denis.candidates]
    assert codes[:2] == ["COM-97411", "COM-93066"] and len(codes) == len(set(codes))
    assert "Seine-Saint-Denis" in saint_denis.candidates[1].label


def test_a_paris_postal_code_gives_paris_first_not_a_former_seine_commune(search) -> None:
    answer = search("75011")
    assert answer.candidates[0].code == "COM-75056"
    assert len({c.code for c in answer.candidates}) == len(answer.candidates)


def test_arrondissements_are_named_and_listed_once(search) -> None:
    marseille = search("Marseille 13")
    assert marseille.status == "resolved" and marseille.single.code == "COM-13055"
    assert "13e Arrondissement" in marseille.single.label


def test_a_misspelt_name_proposes_the_closest_and_messages_are_plain_french(search) -> None:
    answer = search("Bordeux")
    assert answer.status == "ambiguous" and answer.candidates[0].code == "COM-33063"
    assert answer.message.startswith("Aucun territoire ne s'appelle « Bordeux »")
    unknown = search("Zzzzyx")
    assert unknown.status == "unresolved" and "niveau" not in unknown.message and "code_postal" not in unknown.message
