"""The one DuckDB file of the warehouse: opening it, migrating it, one writer at a time.

DuckDB itself refuses a second writing process with an obscure lock error; we take an
explicit, named file lock first so that a second writer waits a little and then fails
with a message that says who holds the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import duckdb

from warehouse.locks import LockTimeout, exclusive_lock, shared_lock
from warehouse.published_columns import add_published_columns, published_schema_digest
from warehouse.settings import WarehousePaths, warehouse_paths, writer_memory_limit_gb

if TYPE_CHECKING:
    import polars as pl


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse for writing."""


class WarehouseMissingError(RuntimeError):
    """The warehouse has not been built yet."""


@cache
def migration_files() -> list[tuple[int, str, str]]:
    """The SQL migrations shipped in ``warehouse/migrations``, in order: (number, name, sql)."""
    folder = resources.files("warehouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction, then add the columns
    the published schema has gained since (``warehouse.published_columns``); return the
    migrations' names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(number INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in conn.execute("SELECT number FROM schema_migrations").fetchall()}
    applied = []
    for number, name, sql in migration_files():
        if number in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?)", [number, name])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    add_published_columns(conn)
    return applied


def _migrate_once(conn: duckdb.DuckDBPyConnection, paths: WarehousePaths) -> None:
    """Migrate unless the file says it is up to date: a run opens the writer dozens of times, and
    checking every migration and published column each time cost ≈ 20 ms. One query reads the
    migrations applied and the published schema the columns were last added for."""
    try:
        # fetchall, not fetchone: a result left unfinished makes the next register() fail
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM schema_migrations), (SELECT max(digest) FROM published_columns_state)"
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    applied, columns_for = rows[0] if rows else (None, None)
    if applied == len(migration_files()) and columns_for == published_schema_digest():
        return
    migrate(conn)
    conn.execute("CREATE OR REPLACE TABLE published_columns_state AS SELECT ? AS digest", [published_schema_digest()])


@contextmanager
def writer_lock(paths: WarehousePaths, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the warehouse's single-writer lock, waiting at most ``timeout_s`` seconds."""
    try:
        with exclusive_lock(paths.lock_file, timeout_s):
            yield
    except LockTimeout as exc:
        raise WarehouseBusyError(
            f"L'entrepôt {paths.database} est déjà ouvert en écriture (détenteur : {exc.holder}) ; "
            f"nouvel essai abandonné après {timeout_s:.0f} s."
        ) from None


@contextmanager
def connect_writer(
    paths: WarehousePaths | None = None, timeout_s: float = 600.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for writing (creating and migrating it), as its only writer."""
    paths = paths or warehouse_paths()
    memory_gb = writer_memory_limit_gb()  # a wrong value fails before the lock is taken
    with writer_lock(paths, timeout_s):
        conn = duckdb.connect(str(paths.database), config={"memory_limit": f"{memory_gb * 1000:.0f}MB"})
        try:
            _migrate_once(conn, paths)
            yield conn
        finally:
            conn.close()


@contextmanager
def connect_reader(
    paths: WarehousePaths | None = None, timeout_s: float = 600.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse read-only, alongside other readers but never while a writer holds it
    (waiting at most ``timeout_s`` seconds); fails clearly when it has not been built."""
    paths = paths or warehouse_paths()
    if not paths.database.exists():
        raise WarehouseMissingError(f"L'entrepôt {paths.database} n'existe pas encore : lancez `make run`.")
    try:
        with shared_lock(paths.lock_file, timeout_s):
            conn = duckdb.connect(str(paths.database), read_only=True)
            try:
                yield conn
            finally:
                conn.close()
    except LockTimeout as exc:
        raise WarehouseBusyError(
            f"L'entrepôt {paths.database} est en cours d'écriture (détenteur : {exc.holder}) ; "
            f"lecture abandonnée après {timeout_s:.0f} s."
        ) from None


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The first column of the one row an aggregate query returns (``SELECT count(*) …``)."""
    row = conn.execute(sql, params or []).fetchone()
    if row is None:
        raise RuntimeError(f"la requête n'a rendu aucune ligne : {sql}")
    return row[0]


def query_frame(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """A query's result as a polars DataFrame (through Arrow, no row-by-row copy)."""
    import warnings

    import polars as pl

    with warnings.catch_warnings():
        # DuckDB suggests conn.sql() to save one copy, but a relation cannot run while an
        # earlier execute() result is open on the connection; the copy is the safe choice.
        warnings.simplefilter("ignore", UserWarning)
        table = conn.execute(sql, params or []).to_arrow_table()
    return pl.from_arrow(table)  # type: ignore[return-value]
