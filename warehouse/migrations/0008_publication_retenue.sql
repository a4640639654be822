-- Releases held back because the catalogue lost most of its published aids at once
-- (a referential that failed to load, a transform gone wrong): the previous release stays
-- `latest` until someone runs `aides acknowledge publication`.
CREATE TABLE publication_holds (
    previous_version VARCHAR NOT NULL,   -- the release that would have been replaced
    previous_aides   INTEGER NOT NULL,
    new_aides        INTEGER NOT NULL,
    held_at          TIMESTAMPTZ NOT NULL,
    acknowledged_at  TIMESTAMPTZ,
    acknowledged_by  VARCHAR,
    PRIMARY KEY (previous_version, new_aides)
);
