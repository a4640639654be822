"""`aides lookup`: the aids of a commune, from the latest release only."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from aides_cli.main import app
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.lookup import SUMMARY_COLUMNS, CatalogueIndex, UnknownCommuneError, current_commune, lookup

AIDES = pl.DataFrame(
    {
        "id": ["a-velo", "a-clos", "a-region", "a-autre"],
        "titre": ["Aide vélo", "Ancienne aide", "Aide régionale", "Aide ailleurs"],
        "echelle": ["commune", "commune", "region", "commune"],
        "statut": ["ouverte", "clôturée", "permanente", "ouverte"],
        "eligibilite_geographique": ["COM-49007", "COM-49007", "REG-52", "COM-14118"],
        "sources": ["ville-angers", "ville-angers", "region-pays-de-la-loire", "ville-caen"],
    }
)
PAIRS = pl.DataFrame(
    {
        "commune": ["49007", "49007", "49007", "14118", "49015"],
        "aid_id": ["a-velo", "a-clos", "a-region", "a-autre", "a-region"],
        "statut": ["ouverte", "clôturée", "permanente", "ouverte", "permanente"],
    }
)


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
    assert {a["id"] for a in lookup(index, "49007", None, include_closed=True).aides} == {
        "a-velo",
        "a-clos",
        "a-region",
    }
    assert index.aid_ids("49015") == ["a-region"]


def test_unknown_code_is_an_error(release):
    with pytest.raises(UnknownCommuneError):
        lookup(CatalogueIndex(release), "99999", None)


def test_codes_are_taken_to_their_one_current_commune_by_the_geography_resolver():
    resolver = GeoResolver(
        communes=[
            ("75056", "Paris", "217500016", "75", "11"),
            ("01001", "Une", None, "01", "84"),
            ("01002", "Deux", None, "01", "84"),
        ],
        rattachees=[
            ("75108", "Paris 8e Arrondissement", "arrondissement-municipal", "75056"),
            ("01500", "Déléguée", "commune-deleguee", "01001"),
            ("01510", "Associée", "commune-associee", "01001"),
            ("01700", "Partagée", "ancien-code", "01001"),  # split between two communes
            ("01700", "Partagée", "ancien-code", "01002"),
            ("01800", "Deux fois", "commune-deleguee", "01002"),  # two rows, one commune
            ("01800", "Deux fois", "ancien-code", "01002"),
        ],
        codes_postaux=[],
        epci=[],
        epci_membres=[],
        departements=[],
        regions=[],
        pays=[],
        aliases=[],
    )
    codes = ["75056", "com-75108", " 75108 ", "1500", "01510", "01700", "01800", "99999", ""]
    assert {code: current_commune(code, None, resolver) for code in codes} == {
        "75056": "75056",
        "com-75108": "75056",
        " 75108 ": "75056",
        "1500": "01001",
        "01510": "01001",
        "01700": None,
        "01800": "01002",
        "99999": None,
        "": None,
    }
    assert current_commune("1500", None) == "01500"  # no referential: the normalised code itself


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


# -- the compact index answers exactly as the plain one did -----------------------------------


def _reference_index(release):
    """The index as it was first written (a sorted list of id strings, dicts, a polars sort per
    call): the answers the compact index must give, order included."""
    pairs = pl.read_parquet(release / "aides-communes.parquet", columns=["commune", "aid_id"]).sort("commune", "aid_id")
    communes = pairs.get_column("commune").to_list()
    ids = pairs.get_column("aid_id").to_list()
    aides = pl.read_parquet(release / "aides.parquet")
    position = {aid_id: i for i, aid_id in enumerate(aides.get_column("id").to_list())}
    statut = aides.get_column("statut").to_list()

    def aid_ids(commune, include_closed=False):
        found = [i for c, i in zip(communes, ids, strict=False) if c == commune]
        return found if include_closed else [i for i in found if statut[position[i]] in ("ouverte", "permanente")]

    def summaries(wanted):
        rows = aides[[position[i] for i in wanted]]
        return (
            rows.select([c for c in SUMMARY_COLUMNS if c in rows.columns]).sort(["echelle", "titre", "id"]).to_dicts()
        )

    return set(communes), aid_ids, summaries


def _reference_current_commune(code, conn):
    code = code.strip().upper().removeprefix("COM-")
    if len(code) == 4 and code.isdigit():
        code = "0" + code
    if conn is None:
        return code
    if conn.execute("SELECT 1 FROM ref_communes WHERE code = ?", [code]).fetchall():
        return code
    rows = conn.execute(
        "SELECT min(commune), count(DISTINCT commune) FROM ref_communes_rattachees WHERE code = ?", [code]
    ).fetchall()
    return rows[0][0] if rows[0][1] == 1 else None


def _synthetic_release(folder, seed, sort_pairs):
    """Aids with many (échelle, titre) ties and nulls, every status, Paris dates; pairs over 40
    communes in several row groups (in the publisher's order, or shuffled)."""
    import datetime as dt
    import random

    rng = random.Random(seed)
    n = 400
    ids = [f"{rng.getrandbits(64):016x}-{i:03d}" for i in range(n)]
    ids[7] = ids[3]  # a duplicated id: its last row describes it
    day = dt.datetime(2026, 1, 1)
    aides = pl.DataFrame(
        {
            "id": ids,
            "titre": [rng.choice(["Aide vélo", "Aide à l'isolation", "Éco-chèque", "aide vélo", None]) for _ in ids],
            "description": ["texte long"] * n,
            "echelle": [rng.choice(["commune", "epci", "departement", "region", "national", None]) for _ in ids],
            "statut": [rng.choice(["ouverte", "permanente", "clôturée", "à venir", None]) for _ in ids],
            "porteurs": [rng.choice(["ADEME", "Ville", None]) for _ in ids],
            "date_ouverture": [
                day + dt.timedelta(days=rng.randrange(400)) if rng.random() < 0.7 else None for _ in ids
            ],
            "date_cloture": [None] * n,
            "url_source": [f"https://example.org/{i}" for i in range(n)],
            "eligibilite_geographique": ["PAYS-99100"] * n,
            "sources": [rng.choice(["a", "b|c"]) for _ in ids],
        }
    ).with_columns(
        pl.col("date_ouverture", "date_cloture").cast(pl.Datetime("us")).dt.replace_time_zone("Europe/Paris")
    )
    communes = ["2A004", "75056", "69123", "49007", *[f"{d:02d}{i:03d}" for d in (1, 14, 33) for i in range(1, 13)]]
    pairs = []
    unique_ids = sorted(set(ids))
    for commune in communes:
        pairs += [(commune, i) for i in unique_ids if rng.random() < 0.5]
    frame = pl.DataFrame(pairs, schema=["commune", "aid_id"], orient="row")
    frame = frame.sort("commune", "aid_id") if sort_pairs else frame.sample(fraction=1.0, shuffle=True, seed=seed)
    folder.mkdir(parents=True)
    aides.write_parquet(folder / "aides.parquet")
    frame.write_parquet(folder / "aides-communes.parquet", row_group_size=700)
    return communes


@pytest.mark.parametrize("sort_pairs", [True, False], ids=["publisher-order", "any-order"])
def test_compact_index_answers_exactly_as_the_plain_one(warehouse, monkeypatch, sort_pairs):
    import random

    from warehouse.db import connect_reader, connect_writer
    from warehouse.publication import lookup as module

    release = warehouse.exports_dir / "releases" / "synthetic"
    communes = _synthetic_release(release, 8, sort_pairs)
    if sort_pairs:  # the publisher's file is read through its dictionaries, never the general way
        monkeypatch.setattr(module, "_read_any_pairs", lambda *a: pytest.fail("general path taken"))
    with connect_writer(warehouse) as conn:
        conn.executemany(
            "INSERT INTO ref_communes (code, nom, departement, region, zone, codes_postaux) VALUES (?, ?, ?, ?, 'metro', [])",
            [(c, c, c[:2], "00") for c in [*communes, "01999"]],
        )  # 01999: in the referential, covered by no aid
        conn.executemany(
            "INSERT INTO ref_communes_rattachees VALUES (?, ?, ?, ?)",
            [
                ("75108", "Paris 8e", "arrondissement-municipal", "75056"),
                ("69381", "Lyon 1er", "arrondissement-municipal", "69123"),
                ("49007", "Angers", "commune-deleguee", "49007"),  # shares its code with its commune
                ("01500", "Déléguée", "commune-deleguee", "01001"),
                ("01600", "Ancienne", "ancien-code", "01001"),
                ("01700", "Partagée", "ancien-code", "01001"),  # split between two communes: ambiguous
                ("01700", "Partagée", "ancien-code", "01002"),
            ],
        )
    index = CatalogueIndex(release)
    known, aid_ids, summaries = _reference_index(release)
    codes = [
        *communes,
        "01999",
        "75108",
        "COM-69381",
        " 49007 ",
        "1500",
        "01600",
        "01700",
        "2a004",
        "com-2A004",
        "1001",
        "99999",
        "",
        "ABC",
    ]

    def reference(code, conn, include_closed):
        commune = _reference_current_commune(code, conn)
        if commune is None or (conn is None and commune not in known):
            return "unknown"
        return commune, code, summaries(aid_ids(commune, include_closed))

    def answer(code, conn, include_closed):
        try:
            got = lookup(index, code, conn, include_closed=include_closed)
        except UnknownCommuneError:
            return "unknown"
        return got.commune, got.requested, got.aides

    with connect_reader(warehouse) as conn:  # read-only: the referential is held in memory after one call
        for _ in range(2):
            for code in codes:
                for include_closed in (False, True):
                    assert answer(code, conn, include_closed) == reference(code, conn, include_closed), code
                    assert answer(code, None, include_closed) == reference(code, None, include_closed), code
                    assert index.aid_ids(code, include_closed) == aid_ids(code, include_closed)
        assert isinstance(module._resolver_for(conn), GeoResolver)  # the geography module's, held once
        held = GeoResolver.from_warehouse(conn)  # as the web application passes its own
        for code in codes:
            assert current_commune(code, None, held) == _reference_current_commune(code, conn), code
    with connect_writer(warehouse) as conn:  # writable: asked every time, and sees a new code at once
        assert answer("01800", conn, True) == "unknown"
        conn.execute("INSERT INTO ref_communes_rattachees VALUES ('01800', 'Nouvelle', 'ancien-code', '01002')")
        assert answer("01800", conn, True) == reference("01800", conn, True) != "unknown"
    rng = random.Random(1)
    everything = aid_ids("75056", include_closed=True)
    for _ in range(20):  # any ids, in any order, repeated
        wanted = rng.choices(everything, k=rng.randrange(1, 60))
        assert index.summaries(wanted) == summaries(wanted)
    assert index.summaries([]) == []
    with pytest.raises(KeyError):
        index.summaries([everything[0], "not-an-aid"])
    # the summaries handed out are the caller's own: changing one changes no later answer
    index.summaries(everything)[0]["titre"] = "changed"
    assert index.summaries(everything) == summaries(everything)
