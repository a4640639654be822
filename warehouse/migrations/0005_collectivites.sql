-- What local authorities (collectivités) submit: their access tokens, the files accepted
-- into the append-only store (warehouse/submissions/), and the attempts that were refused.

-- Access tokens: only the sha256 of a token is kept; the token itself is shown once.
CREATE TABLE collectivite_jetons (
    id            VARCHAR PRIMARY KEY,      -- the first 12 hex digits of token_sha256 (shown by `list`)
    token_sha256  VARCHAR NOT NULL UNIQUE,  -- sha256 hex of the token
    siren         VARCHAR NOT NULL,         -- the collectivité: SIREN, or DEP-xx / REG-xx
    email         VARCHAR NOT NULL,         -- who received the token
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ               -- NULL while the token is valid
);

-- Accepted submissions: one row per file written to the store, never updated.
CREATE TABLE soumissions (
    id           VARCHAR PRIMARY KEY,       -- UUID of the submission
    siren        VARCHAR NOT NULL,
    email        VARCHAR NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    sha256       VARCHAR NOT NULL,          -- of the stored bytes
    filename     VARCHAR,                   -- the uploaded file's name: metadata only, never a path
    rows         INTEGER NOT NULL,          -- data rows of the file
    path         VARCHAR NOT NULL UNIQUE    -- relative to the warehouse root: submissions/<…>.csv
);

-- Refused attempts (invalid file, out of territory, unknown or revoked token…), for follow-up.
CREATE TABLE soumissions_refusees (
    id           VARCHAR PRIMARY KEY,
    siren        VARCHAR,                   -- NULL when nobody could be identified
    email        VARCHAR,
    received_at  TIMESTAMPTZ NOT NULL,
    reason       VARCHAR NOT NULL,          -- French
    filename     VARCHAR
);
