-- Changes of a source held back from publication: its record count dropped more than the
-- allowed share against its last good run. The previous records stay in use until someone
-- acknowledges the new payload (`aides acknowledge SOURCE`).
CREATE TABLE source_holds (
    source           VARCHAR NOT NULL,
    digest           VARCHAR NOT NULL,   -- the held payload
    previous_records INTEGER NOT NULL,
    new_records      INTEGER NOT NULL,
    held_at          TIMESTAMPTZ NOT NULL,
    acknowledged_at  TIMESTAMPTZ,
    acknowledged_by  VARCHAR,
    PRIMARY KEY (source, digest)
);
