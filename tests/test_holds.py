"""Held changes are per payload: each has an id and its evidence, and is accepted by that id alone."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from aides_cli.main import app
from sources.ingest import IngestOutcome, IngestStatus
from sources.record import AidRecord, ParseResult
from warehouse.db import connect_writer, migrate, migration_files
from warehouse.holds import (
    HoldError,
    acknowledge_hold,
    get_hold,
    hold_id_for,
    list_holds,
    normalise_hold_id,
    pending_holds,
    refuse_hold,
)
from warehouse.ingestion import SourceRunLine, store_outcome

SOURCE = "ville-test"
BROKEN = "page illisible : JSON invalide"


def serve(
    warehouse, digest: str, records: int, rejections: int = 0, run_id: str = "r", source: str = SOURCE
) -> SourceRunLine:
    """One run of ``source`` serving payload ``digest`` (parsed unless it is the stored one)."""
    with connect_writer(warehouse) as conn:
        state = conn.execute("SELECT digest FROM source_state WHERE source = ?", [source]).fetchone()
        unchanged = state is not None and state[0] == digest
        result = None
        if not unchanged:
            result = ParseResult(records=[AidRecord(source, f"{digest}-{i}", f"Aide {i}") for i in range(records)])
            for i in range(rejections):
                result.reject(source, f"page {i + 1}", BROKEN, "<html>Maintenance</html>")
        outcome = IngestOutcome(
            source,
            IngestStatus.UNCHANGED if unchanged else IngestStatus.PARSED,
            False,
            digest,
            None,
            None,
            result,
            None,
            0.1,
        )
        return store_outcome(conn, outcome, run_id)


def stored(warehouse, source: str = SOURCE) -> int:
    with connect_writer(warehouse) as conn:
        return conn.execute("SELECT count(*) FROM source_records WHERE source = ?", [source]).fetchone()[0]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_acknowledging_one_hold_leaves_the_other_pending_and_the_broken_page_held(warehouse):
    serve(warehouse, "d0", 10, run_id="r1")
    broken = serve(warehouse, "d1", 0, rejections=1, run_id="r2")  # an unreadable page
    drop = serve(warehouse, "d2", 2, run_id="r3")  # a genuine drop
    assert broken.status == drop.status == "held" and broken.hold_id != drop.hold_id
    result = cli("acknowledge", SOURCE, drop.hold_id)
    assert result.exit_code == 0, result.output
    assert drop.hold_id in result.output and "les autres changements retenus restent retenus" in result.output
    with connect_writer(warehouse) as conn:
        assert [h.hold_id for h in pending_holds(conn, SOURCE)] == [broken.hold_id]
    applied = serve(warehouse, "d2", 2, run_id="r4")
    assert applied.status == "parsed" and applied.changed and applied.hold_id is None and stored(warehouse) == 2
    again = serve(warehouse, "d1", 0, rejections=1, run_id="r5")  # the same broken page comes back
    assert again.status == "held" and again.hold_id == broken.hold_id and stored(warehouse) == 2
    with connect_writer(warehouse) as conn:
        states = {h.hold_id: (h.status, h.times_held, h.applied_run_id) for h in list_holds(conn, SOURCE)}
    assert states == {broken.hold_id: ("pending", 2, None), drop.hold_id: ("applied", 1, "r4")}


def test_a_held_payload_is_held_again_when_served_even_without_a_drop_then(warehouse):
    serve(warehouse, "d0", 10)
    first = serve(warehouse, "d1", 1)
    second = serve(warehouse, "d2", 1)
    with connect_writer(warehouse) as conn:
        acknowledge_hold(conn, SOURCE, second.hold_id, "agent")
    assert serve(warehouse, "d2", 1).status == "parsed"  # now the source has 1 record
    again = serve(warehouse, "d1", 1)  # 1 instead of 1 is no drop, but nobody accepted that payload
    assert again.status == "held" and again.hold_id == first.hold_id and "contenu déjà retenu le" in again.error
    assert stored(warehouse) == 1


def test_a_refused_payload_is_held_again_until_that_hold_is_accepted(warehouse):
    serve(warehouse, "d0", 10)
    held = serve(warehouse, "d1", 0, rejections=1)
    result = cli("refuse", SOURCE, held.hold_id)
    assert result.exit_code == 0, result.output
    again = serve(warehouse, "d1", 0, rejections=1)
    assert again.status == "held" and again.hold_id == held.hold_id and "refusée par" in again.error
    assert stored(warehouse) == 10
    result = cli("acknowledge", SOURCE, held.hold_id.lower().removeprefix("r-"))  # typed loosely
    assert result.exit_code == 0, result.output
    assert serve(warehouse, "d1", 0, rejections=1).status == "parsed" and stored(warehouse) == 0


def test_an_accepted_payload_waits_for_its_own_serving_and_applies_once(warehouse):
    serve(warehouse, "d0", 10)
    accepted = serve(warehouse, "d1", 1)
    with connect_writer(warehouse) as conn:
        acknowledge_hold(conn, SOURCE, accepted.hold_id, "agent")
    other = serve(warehouse, "d3", 2)  # another payload with a drop: its own hold, not the accepted one
    assert other.status == "held" and other.hold_id not in (None, accepted.hold_id) and stored(warehouse) == 10
    assert serve(warehouse, "d1", 1).status == "parsed" and stored(warehouse) == 1
    with connect_writer(warehouse) as conn:
        assert get_hold(conn, other.hold_id).status == "pending"  # applying d1 accepted nothing else
        assert get_hold(conn, accepted.hold_id).status == "applied"
    serve(warehouse, "d4", 10)  # the source recovers …
    later = serve(warehouse, "d1", 1)  # … and the old payload comes back: a new change, a new hold
    assert later.status == "held" and later.hold_id == hold_id_for(SOURCE, "d1", 1) != accepted.hold_id


def test_unknown_foreign_and_decided_ids_are_refused_in_french_naming_source_and_id(warehouse):
    serve(warehouse, "d0", 10)
    mine = serve(warehouse, "d1", 0)
    serve(warehouse, "e0", 10, source="autre-source")
    theirs = serve(warehouse, "e1", 0, source="autre-source")

    result = cli("acknowledge", SOURCE, theirs.hold_id)
    assert result.exit_code == 1
    assert theirs.hold_id in result.output and "« autre-source »" in result.output and f"« {SOURCE} »" in result.output
    result = cli("acknowledge", SOURCE, "R-00000000")
    assert result.exit_code == 1 and "Aucun changement retenu R-00000000 pour la source « ville-test »" in result.output
    result = cli("acknowledge", SOURCE)
    assert result.exit_code == 2 and mine.hold_id in result.output and theirs.hold_id not in result.output
    with connect_writer(warehouse) as conn:
        assert {h.hold_id for h in pending_holds(conn)} == {mine.hold_id, theirs.hold_id}  # nothing decided
        acknowledge_hold(conn, SOURCE, mine.hold_id, "agent")
        with pytest.raises(HoldError, match=f"{mine.hold_id} de « ville-test » est déjà acquitté"):
            acknowledge_hold(conn, SOURCE, mine.hold_id, "agent")
    serve(warehouse, "d1", 0)
    with connect_writer(warehouse) as conn, pytest.raises(HoldError, match="déjà appliqué"):
        refuse_hold(conn, SOURCE, mine.hold_id, "agent")


def test_holds_json_lists_pending_first_with_their_evidence(warehouse):
    serve(warehouse, "d0", 10, run_id="r1")
    drop = serve(warehouse, "d1", 2, run_id="r2")
    with connect_writer(warehouse) as conn:
        acknowledge_hold(conn, SOURCE, drop.hold_id, "agent")
    broken = serve(warehouse, "d2", 0, rejections=7, run_id="r3")
    result = cli("holds", SOURCE, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["source"], answer["nombre"], answer["en_attente"]) == (SOURCE, 2, 1)
    first, second = answer["retenues"]
    assert (first["id"], first["statut"], second["id"], second["statut"]) == (
        broken.hold_id,
        "pending",
        drop.hold_id,
        "accepted",
    )
    assert first["enregistrements_avant"] == 10 and first["enregistrements_apres"] == 0
    assert first["nb_rejets"] == 7 and len(first["premiers_rejets"]) == 5
    assert first["premiers_rejets"][0] == {
        "emplacement": "page 1",
        "raison": BROKEN,
        "extrait": "<html>Maintenance</html>",
    }
    assert first["empreinte"] == "d2" and first["empreinte_precedente"] == "d0" and first["run_id"] == "r3"
    assert (
        "baisse de 100%" in first["raison"] and first["pour_accepter"] == f"aides acknowledge {SOURCE} {broken.hold_id}"
    )
    assert second["decision_par"] == "agent" and second["pour_accepter"] is None
    table = cli("holds")
    assert table.exit_code == 0 and broken.hold_id in table.output and "en attente" in table.output


def test_pending_holds_give_the_pipeline_their_evidence_as_json(warehouse):
    serve(warehouse, "d0", 4)
    held = serve(warehouse, "d1", 0, rejections=1)
    with connect_writer(warehouse) as conn:
        [hold] = pending_holds(conn, SOURCE)
        assert pending_holds(conn, "autre-source") == []
    assert hold.hold_id == held.hold_id == hold_id_for(SOURCE, "d1") and hold.blocking
    assert json.loads(hold.evidence_json())["premiers_rejets"][0]["raison"] == BROKEN
    assert normalise_hold_id(f" {hold.hold_id.upper()} ") == hold.hold_id


def test_the_publication_hold_is_still_acknowledged_without_an_id(warehouse):
    result = cli("acknowledge", "publication")
    assert result.exit_code == 1 and "Aucun changement retenu pour publication." in result.output
    result = cli("acknowledge", "publication", "R-12345678")
    assert result.exit_code == 2 and "n'a pas d'identifiant" in result.output


def test_migration_0020_keeps_the_former_holds_and_reopens_bulk_acknowledgements_never_applied(warehouse):
    warehouse.database.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(warehouse.database))
    conn.execute(
        "CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for number, name, sql in migration_files():
        if number < 20:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?)", [number, name])
    conn.execute(
        "INSERT INTO source_state VALUES (?, 'd2', NULL, NULL, '2026-01-06', 2, 0)", [SOURCE]
    )  # d2 was applied
    conn.execute(
        """INSERT INTO source_holds VALUES
        (?, 'd1', 10, 0, '2026-01-01', '2026-01-05', 'bob'),  -- an unreadable page, accepted in bulk
        (?, 'd2', 10, 2, '2026-01-03', '2026-01-05', 'bob'),  -- the genuine drop, accepted and applied
        (?, 'd3', 2, 0, '2026-01-07', NULL, NULL)""",
        [SOURCE] * 3,
    )
    conn.execute(
        """INSERT INTO source_runs (run_id, source, run_at, status, stale, digest) VALUES
        ('r1', ?, '2026-01-01', 'held', false, 'd1'), ('r2', ?, '2026-01-03', 'held', false, 'd2'),
        ('r3', ?, '2026-01-06', 'parsed', false, 'd2'), ('r4', ?, '2026-01-07', 'held', false, 'd3')""",
        [SOURCE] * 4,
    )
    assert migrate(conn)[:1] == ["0020_holds_per_change.sql"]
    holds = {h.digest: h for h in list_holds(conn, SOURCE)}
    conn.close()
    assert {d: (h.hold_id, h.status, h.records_before, h.records_after, h.run_id) for d, h in holds.items()} == {
        "d1": (hold_id_for(SOURCE, "d1"), "pending", 10, 0, "r1"),
        "d2": (hold_id_for(SOURCE, "d2"), "applied", 10, 2, "r2"),
        "d3": (hold_id_for(SOURCE, "d3"), "pending", 2, 0, "r4"),
    }
    assert holds["d2"].decided_by == "bob" and holds["d2"].applied_run_id == "r3"
    assert "jamais appliqué" in (holds["d1"].decision_note or "") and holds["d1"].rejected is None
    again = serve(warehouse, "d1", 0)  # the broken page of the bulk acknowledgement comes back: still held
    assert again.status == "held" and again.hold_id == holds["d1"].hold_id
    with connect_writer(warehouse) as conn:
        runs = conn.execute("SELECT run_id, hold_id FROM source_runs ORDER BY run_at").fetchall()
    assert runs[:4] == [
        ("r1", holds["d1"].hold_id),
        ("r2", holds["d2"].hold_id),
        ("r3", None),
        ("r4", holds["d3"].hold_id),
    ]
