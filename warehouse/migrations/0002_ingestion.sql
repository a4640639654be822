-- Parsed records of every source, as the sources state them (see sources/record.py).
-- Each source's rows are replaced as a whole when its payload changed.

CREATE TABLE source_records (
    source            VARCHAR NOT NULL,
    native_id         VARCHAR NOT NULL,
    digest            VARCHAR NOT NULL,   -- payload the record was parsed from
    titre             VARCHAR NOT NULL,
    description       VARCHAR,
    promesse          VARCHAR,
    eligibilite       VARCHAR,
    url_information   VARCHAR,
    url_demarche      VARCHAR,
    porteurs          VARCHAR[],
    financeurs        VARCHAR[],
    niveau            VARCHAR,
    geo_inclusions    JSON,               -- [{"niveau": .., "code": .., "nom": ..}]
    geo_exclusions    JSON,
    date_ouverture    VARCHAR,
    date_cloture      VARCHAR,
    date_mise_a_jour  VARCHAR,
    montants          VARCHAR[],
    taux              VARCHAR[],
    publics           VARCHAR[],
    types_aide        VARCHAR[],
    thematiques       VARCHAR[],
    programmes        VARCHAR[],
    recurrence        VARCHAR,
    raw               JSON
);

-- Every input item that could not become a record, with where and why.
CREATE TABLE source_rejections (
    source    VARCHAR NOT NULL,
    digest    VARCHAR NOT NULL,
    location  VARCHAR NOT NULL,
    reason    VARCHAR NOT NULL,
    excerpt   VARCHAR
);

-- The payload each source's stored records come from (change detection).
CREATE TABLE source_state (
    source      VARCHAR PRIMARY KEY,
    digest      VARCHAR NOT NULL,
    version     VARCHAR,
    fetched_at  VARCHAR,
    parsed_at   TIMESTAMPTZ NOT NULL,
    records     INTEGER NOT NULL,
    rejected    INTEGER NOT NULL
);

-- One line per source per run: what happened, for the logs, the UI and the checks.
CREATE TABLE source_runs (
    run_id      VARCHAR,
    source      VARCHAR NOT NULL,
    run_at      TIMESTAMPTZ NOT NULL,
    status      VARCHAR NOT NULL,   -- parsed, unchanged, unavailable
    stale       BOOLEAN NOT NULL,
    digest      VARCHAR,
    version     VARCHAR,
    records     INTEGER,
    rejected    INTEGER,
    duration_s  DOUBLE,
    error       VARCHAR
);
