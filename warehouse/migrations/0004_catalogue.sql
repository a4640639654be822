-- The normalised catalogue: one row per real aid, keyed by its stable id (see 0003).
-- Texts are kept whole here; exports apply the schema's length limits.

CREATE TABLE aides (
    id                                   UUID PRIMARY KEY,
    titre                                VARCHAR NOT NULL,
    promesse                             VARCHAR,
    description                          VARCHAR,
    eligibilite                          VARCHAR,
    types_aides                          VARCHAR[],
    porteurs                             VARCHAR[],
    programmes_parents                   VARCHAR[],
    url_source                           VARCHAR,
    cibles                               VARCHAR[],
    eligibilite_geographique             VARCHAR[],
    eligibilite_geographique_exclusions  VARCHAR[],
    date_ouverture                       DATE,
    date_cloture                         DATE,
    date_mise_a_jour                     TIMESTAMPTZ,
    echelle                              VARCHAR,
    thematiques                          VARCHAR[],
    montant_max                          DOUBLE,
    taux_max                             DOUBLE,
    url_demarche                         VARCHAR,
    statut                               VARCHAR NOT NULL,
    recurrence                           VARCHAR,
    sources                              VARCHAR[] NOT NULL,
    date_collecte                        TIMESTAMPTZ,
    geo_statut                           VARCHAR NOT NULL,  -- resolved, ambiguous, unresolved
    publiable                            BOOLEAN NOT NULL,  -- satisfies the published schema
    motifs_non_publiable                 VARCHAR[],         -- why not, in French
    signalements                         VARCHAR[]          -- what needs attention, in French
);

-- Every source record behind each aid.
CREATE TABLE aides_provenance (
    aid_id       UUID NOT NULL,
    record_key   VARCHAR PRIMARY KEY,
    source       VARCHAR NOT NULL,
    native_id    VARCHAR NOT NULL,
    representant BOOLEAN NOT NULL,
    titre        VARCHAR,
    url          VARCHAR
);

-- Every value normalisation could not use, with the reason: nothing is dropped silently.
CREATE TABLE normalisation_problemes (
    record_key  VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    champ       VARCHAR NOT NULL,
    valeur      VARCHAR,
    probleme    VARCHAR NOT NULL
);

-- Pairs that look alike but were not merged: for a human to decide.
CREATE TABLE doublons_a_revoir (
    record_key_a  VARCHAR NOT NULL,
    record_key_b  VARCHAR NOT NULL,
    score         DOUBLE,
    raison        VARCHAR
);
