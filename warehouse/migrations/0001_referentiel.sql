-- Official geography referential (COG), from @etalab/decoupage-administratif.
-- Codes are kept as text: they carry leading zeros and Corsica's 2A/2B.

CREATE TABLE ref_regions (
    code        VARCHAR PRIMARY KEY,   -- '84', '01' (Guadeloupe), '975' (COM)
    nom         VARCHAR NOT NULL,
    chef_lieu   VARCHAR,
    zone        VARCHAR NOT NULL       -- metro, drom, com
);

CREATE TABLE ref_departements (
    code        VARCHAR PRIMARY KEY,   -- '01', '2A', '2B', '971', '975'
    nom         VARCHAR NOT NULL,
    region      VARCHAR NOT NULL,
    chef_lieu   VARCHAR,
    zone        VARCHAR NOT NULL
);

-- Current communes only (communes actuelles).
CREATE TABLE ref_communes (
    code          VARCHAR PRIMARY KEY, -- INSEE code, '01004', '2A004'
    nom           VARCHAR NOT NULL,
    siren         VARCHAR,             -- missing for a few COM communes
    departement   VARCHAR NOT NULL,
    region        VARCHAR NOT NULL,
    arrondissement VARCHAR,
    zone          VARCHAR NOT NULL,
    population    INTEGER,
    codes_postaux VARCHAR[] NOT NULL
);

-- One row per (postal code, current commune): a code shared by several
-- communes has several rows and must never be taken for one commune.
CREATE TABLE ref_codes_postaux (
    code_postal   VARCHAR NOT NULL,
    commune       VARCHAR NOT NULL,
    PRIMARY KEY (code_postal, commune)
);

CREATE TABLE ref_epci (
    siren             VARCHAR PRIMARY KEY,
    nom               VARCHAR NOT NULL,
    type              VARCHAR NOT NULL,  -- CC, CA, CU, METRO, MET69
    mode_financement  VARCHAR,
    population        INTEGER
);

CREATE TABLE ref_epci_membres (
    epci     VARCHAR NOT NULL,
    commune  VARCHAR NOT NULL,
    PRIMARY KEY (epci, commune)
);

-- Codes that are not current communes but stand for one: the 45 arrondissements
-- municipaux of Paris, Lyon and Marseille, communes déléguées and associées, and
-- the former codes of merged communes. A commune déléguée can share its code with
-- its current commune, and a former code can have been split between several
-- current communes, hence the key on (code, type, commune).
CREATE TABLE ref_communes_rattachees (
    code      VARCHAR NOT NULL,
    nom       VARCHAR,
    type      VARCHAR NOT NULL,  -- arrondissement-municipal, commune-deleguee, commune-associee, ancien-code
    commune   VARCHAR NOT NULL,  -- the current commune it belongs to
    PRIMARY KEY (code, type, commune)
);

-- Which package version the tables above were loaded from.
CREATE TABLE ref_version (
    package    VARCHAR NOT NULL,
    version    VARCHAR NOT NULL,
    integrity  VARCHAR NOT NULL,
    loaded_at  TIMESTAMP WITH TIME ZONE NOT NULL
);

-- Every current commune with the territories that contain it.
CREATE VIEW v_communes_territoires AS
SELECT
    c.code          AS commune,
    c.nom           AS commune_nom,
    m.epci          AS epci,
    e.nom           AS epci_nom,
    c.departement   AS departement,
    d.nom           AS departement_nom,
    c.region        AS region,
    r.nom           AS region_nom,
    '99100'         AS pays
FROM ref_communes c
LEFT JOIN ref_epci_membres m ON m.commune = c.code
LEFT JOIN ref_epci e ON e.siren = m.epci
LEFT JOIN ref_departements d ON d.code = c.departement
LEFT JOIN ref_regions r ON r.code = c.region;
