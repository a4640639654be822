"""Stable ids: run after run, each catalogue entry keeps its UUID through title edits,
renamed records, new sources, merges, splits and absences; every change is an event."""

from __future__ import annotations

import datetime as dt
import uuid

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warehouse.db import connect_writer
from warehouse.normalise.dedup import find_duplicates
from warehouse.normalise.identity import assign_ids
from warehouse.settings import WarehousePaths

COLUMNS = {
    "record_key": pl.Utf8,
    "cluster_key": pl.Utf8,
    "source": pl.Utf8,
    "titre": pl.Utf8,
    "url": pl.Utf8,
    "geo_key": pl.Utf8,
}


def day(n: int) -> dt.datetime:
    return dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(days=n)


def rec(key: str, titre: str, cluster: str | None = None, url: str | None = None, geo: str | None = "REG-11") -> dict:
    return {
        "record_key": key,
        "cluster_key": cluster or key,
        "source": key.split(":", 1)[0],
        "titre": titre,
        "url": url,
        "geo_key": geo,
    }


@pytest.fixture
def conn(warehouse: WarehousePaths):
    with connect_writer(warehouse) as connection:
        yield connection


def run(conn, rows: list[dict], n: int) -> dict[str, str]:
    """One pipeline run: the caller's transaction around assign_ids; record_key → aid_id."""
    clusters = pl.DataFrame(rows, schema=COLUMNS)
    conn.execute("BEGIN TRANSACTION")
    ids = assign_ids(conn, clusters, now=day(n))
    conn.execute("COMMIT")
    assert ids.columns == ["cluster_key", "aid_id"]
    assert sorted(ids["cluster_key"].to_list()) == sorted(clusters["cluster_key"].unique().to_list())
    assert ids["aid_id"].n_unique() == ids.height  # one id per cluster, never shared
    assert all(uuid.UUID(value).version == 4 for value in ids["aid_id"])
    by_cluster = dict(zip(ids["cluster_key"], ids["aid_id"], strict=False))
    return {row["record_key"]: by_cluster[row["cluster_key"]] for row in rows}


def events(conn, n: int | None = None) -> list[tuple]:
    where = "" if n is None else "WHERE event_at = ?"
    params = [] if n is None else [day(n)]
    return conn.execute(
        f"SELECT kind, aid_id::VARCHAR, other_aid_id::VARCHAR, record_key, detail FROM id_events {where} "
        "ORDER BY kind, record_key, aid_id",
        params,
    ).fetchall()


CHEQUE = rec("region-ile-de-france:1", "Chèque vert", url="https://www.iledefrance.fr/aides/cheque-vert")
VELO = rec("region-ile-de-france:2", "Prime vélo", url="https://www.iledefrance.fr/aides/prime-velo")


def test_two_runs_in_a_row_give_the_same_ids(conn):
    first = run(conn, [CHEQUE, VELO], 0)
    assert [e[0] for e in events(conn, 0)] == ["création", "création"]
    assert run(conn, [CHEQUE, VELO], 1) == first
    assert events(conn, 1) == []
    rows = conn.execute("SELECT record_key, first_seen, last_seen, active FROM id_map ORDER BY 1").fetchall()
    assert [(r[0], r[1] == day(0), r[2] == day(1), r[3]) for r in rows] == [
        (CHEQUE["record_key"], True, True, True),
        (VELO["record_key"], True, True, True),
    ]


def test_a_title_edit_keeps_the_id(conn):
    first = run(conn, [CHEQUE], 0)
    edited = dict(
        CHEQUE, titre="Chèque vert 2026 : nouvelles conditions", url="https://www.iledefrance.fr/cheque-vert-2026"
    )
    assert run(conn, [edited], 1) == first
    assert conn.execute("SELECT titre_norm FROM id_map").fetchone()[0] == "cheque vert 2026 nouvelle condition"


def test_a_source_renaming_its_records_keeps_their_ids(conn):
    """The region renumbers its aids: same page for one, same title and territory for the other."""
    first = run(conn, [CHEQUE, VELO], 0)
    renamed_by_page = rec(
        "region-ile-de-france:A1", "Le chèque vert régional", url="http://iledefrance.fr/aides/cheque-vert/"
    )
    renamed_by_title = rec("region-ile-de-france:A2", "Prime vélo", url="https://www.iledefrance.fr/nouveau-site/velo")
    second = run(conn, [renamed_by_page, renamed_by_title], 1)
    assert second[renamed_by_page["record_key"]] == first[CHEQUE["record_key"]]
    assert second[renamed_by_title["record_key"]] == first[VELO["record_key"]]
    assert events(conn, 1) == [
        ("disparition", first[CHEQUE["record_key"]], None, CHEQUE["record_key"], None),
        ("disparition", first[VELO["record_key"]], None, VELO["record_key"], None),
        (
            "rattachement",
            first[CHEQUE["record_key"]],
            None,
            "region-ile-de-france:A1",
            "remplace region-ile-de-france:1 (même page)",
        ),
        (
            "rattachement",
            first[VELO["record_key"]],
            None,
            "region-ile-de-france:A2",
            "remplace region-ile-de-france:2 (même titre et même territoire)",
        ),
    ]
    # and from then on the new records are the link
    assert run(conn, [renamed_by_page, renamed_by_title], 2) == second


def test_no_rattachement_across_sources_territories_or_home_pages(conn):
    home = rec("ville-caen:1", "Aide vélo", url="https://caen.fr/", geo="COM-14118")
    first = run(conn, [home, rec("ville-caen:2", "Composteurs", geo="COM-14118")], 0)
    later = [
        rec("ville-caen:9", "Aide au covoiturage", url="https://www.caen.fr", geo="COM-14118"),  # same home page only
        rec("ville-caen:10", "Composteurs", geo="COM-49007"),  # same title, another territory
        rec("aides-territoires:1", "Aide vélo", url="https://caen.fr/", geo="COM-14118"),  # another source
    ]
    second = run(conn, later, 1)
    assert not set(second.values()) & set(first.values())
    assert [e[0] for e in events(conn, 1)].count("création") == 3


def test_a_new_source_reporting_the_same_aid_keeps_the_existing_id(conn):
    first = run(conn, [CHEQUE, VELO], 0)
    copy = rec("aides-territoires:77", "Chèque vert (Île-de-France)", cluster=CHEQUE["record_key"])
    second = run(conn, [CHEQUE, copy, VELO], 1)
    assert second[copy["record_key"]] == second[CHEQUE["record_key"]] == first[CHEQUE["record_key"]]
    assert events(conn, 1) == []
    # even when the new source's record becomes the representative
    led_by_copy = [dict(CHEQUE, cluster_key=copy["record_key"]), dict(copy, cluster_key=copy["record_key"]), VELO]
    third = run(conn, led_by_copy, 2)
    assert third == second


def test_a_merge_keeps_the_oldest_id_and_records_a_fusion(conn):
    older = run(conn, [CHEQUE], 0)[CHEQUE["record_key"]]
    copy = rec("aides-territoires:77", "Chèque vert (Île-de-France)")
    gone = rec("aides-territoires:78", "Chèque vert, ancienne fiche", cluster=copy["record_key"])
    newer = run(conn, [CHEQUE, copy, gone], 1)[gone["record_key"]]
    run(conn, [CHEQUE, copy], 2)  # aides-territoires:78 vanishes, still mapped to `newer`
    assert older != newer
    # dedup now sees that the copy is the region's aid
    merged = run(conn, [CHEQUE, dict(copy, cluster_key=CHEQUE["record_key"])], 3)
    assert set(merged.values()) == {older}
    assert events(conn, 3) == [("fusion", older, newer, None, f"{newer} absorbé par {older}")]
    # every record of the absorbed aid, present or not, now points to the kept one
    assert conn.execute("SELECT count(*) FROM id_map WHERE aid_id = ?::UUID", [newer]).fetchone()[0] == 0
    absent = conn.execute("SELECT aid_id::VARCHAR, active FROM id_map WHERE record_key = ?", [gone["record_key"]])
    assert absent.fetchone() == (older, False)
    # so when that record comes back with them, it is in the kept aid
    together = [CHEQUE, dict(copy, cluster_key=CHEQUE["record_key"]), dict(gone, cluster_key=CHEQUE["record_key"])]
    assert set(run(conn, together, 4).values()) == {older}
    assert events(conn, 4) == [("réapparition", older, None, gone["record_key"], None)]


def test_the_oldest_id_wins_whatever_the_cluster_representative(conn):
    older = run(conn, [VELO], 0)[VELO["record_key"]]
    copy = rec("aides-territoires:5", "Prime vélo régionale")
    newer = run(conn, [VELO, copy], 1)[copy["record_key"]]
    merged = run(conn, [dict(VELO, cluster_key=copy["record_key"]), copy], 2)
    assert set(merged.values()) == {older} and older != newer


def test_a_split_gets_a_new_id_and_records_a_scission(conn):
    copy = rec("aides-territoires:77", "Chèque vert", cluster=CHEQUE["record_key"])
    first = run(conn, [CHEQUE, copy], 0)
    kept = first[CHEQUE["record_key"]]
    assert first[copy["record_key"]] == kept
    second = run(conn, [CHEQUE, dict(copy, cluster_key=copy["record_key"])], 1)
    assert second[CHEQUE["record_key"]] == kept
    split_id = second[copy["record_key"]]
    assert split_id != kept
    assert events(conn, 1) == [
        ("scission", split_id, kept, copy["record_key"], f"séparé de {kept} : nouvel identifiant")
    ]
    assert run(conn, [CHEQUE, dict(copy, cluster_key=copy["record_key"])], 2) == second


def test_an_aid_listed_as_parts_under_its_former_id_keeps_its_id_on_the_first_part(conn):
    first = run(conn, [rec("reno:aides locales . essonne", "Essonne", geo="DEP-91")], 0)
    parts = ["reno:aides locales . essonne . gros travaux", "reno:aides locales . essonne . travaux essentiels"]
    second = run(
        conn, [rec(parts[0], "Gros travaux", geo="DEP-91"), rec(parts[1], "Travaux essentiels", geo="DEP-91")], 1
    )
    assert second[parts[0]] == first["reno:aides locales . essonne"]
    assert second[parts[1]] != first["reno:aides locales . essonne"]
    assert [(e[0], e[3], e[4]) for e in events(conn, 1) if e[0] == "rattachement"] == [
        ("rattachement", parts[0], "remplace reno:aides locales . essonne (partie de l'ancienne fiche)")
    ]
    # a key that merely starts like another is no part of it
    run(conn, [rec("reno:aides locales . cher", "Cher", geo="DEP-18")], 2)
    third = run(conn, [rec("reno:aides locales . cher-nord", "Cher nord", geo="DEP-18")], 3)
    assert third["reno:aides locales . cher-nord"] not in first.values()


def test_a_split_leaves_the_id_with_the_oldest_record(conn):
    """The aid's first record is the copy; the region's record joined it later: the copy's
    cluster keeps the id, even though the region's record is the other representative."""
    copy = rec("aides-territoires:77", "Chèque vert")
    first = run(conn, [copy], 0)[copy["record_key"]]
    run(conn, [dict(CHEQUE, cluster_key=copy["record_key"]), copy], 1)
    second = run(conn, [CHEQUE, copy], 2)
    assert second[copy["record_key"]] == first != second[CHEQUE["record_key"]]


def test_a_wrong_merge_undone_gives_the_absorbed_id_back(conn):
    copy = rec("aides-territoires:77", "Chèque vert")
    first = run(conn, [CHEQUE, copy], 0)
    run(conn, [CHEQUE, dict(copy, cluster_key=CHEQUE["record_key"])], 1)  # merged: copy's id absorbed
    undone = run(conn, [CHEQUE, copy], 2)
    assert undone == first
    scission = [e for e in events(conn, 2) if e[0] == "scission"]
    assert scission == [
        (
            "scission",
            first[copy["record_key"]],
            first[CHEQUE["record_key"]],
            copy["record_key"],
            f"séparé de {first[CHEQUE['record_key']]} : identifiant d'origine rendu",
        )
    ]


def test_a_vanished_record_comes_back_with_its_old_id(conn):
    first = run(conn, [CHEQUE, VELO], 0)
    run(conn, [CHEQUE], 1)
    assert events(conn, 1) == [("disparition", first[VELO["record_key"]], None, VELO["record_key"], None)]
    assert conn.execute("SELECT active FROM id_map WHERE record_key = ?", [VELO["record_key"]]).fetchone() == (False,)
    run(conn, [CHEQUE], 2)
    assert events(conn, 2) == []  # one disparition, not one per run
    back = run(conn, [CHEQUE, VELO], 3)
    assert back == first
    assert events(conn, 3) == [("réapparition", first[VELO["record_key"]], None, VELO["record_key"], None)]
    assert conn.execute("SELECT count(*) FROM id_map").fetchone()[0] == 2  # never deleted


def test_nothing_is_committed_by_assign_ids(conn):
    run(conn, [CHEQUE], 0)
    conn.execute("BEGIN TRANSACTION")
    assign_ids(conn, pl.DataFrame([VELO], schema=COLUMNS), now=day(1))
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT record_key, active FROM id_map").fetchall() == [(CHEQUE["record_key"], True)]
    assert [e[0] for e in events(conn)] == ["création"]


def test_input_is_checked(conn):
    with pytest.raises(ValueError, match="en double"):
        assign_ids(conn, pl.DataFrame([CHEQUE, CHEQUE], schema=COLUMNS))
    with pytest.raises(ValueError, match="colonnes manquantes"):
        assign_ids(conn, pl.DataFrame({"record_key": ["a:1"]}))
    empty = assign_ids(conn, pl.DataFrame(schema=COLUMNS))
    assert empty.is_empty()


def test_with_dedup_ids_survive_a_new_source_and_a_retitling(conn):
    def catalogue(*records: dict) -> list[dict]:
        frame = pl.DataFrame(
            [
                {
                    **r,
                    "precedence": r.get("precedence", 50),
                    "porteurs": r.get("porteurs", []),
                    "date_ouverture": None,
                    "date_cloture": None,
                }
                for r in records
            ],
            schema={
                "record_key": pl.Utf8,
                "source": pl.Utf8,
                "precedence": pl.Int64,
                "titre": pl.Utf8,
                "porteurs": pl.List(pl.Utf8),
                "geo_key": pl.Utf8,
                "url": pl.Utf8,
                "date_ouverture": pl.Date,
                "date_cloture": pl.Date,
            },
        )
        clusters = find_duplicates(frame).clusters.join(
            frame.select("record_key", "source", "titre", "url", "geo_key"), on="record_key"
        )
        return clusters.to_dicts()

    region = {
        "record_key": "region-ile-de-france:1",
        "source": "region-ile-de-france",
        "precedence": 60,
        "titre": "Chèque vert",
        "geo_key": "REG-11",
        "url": "https://www.iledefrance.fr/aides/cheque-vert",
    }
    velo = {
        "record_key": "region-ile-de-france:2",
        "source": "region-ile-de-france",
        "precedence": 60,
        "titre": "Prime vélo",
        "geo_key": "REG-11",
        "url": "https://www.iledefrance.fr/aides/prime-velo",
    }
    first = run(conn, catalogue(region, velo), 0)
    copy = {
        "record_key": "aides-territoires:9",
        "source": "aides-territoires",
        "precedence": 40,
        "titre": "Chèque vert pour les Franciliens",
        "geo_key": "REG-11",
        "url": "http://iledefrance.fr/aides/cheque-vert?utm_source=at",
    }
    second = run(conn, catalogue(region, velo, copy), 1)
    assert second[copy["record_key"]] == second[region["record_key"]] == first[region["record_key"]]
    retitled = dict(region, titre="Chèque vert francilien")
    assert run(conn, catalogue(retitled, velo, copy), 2) == second


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(st.lists(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 3)), max_size=8), min_size=1, max_size=4))
def test_any_sequence_of_runs_keeps_ids_unique_and_unchanged_clusters_stable(tmp_path_factory, runs):
    """Records 0–7 grouped at random into clusters 0–3, run after run: every cluster gets one
    id of its own, and a cluster identical to the previous run's keeps its id when none of
    the aids its records carried is claimed elsewhere."""
    with connect_writer(WarehousePaths(tmp_path_factory.mktemp("ids"))) as connection:
        previous_members: dict[str, frozenset] = {}
        for n, assignment in enumerate(runs):
            previous = dict(connection.execute("SELECT record_key, aid_id::VARCHAR FROM id_map").fetchall())
            members: dict[int, int] = dict(assignment)  # record → cluster (last wins)
            rows = [
                rec(
                    f"s{r % 2}:{r}",
                    f"Aide {r}",
                    cluster=f"s{min(k for k, c in members.items() if c == cl) % 2}:"
                    f"{min(k for k, c in members.items() if c == cl)}",
                )
                for r, cl in members.items()
            ]
            ids = run(connection, rows, n)
            clusters: dict[str, frozenset] = {}
            for row in rows:
                clusters[row["cluster_key"]] = clusters.get(row["cluster_key"], frozenset()) | {row["record_key"]}
            for key, recs in clusters.items():
                old_ids = {previous[r] for r in recs if r in previous}
                others = {previous[r] for k, rs in clusters.items() if k != key for r in rs if r in previous}
                if recs in previous_members.values() and len(old_ids) == 1 and not old_ids & others:
                    assert {ids[r] for r in recs} == old_ids
            previous_members = clusters
