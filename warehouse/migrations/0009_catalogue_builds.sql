-- The current build of the catalogue: what it was built from (one fingerprint of its inputs)
-- and, once checked, its validation against schemas/schema.json. A run whose inputs did not
-- change reuses both instead of rebuilding (warehouse/catalogue_state.py).
CREATE TABLE catalogue_builds (
    fingerprint VARCHAR NOT NULL,
    built_at    TIMESTAMPTZ NOT NULL,
    summary     JSON NOT NULL,      -- the CatalogueSummary of the build
    checked     BOOLEAN NOT NULL DEFAULT false,
    rows_checked INTEGER,
    violations  JSON                -- the first violations found (empty list: valid)
);
-- The release that carries this build, once published (or found identical to the latest).
ALTER TABLE catalogue_builds ADD COLUMN release_version VARCHAR;
