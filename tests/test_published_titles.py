"""Published titles say what the aid is (needs the registry: the COG and the npm models).

Built from every recorded source as ``make run`` builds them (tests/golden_release.py): no
title is a bare publisher or territory name, none keeps Markdown, and no two aids of one
territory share one.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
from golden_release import build

pytestmark = pytest.mark.registry

_MARKDOWN = re.compile(r"\*\*|__|`|\[[^\]]+\]\([^)]+\)")


@pytest.fixture(scope="module")
def published(tmp_path_factory, referential_package):
    tmp = tmp_path_factory.mktemp("titres")
    build(tmp, referential_package)
    release = next((tmp / "warehouse" / "exports" / "releases").iterdir())
    with open(release / "aides.csv", encoding="utf-8", newline="") as handle:
        return tmp, list(csv.DictReader(handle))


def test_no_title_is_a_bare_publisher_or_territory_name(published):
    from warehouse.db import connect_reader
    from warehouse.normalise.geography import GeoResolver
    from warehouse.settings import WarehousePaths

    tmp, rows = published
    with connect_reader(WarehousePaths(tmp / "warehouse")) as conn:
        resolver = GeoResolver.from_warehouse(conn)
    bare = []
    for row in rows:
        porteurs = {p["nom"] for p in json.loads(row["porteurs"])}
        if row["titre"] in porteurs or resolver.resolve(row["titre"]).status == "resolved":
            bare.append(row["titre"])
    assert bare == []
    assert len(rows) > 300


def test_no_title_keeps_markdown(published):
    _, rows = published
    assert [row["titre"] for row in rows if _MARKDOWN.search(row["titre"])] == []


def test_no_two_aids_of_one_territory_share_a_title(published):
    _, rows = published
    seen: dict[tuple[str, str, str], str] = {}
    shared = []
    for row in rows:
        key = (row["eligibilite_geographique"], row["eligibilite_geographique_exclusions"], row["titre"])
        if key in seen:
            shared.append(row["titre"])
        seen[key] = row["id"]
    assert shared == []


def test_every_mes_aides_reno_aid_is_published_with_an_amount_or_a_rate(published):
    _, rows = published
    reno = [row for row in rows if "mesaidesreno" in row["sources"].split("|")]
    assert len(reno) == 21  # 10 national aids and 11 local ones in 2.3.1 (Rennes is switched off)
    without = [row["titre"] for row in reno if not (row["montant_max"] or row["taux_max"])]
    # the property-tax exemption states its rates (50 % or 100 %, voted locally) only in prose
    assert without == ["Exonération de taxe foncière"]
    assert not any("Mes Aides Réno" in row["porteurs"] for row in reno)
