-- Link checks of the open aids' pages (url_source, url_demarche), one row per URL per check:
-- the table keeps the history; the current state of a URL is its latest row (by checked_at),
-- which is how webapp/queries.py reads it.
-- statut: 'ok' (2xx/3xx), 'casse' (a definitive answer: 404, 410, other 4xx except
-- 401/403/407/429), 'non_verifie' (no definitive answer: unreachable, timeout, robots.txt
-- forbids it, 429/5xx after every retry, access refused to robots). Without a network the
-- checker records that nothing could be checked, never that links are broken.
-- `casse` is derived from statut so that readers looking for a boolean column find it
-- (webapp/queries.py prefers a `casse` column over guessing from http_status).

CREATE TABLE liens (
    url          VARCHAR NOT NULL,
    checked_at   TIMESTAMPTZ NOT NULL,
    statut       VARCHAR NOT NULL CHECK (statut IN ('ok', 'casse', 'non_verifie')),
    http_status  INTEGER,   -- the last HTTP status received, NULL when no answer came
    detail       VARCHAR,   -- why, in French (e.g. « HTTP 404 », « interdit par robots.txt »)
    casse        BOOLEAN GENERATED ALWAYS AS (statut = 'casse') VIRTUAL,
    PRIMARY KEY (url, checked_at)
);
