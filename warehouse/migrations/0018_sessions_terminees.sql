-- Agents' sessions ended by a logout (webapp/auth.py): their signed cookie, still valid until it
-- expires, no longer opens an agent page in any process. Append-only.

CREATE TABLE sessions_terminees (
    sid       VARCHAR PRIMARY KEY,
    ended_at  TIMESTAMPTZ NOT NULL
);
