"""How the catalogue is stored: aides_provenance without its index (migration 0021; a record key given
twice is refused by the build, tests/test_dedup.py and tests/test_identity.py), the writer's memory limit."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.db import migrate, migration_files

AID = "6f1c1d1e-0000-4000-8000-000000000001"


def test_migration_0021_keeps_the_provenance_rows_and_drops_the_index(warehouse):
    warehouse.database.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(warehouse.database))
    conn.execute(
        "CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for number, name, sql in migration_files():
        if number < 21:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?)", [number, name])
    conn.execute("INSERT INTO aides_provenance VALUES (?, 'velo:1', 'velo', '1', true, 'Aide au vélo', NULL)", [AID])
    assert migrate(conn)[:1] == ["0021_provenance_without_index.sql"]
    assert conn.execute("SELECT aid_id::VARCHAR, record_key, titre FROM aides_provenance").fetchall() == [
        (AID, "velo:1", "Aide au vélo")
    ]
    assert conn.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'aides_provenance' "
        "AND constraint_type = 'PRIMARY KEY'"
    ).fetchone() == (0,)
    with pytest.raises(duckdb.ConstraintException):  # the other constraints are kept
        conn.execute("INSERT INTO aides_provenance VALUES (?, NULL, 'velo', '2', true, NULL, NULL)", [AID])
    conn.close()


def test_the_writer_holds_at_most_the_memory_it_is_given(warehouse, monkeypatch):
    from warehouse.db import connect_writer

    with connect_writer(warehouse) as conn:
        assert conn.execute("SELECT current_setting('memory_limit')").fetchone() == ("1.8 GiB",)  # 2 GB
    monkeypatch.setenv("AIDES_DUCKDB_MEMOIRE", "0,5")
    with connect_writer(warehouse) as conn:
        assert conn.execute("SELECT current_setting('memory_limit')").fetchone() == ("476.8 MiB",)  # 0.5 GB
    monkeypatch.setenv("AIDES_DUCKDB_MEMOIRE", "beaucoup")
    with pytest.raises(ValueError, match="AIDES_DUCKDB_MEMOIRE='beaucoup' : attendu un nombre"):
        with connect_writer(warehouse):
            pass
