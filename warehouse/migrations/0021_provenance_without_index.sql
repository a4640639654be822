-- aides_provenance is rewritten whole by every catalogue build. Its PRIMARY KEY on record_key kept an
-- index of every record key that DuckDB rebuilt at each build's COMMIT: 1.3 s of the build at 100,000
-- records (issue 18, measured). Nothing looks a record up by that key, and the build refuses a record
-- key twice before it stores anything (dedup._validated and identity._current: « record_key en double »).
CREATE TABLE aides_provenance_0021 (
    aid_id       UUID NOT NULL,
    record_key   VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    native_id    VARCHAR NOT NULL,
    representant BOOLEAN NOT NULL,
    titre        VARCHAR,
    url          VARCHAR
);
INSERT INTO aides_provenance_0021 SELECT aid_id, record_key, source, native_id, representant, titre, url FROM aides_provenance;
DROP TABLE aides_provenance;
ALTER TABLE aides_provenance_0021 RENAME TO aides_provenance;
