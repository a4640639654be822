"""Stable identifiers: every catalogue entry keeps one UUID, run after run.

Reusers link to our aids by their ``id``; it must survive everything that happens upstream:
a title edited, a source renumbering its records, a new source reporting a known aid, two
entries found to be one aid, one entry found to be two, a record missing for a while.

The link is the record, not its content: ``id_map`` remembers, for every record ever seen
(``record_key`` = ``source:native_id``), the aid it belongs to. A run brings clusters of
records (warehouse.normalise.dedup).

First, records never seen before may be *renamed* records: when a record of the same source
that was present in the last run is absent now and has the same normalised URL (a specific
page) or the same normalised title and geography, or the newcomer is one of its parts (its
native id under the vanished one's, ``angers`` → ``angers . aides socles``), the newcomer
inherits its link (``rattachement``; one-to-one, by page first, then title, then part,
oldest first). Then each cluster takes the
aid of its linked records:

* exactly one aid → it keeps it (whatever its title now says);
* several aids (a merge: dedup or a new source now links them) → the oldest aid
  (earliest ``first_seen``) is kept, the others are absorbed: ``fusion``, and all their
  records, present or not, point to the kept aid from now on;
* one aid spread over several clusters (a split) → the cluster holding the aid's oldest
  record (then its highest-precedence record, then the record that represented it last
  time, then the current representative, then the largest) keeps it;
  each other cluster takes another of its own aids if one is free, else the aid its
  records were first given if that aid was absorbed and is retired (a wrong merge undone
  gives the old id back), else a new one: ``scission``;
* no linked record → a new uuid4, ``création``.

Records absent from a run are marked inactive (``disparition``), never deleted, so an aid
whose records come back gets its id back (``réapparition``). Everything set-based except
the resolution of conflicting clusters (merges and splits, few), a small Python loop.
The caller owns the transaction: nothing here begins or commits.
"""

from __future__ import annotations

import datetime as dt
import itertools
import warnings
from collections import Counter
from typing import Any

import duckdb
import polars as pl

from warehouse.normalise.dedup import normalise_titles, normalise_urls

CLUSTER_COLUMNS = ("record_key", "cluster_key", "source", "titre", "url", "geo_key")
EVENT_SCHEMA = {
    "kind": pl.Utf8,
    "aid_id": pl.Utf8,
    "other_aid_id": pl.Utf8,
    "record_key": pl.Utf8,
    "detail": pl.Utf8,
}
_registered = itertools.count()
PART_SEPARATOR = " . "  # how publicodes models name a rule's parts, in native ids


def _current(clusters: pl.DataFrame) -> pl.DataFrame:
    """The run's records, checked, with their normalised title and URL."""
    missing = [c for c in CLUSTER_COLUMNS if c not in clusters.columns]
    if missing:
        raise ValueError(f"colonnes manquantes pour les identifiants : {', '.join(missing)}")
    frame = clusters.select(
        *(pl.col(c).cast(pl.Utf8) for c in CLUSTER_COLUMNS),
        precedence=(pl.col("precedence") if "precedence" in clusters.columns else pl.lit(0))
        .cast(pl.Int64)
        .fill_null(0),
    )
    if frame["record_key"].null_count() or frame["cluster_key"].null_count() or frame["source"].null_count():
        raise ValueError("record_key, cluster_key et source sont obligatoires")
    duplicated = frame.filter(pl.col("record_key").is_duplicated())["record_key"].unique().sort()
    if duplicated.len():
        raise ValueError(f"record_key en double : {', '.join(duplicated.head(5).to_list())}")
    frame = frame.with_columns(titre_norm=normalise_titles(frame, "titre"))
    return normalise_urls(frame, "url").drop("url_host")


def _frame(conn: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """A query's whole result as a polars frame.

    Through ``execute`` and Arrow rather than ``conn.sql(...).pl()``: DuckDB 2 refuses a
    relation while an earlier ``execute()`` result is still open on the connection, and
    this fetches everything, leaving nothing open behind it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "makes an extra copy of the rows"
        table = conn.execute(sql).to_arrow_table()
    return pl.from_arrow(table)  # type: ignore[return-value]


def _previous(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return _frame(
        conn,
        "SELECT record_key, aid_id::VARCHAR AS aid_id, source, origin_aid_id::VARCHAR AS origin_aid_id, "
        "first_seen, titre_norm, url_norm, geo_key, representative, active FROM id_map",
    )


def _inherited(current: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Newcomer records that are a vanished record of the same source under a new native id.

    ``record_key, aid_id, first_seen, origin_aid_id, detail``: by specific page first, then
    by title and geography, then as one of its parts (its key under the vanished one's, found
    by an equi-join on each of its key's prefixes); each vanished record and each newcomer
    used once, oldest first.
    """
    vanished = previous.filter(pl.col("active")).join(current.select("record_key"), on="record_key", how="anti")
    newcomers = current.join(previous.select("record_key"), on="record_key", how="anti")
    schema = pl.Schema(
        {
            "record_key": pl.Utf8(),
            "aid_id": pl.Utf8(),
            "first_seen": previous.schema["first_seen"],
            "representative": pl.Boolean(),
            "origin_aid_id": pl.Utf8(),
            "detail": pl.Utf8(),
        }
    )
    if vanished.is_empty() or newcomers.is_empty():
        return pl.DataFrame(schema=schema)
    columns_kept = ("aid_id", "first_seen", "representative", "origin_aid_id")
    old = vanished.select(
        "source",
        "url_norm",
        "titre_norm",
        "geo_key",
        "aid_id",
        "first_seen",
        "representative",
        "origin_aid_id",
        old_key=pl.col("record_key"),
    )
    by_page = (
        newcomers.filter(~pl.col("url_generic"))
        .join(old.drop("titre_norm", "geo_key").filter(pl.col("url_norm").is_not_null()), on=["source", "url_norm"])
        .with_columns(rank=pl.lit(0), how=pl.lit("même page"))
    )
    by_title = (
        newcomers.filter(pl.col("geo_key").is_not_null() & (pl.col("titre_norm").str.len_bytes() > 0))
        .join(old.drop("url_norm").filter(pl.col("geo_key").is_not_null()), on=["source", "titre_norm", "geo_key"])
        .with_columns(rank=pl.lit(1), how=pl.lit("même titre et même territoire"))
    )
    # A source that now lists an aid's parts under its former id (« aides locales . angers » →
    # « aides locales . angers . aides socles »): the first part, in key order, keeps the id.
    parents = (
        newcomers.select("record_key", "source", parts=pl.col("record_key").str.split(PART_SEPARATOR))
        .with_columns(depth=pl.int_ranges(1, pl.col("parts").list.len()))
        .explode("depth")
        .drop_nulls("depth")
        .with_columns(old_key=pl.col("parts").list.head(pl.col("depth")).list.join(PART_SEPARATOR))
        .select("record_key", "source", "old_key")
    )
    by_part = parents.join(old.select("source", "old_key", *columns_kept), on=["source", "old_key"]).with_columns(
        rank=pl.lit(2), how=pl.lit("partie de l'ancienne fiche")
    )
    columns = ["record_key", "old_key", "aid_id", "first_seen", "representative", "origin_aid_id", "rank", "how"]
    candidates = pl.concat([by_page.select(columns), by_title.select(columns), by_part.select(columns)]).sort(
        ["rank", "first_seen", "old_key", "record_key"]
    )
    chosen, used = set(), set()
    rows = []
    for row in candidates.iter_rows(named=True):
        if row["record_key"] in chosen or row["old_key"] in used:
            continue
        chosen.add(row["record_key"])
        used.add(row["old_key"])
        rows.append(
            {
                "record_key": row["record_key"],
                "aid_id": row["aid_id"],
                "first_seen": row["first_seen"],
                "representative": row["representative"],
                "origin_aid_id": row["origin_aid_id"],
                "detail": f"remplace {row['old_key']} ({row['how']})",
            }
        )
    return pl.DataFrame(rows, schema=schema)


def _claims(current: pl.DataFrame, links: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """One row per (cluster, linked aid): how strongly the cluster holds the aid."""
    known = current.select("record_key", "cluster_key", "precedence").join(
        links.select("record_key", "aid_id", "first_seen", "representative"), on="record_key", how="inner"
    )
    ages = previous.group_by("aid_id").agg(aid_first_seen=pl.col("first_seen").min())
    return (
        known.group_by("cluster_key", "aid_id")
        .agg(
            oldest=pl.col("first_seen").min(),
            precedence=pl.col("precedence").max(),
            held_representative=pl.col("representative").any(),
            holds_representative=(pl.col("record_key") == pl.col("cluster_key")).any(),
            records=pl.len(),
        )
        .join(ages, on="aid_id")
        .with_columns(
            ids_of_cluster=pl.len().over("cluster_key"),
            clusters_of_id=pl.len().over("aid_id"),
        )
    )


def _resolve_conflicts(conflicts: pl.DataFrame) -> tuple[dict[str, str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Merges and splits: ``(cluster → kept aid, [(absorbed, kept)], [(cluster, split from)])``.

    Claims are served oldest aid first, then the claim holding the aid's oldest record,
    then the highest precedence, the record that represented the aid last time, the
    current representative, the most records; a cluster takes the first free aid it
    claims. An aid nobody took is absorbed by the cluster of its best claim; a cluster
    that got none is split off from the aid of its best claim.
    """
    order = conflicts.sort(
        [
            "aid_first_seen",
            "oldest",
            "precedence",
            "held_representative",
            "holds_representative",
            "records",
            "aid_id",
            "cluster_key",
        ],
        descending=[False, False, True, True, True, True, False, False],
    )
    assigned: dict[str, str] = {}
    taken: set[str] = set()
    first_claim_of_aid: dict[str, str] = {}
    first_claim_of_cluster: dict[str, str] = {}
    for cluster_key, aid_id in zip(order["cluster_key"].to_list(), order["aid_id"].to_list(), strict=False):
        first_claim_of_aid.setdefault(aid_id, cluster_key)
        first_claim_of_cluster.setdefault(cluster_key, aid_id)
        if cluster_key in assigned or aid_id in taken:
            continue
        assigned[cluster_key] = aid_id
        taken.add(aid_id)
    absorbed = [(aid, assigned[cluster]) for aid, cluster in first_claim_of_aid.items() if aid not in taken]
    split = [(cluster, aid) for cluster, aid in first_claim_of_cluster.items() if cluster not in assigned]
    return assigned, absorbed, split


def _events(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


def _restored_ids(
    split: list[tuple[str, str]], current: pl.DataFrame, previous: pl.DataFrame, unavailable: set[str]
) -> dict[str, str]:
    """For split-off clusters, the aid their records were first given, if it is retired.

    A wrong merge undone gives the absorbed aid back to its records rather than a new id.
    """
    if not split:
        return {}
    split_clusters = [cluster for cluster, _ in split]
    origins = (
        current.filter(pl.col("cluster_key").is_in(split_clusters))
        .select("record_key", "cluster_key")
        .join(previous.select("record_key", "origin_aid_id"), on="record_key")
    )
    restored: dict[str, str] = {}
    used: set[str] = set()
    by_cluster: dict[str, Counter[str]] = {}
    for cluster_key, origin in origins.select("cluster_key", "origin_aid_id").iter_rows():
        by_cluster.setdefault(cluster_key, Counter())[origin] += 1
    for cluster_key in sorted(by_cluster):
        for origin, _count in sorted(by_cluster[cluster_key].items(), key=lambda item: (-item[1], item[0])):
            if origin not in unavailable and origin not in used:
                restored[cluster_key] = origin
                used.add(origin)
                break
    return restored


def _register(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> str:
    name = f"_identity_{next(_registered)}"
    conn.register(name, frame.to_arrow())
    return name


def assign_ids(conn: duckdb.DuckDBPyConnection, clusters: pl.DataFrame, now: dt.datetime | None = None) -> pl.DataFrame:
    """``cluster_key, aid_id`` (UUID text) for every cluster; ``id_map``/``id_events`` updated.

    ``clusters``: record_key, cluster_key, source, titre, url, geo_key (optionally
    precedence), one row per record of this run. Runs in the caller's transaction.
    ``now`` stamps the run (default: the current UTC time).
    """
    now = now or dt.datetime.now(dt.UTC)
    current = _current(clusters)
    previous = _previous(conn)
    inherited = _inherited(current, previous)
    link_columns = ["record_key", "aid_id", "first_seen", "representative"]
    links = pl.concat([previous.select(link_columns), inherited.select(link_columns)])
    claims = _claims(current, links, previous)
    cluster_keys = current.select("cluster_key").unique()

    simple = claims.filter((pl.col("ids_of_cluster") == 1) & (pl.col("clusters_of_id") == 1))
    conflicts = claims.join(simple.select("cluster_key"), on="cluster_key", how="anti")
    assigned, absorbed, split = _resolve_conflicts(conflicts)

    # Aids absorbed now point to the kept aid, for what follows and in id_map.
    if absorbed:
        previous = previous.with_columns(pl.col("aid_id").replace(dict(absorbed)))
    restored: dict[str, str] = {}
    if split:
        # Only a retired aid (absorbed earlier, no record left) can be given back to a split.
        unavailable = set(previous["aid_id"].to_list()) | set(simple["aid_id"].to_list()) | set(assigned.values())
        restored = _restored_ids(split, current, previous, unavailable | {aid for aid, _ in absorbed})

    pairs = {"cluster_key": pl.Utf8, "aid_id": pl.Utf8}
    known = pl.concat(
        [
            simple.select("cluster_key", "aid_id"),
            pl.DataFrame({"cluster_key": list(assigned), "aid_id": list(assigned.values())}, schema=pairs),
            pl.DataFrame({"cluster_key": list(restored), "aid_id": list(restored.values())}, schema=pairs),
        ]
    )
    fresh = cluster_keys.join(known.select("cluster_key"), on="cluster_key", how="anti").sort("cluster_key")
    name = _register(conn, fresh)
    try:
        fresh = _frame(conn, f"SELECT cluster_key, uuid()::VARCHAR AS aid_id FROM {name}")
    finally:
        conn.unregister(name)
    ids = pl.concat([known, fresh]).sort("cluster_key")

    split_clusters = pl.DataFrame({"cluster_key": [c for c, _ in split]}, schema={"cluster_key": pl.Utf8})
    events = _collect_events(current, previous, inherited, ids, absorbed, split, restored, fresh, split_clusters)
    _persist(conn, current, inherited, ids, absorbed, events, now)
    return ids


def _collect_events(
    current: pl.DataFrame,
    previous: pl.DataFrame,
    inherited: pl.DataFrame,
    ids: pl.DataFrame,
    absorbed: list[tuple[str, str]],
    split: list[tuple[str, str]],
    restored: dict[str, str],
    fresh: pl.DataFrame,
    split_clusters: pl.DataFrame,
) -> pl.DataFrame:
    """The run's events, but ``disparition`` (written from id_map itself)."""
    id_of = dict(zip(ids["cluster_key"].to_list(), ids["aid_id"].to_list(), strict=False))
    rows: list[dict[str, Any]] = [
        {
            "kind": "fusion",
            "aid_id": kept,
            "other_aid_id": gone,
            "record_key": None,
            "detail": f"{gone} absorbé par {kept}",
        }
        for gone, kept in absorbed
    ]
    for cluster_key, parent in split:
        detail = "identifiant d'origine rendu" if cluster_key in restored else "nouvel identifiant"
        rows.append(
            {
                "kind": "scission",
                "aid_id": id_of[cluster_key],
                "other_aid_id": parent,
                "record_key": cluster_key,
                "detail": f"séparé de {parent} : {detail}",
            }
        )
    created = fresh.join(split_clusters, on="cluster_key", how="anti").join(
        current.select("cluster_key", "titre").unique("cluster_key"), on="cluster_key", how="left"
    )
    creations = created.select(
        kind=pl.lit("création"),
        aid_id="aid_id",
        other_aid_id=pl.lit(None, pl.Utf8),
        record_key="cluster_key",
        detail=pl.col("titre"),
    )
    returning = (
        current.select("record_key", "cluster_key")
        .join(previous.filter(~pl.col("active")).select("record_key"), on="record_key", how="semi")
        .join(ids, on="cluster_key")
        .select(
            kind=pl.lit("réapparition"),
            aid_id="aid_id",
            other_aid_id=pl.lit(None, pl.Utf8),
            record_key="record_key",
            detail=pl.lit(None, pl.Utf8),
        )
    )
    reattached = (
        inherited.join(current.select("record_key", "cluster_key"), on="record_key")
        .join(ids.rename({"aid_id": "final"}), on="cluster_key")
        .select(
            kind=pl.lit("rattachement"),
            aid_id="final",
            other_aid_id=pl.when(pl.col("aid_id") != pl.col("final")).then("aid_id"),
            record_key="record_key",
            detail="detail",
        )
    )
    return pl.concat([_events(rows), reattached, creations, returning])


def _persist(
    conn: duckdb.DuckDBPyConnection,
    current: pl.DataFrame,
    inherited: pl.DataFrame,
    ids: pl.DataFrame,
    absorbed: list[tuple[str, str]],
    events: pl.DataFrame,
    now: dt.datetime,
) -> None:
    """Write the run into ``id_map`` and ``id_events`` (set-based, caller's transaction)."""
    rows = (
        current.join(ids, on="cluster_key")
        .join(inherited.select("record_key", "origin_aid_id"), on="record_key", how="left")
        .select(
            "record_key",
            "aid_id",
            "origin_aid_id",
            "source",
            "titre_norm",
            "url_norm",
            "geo_key",
            representative=pl.col("record_key") == pl.col("cluster_key"),
        )
    )
    redirects = pl.DataFrame(absorbed, schema={"gone": pl.Utf8, "kept": pl.Utf8}, orient="row")
    frames = {"rows": rows, "redirects": redirects, "events": events}
    names = {key: _register(conn, frame) for key, frame in frames.items()}
    try:
        conn.execute(
            f"UPDATE id_map SET aid_id = r.kept::UUID FROM {names['redirects']} r WHERE id_map.aid_id = r.gone::UUID"
        )
        conn.execute(
            f"""
            INSERT INTO id_events (event_at, kind, aid_id, other_aid_id, record_key, detail)
            SELECT ?, 'disparition', m.aid_id, NULL, m.record_key, NULL
            FROM id_map m
            WHERE m.active AND m.record_key NOT IN (SELECT record_key FROM {names["rows"]})
            ORDER BY m.record_key
            """,
            [now],
        )
        conn.execute(
            f"UPDATE id_map SET active = false "
            f"WHERE active AND record_key NOT IN (SELECT record_key FROM {names['rows']})"
        )
        conn.execute(
            f"""
            INSERT INTO id_map (record_key, aid_id, source, origin_aid_id, first_seen, last_seen,
                                titre_norm, url_norm, geo_key, representative, active)
            SELECT record_key, aid_id::UUID, source, coalesce(origin_aid_id, aid_id)::UUID, ?, ?,
                   titre_norm, url_norm, geo_key, representative, true
            FROM {names["rows"]}
            ON CONFLICT (record_key) DO UPDATE SET
                aid_id = excluded.aid_id, source = excluded.source, last_seen = excluded.last_seen,
                titre_norm = excluded.titre_norm, url_norm = excluded.url_norm, geo_key = excluded.geo_key,
                representative = excluded.representative, active = true
            """,
            [now, now],
        )
        conn.execute(
            f"""
            INSERT INTO id_events (event_at, kind, aid_id, other_aid_id, record_key, detail)
            SELECT ?, kind, aid_id::UUID, other_aid_id::UUID, record_key, detail FROM {names["events"]}
            """,
            [now],
        )
    finally:
        for name in names.values():
            conn.unregister(name)
