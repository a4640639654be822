"""The warehouse file: created and migrated by code, one writer at a time."""

from __future__ import annotations

import pytest

from warehouse.db import (
    WarehouseBusyError,
    WarehouseMissingError,
    connect_reader,
    connect_writer,
    migration_files,
    writer_lock,
)


def test_writer_creates_and_migrates_the_database(warehouse):
    with connect_writer(warehouse) as conn:
        applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations").fetchall()}
        tables = {row[0] for row in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert applied == {name for _, name, _ in migration_files()}
    assert {"ref_communes", "ref_epci", "ref_epci_membres", "v_communes_territoires"} <= tables
    assert warehouse.database.exists()


def test_migrations_run_once(warehouse):
    with connect_writer(warehouse):
        pass
    with connect_writer(warehouse) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert count == len(migration_files())


def test_a_second_writer_is_refused_with_a_clear_message(warehouse):
    with writer_lock(warehouse):
        with pytest.raises(WarehouseBusyError, match="déjà ouvert en écriture"):
            with writer_lock(warehouse, timeout_s=0.3):
                pass
    with writer_lock(warehouse, timeout_s=0.3):  # released afterwards
        pass


def test_reading_a_warehouse_that_does_not_exist_says_how_to_build_it(warehouse):
    with pytest.raises(WarehouseMissingError, match="make run"):
        with connect_reader(warehouse):
            pass


def test_readers_share_the_warehouse_but_wait_for_the_writer_across_processes(warehouse):
    """DuckDB refuses a reading process while another writes: the lock makes the reader wait
    (here: give up with a clear message), and lets readers in together."""
    import multiprocessing

    with connect_writer(warehouse) as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
    with connect_reader(warehouse) as first, connect_reader(warehouse) as second:
        assert first.execute("SELECT x FROM t").fetchone() == second.execute("SELECT x FROM t").fetchone() == (1,)

    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.get_context("fork").Process(target=_hold_writer, args=(warehouse, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(WarehouseBusyError, match="en cours d'écriture"):
            with connect_reader(warehouse, timeout_s=0.5):
                pass
    finally:
        release.set()
        holder.join(30)
    with connect_reader(warehouse, timeout_s=5) as conn:  # the writer is gone: reading works again
        assert conn.execute("SELECT x FROM t").fetchone() == (1,)


def _hold_writer(paths, ready, release) -> None:
    with connect_writer(paths):
        ready.set()
        release.wait(30)


def test_a_reopened_writer_is_ready_for_any_call_first(warehouse):
    """The up-to-date check leaves no result pending: register() may be the first call."""
    import polars as pl

    from warehouse.db import connect_writer

    with connect_writer(warehouse):
        pass
    with connect_writer(warehouse) as conn:  # the fast path: migrations already applied
        conn.register("t", pl.DataFrame({"a": [1]}))
        assert conn.execute("SELECT a FROM t").fetchall() == [(1,)]
