-- « Relu, rien à signaler »: an agent of a collectivité states that they read what the catalogue
-- publishes for their territory and found nothing to add or correct (warehouse/submissions/reviews.py).
-- With the accepted submissions (soumissions), it tells the coverage (couverture.csv) who checked
-- which territory and when. Append-only: a review is never updated nor deleted, a new one is a new
-- row (the writer only inserts, with a fresh id, so no insert can ever replace a row).

CREATE TABLE relectures (
    id          VARCHAR PRIMARY KEY,   -- UUID of the review
    territoire  VARCHAR NOT NULL,      -- schema code of the territory reviewed: COM-49007, EPCI-…, DEP-49, REG-52
    siren       VARCHAR NOT NULL,      -- the collectivité as its access token names it (SIREN, DEP-xx, REG-xx)
    email       VARCHAR NOT NULL,      -- who reviewed, as the token (or ProConnect) identifies them
    jeton       VARCHAR,               -- id of the access token used (NULL with another authenticator)
    relu_le     TIMESTAMPTZ NOT NULL,
    note        VARCHAR                -- the agent's optional comment, at most 1,000 characters
);
