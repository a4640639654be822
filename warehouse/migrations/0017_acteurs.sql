-- Actors of an aid as the source states them, with their SIREN and roles (sources/record.py
-- Acteur), and the catalogue's published actors: porteurs, financeurs and instructeurs with
-- their SIREN (stated, else from the organisations referential) and roles.
-- Records parsed before lack their actors: the next run parses every source again.

ALTER TABLE source_records ADD COLUMN acteurs JSON;
ALTER TABLE aides ADD COLUMN acteurs JSON;
UPDATE source_state SET digest = digest || '+acteurs';

-- Names of porteurs, financers and instructors the organisations referential does not know (or
-- not without doubt), per source, with the number of aids that name them: the quality report's
-- list of what to add to warehouse/organisations/.
CREATE TABLE organisations_non_reconnues (
    source    VARCHAR NOT NULL,
    nom       VARCHAR NOT NULL,
    statut    VARCHAR NOT NULL,   -- unresolved | ambiguous | partial
    raison    VARCHAR,
    nb_aides  INTEGER NOT NULL,
    PRIMARY KEY (source, nom)
);
