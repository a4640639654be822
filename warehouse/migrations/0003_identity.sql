-- Stable identifiers of catalogue entries (warehouse/normalise/identity.py).
--
-- id_map: every record ever seen and the aid (catalogue entry) it belongs to. Rows are never
-- deleted: a record absent from a run is marked inactive, so that it finds its aid again if it
-- comes back. When two aids are merged, the records of the absorbed aid point to the kept one.
CREATE TABLE id_map (
    record_key     VARCHAR PRIMARY KEY,   -- "source:native_id"
    aid_id         UUID NOT NULL,         -- the aid the record belongs to now
    source         VARCHAR NOT NULL,
    origin_aid_id  UUID NOT NULL,         -- the aid the record was first given (given back after a wrong merge is split)
    first_seen     TIMESTAMPTZ NOT NULL,  -- first run the record was present in
    last_seen      TIMESTAMPTZ NOT NULL,  -- last run the record was present in
    titre_norm     VARCHAR,               -- normalised title, URL and geography at last_seen: they let a
    url_norm       VARCHAR,               -- renamed record (new native id) be recognised
    geo_key        VARCHAR,
    representative BOOLEAN NOT NULL,      -- its cluster's representative at last_seen (breaks ties on a split)
    active         BOOLEAN NOT NULL       -- present in the last run
);

-- What happened to identifiers, run after run (append only).
--   création      a new aid, first record `record_key`
--   fusion        `other_aid_id` absorbed into `aid_id` (its records now point to `aid_id`)
--   scission      `aid_id` split off from `other_aid_id` (new id, or its former id given back)
--   rattachement  record `record_key` replaces a vanished record of the same source: it keeps `aid_id`
--   disparition   record `record_key` of `aid_id` absent from this run (kept, inactive)
--   réapparition  record `record_key` present again, back in `aid_id`
CREATE TABLE id_events (
    event_at      TIMESTAMPTZ NOT NULL,  -- the run ("at" is a reserved word in DuckDB 2)
    kind          VARCHAR NOT NULL,
    aid_id        UUID NOT NULL,
    other_aid_id  UUID,
    record_key    VARCHAR,
    detail        VARCHAR
);

-- One line per aid id in use: since when, until when, how many records (active and in all).
CREATE VIEW v_aid_ids AS
SELECT
    aid_id,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen,
    count(*) FILTER (WHERE active) AS records_actifs,
    count(*) AS records,
    bool_or(active) AS active
FROM id_map
GROUP BY aid_id;
