-- Holds are per change (warehouse/holds.py). Until now `aides acknowledge SOURCE` accepted every
-- pending hold of a source at once: unreadable pages held earlier were accepted along with a genuine
-- drop, and when the same broken page came back it was applied. Now each held payload is one row
-- with an id (R- and 8 hex digits) and its evidence, written once; decisions about it (accepted,
-- refused) and its application by a run are events appended to `source_hold_events`, never updated
-- nor deleted. `source_hold_states` gives one row per hold with its current state.

CREATE TABLE source_holds_per_change (
    hold_id          VARCHAR PRIMARY KEY,  -- R-1a2b3c4d: typed by `aides acknowledge SOURCE HOLD_ID`
    source           VARCHAR NOT NULL,
    digest           VARCHAR NOT NULL,     -- the held payload
    previous_digest  VARCHAR,              -- the payload whose records stayed in use (NULL: before 0020)
    records_before   INTEGER NOT NULL,
    records_after    INTEGER NOT NULL,
    rejected         INTEGER,              -- rejections of the held payload (NULL: not kept before 0020)
    first_rejections JSON NOT NULL,        -- at most 5: [{"emplacement", "raison", "extrait"}]
    reason           VARCHAR NOT NULL,     -- why it is held, in French
    created_at       TIMESTAMPTZ NOT NULL,
    run_id           VARCHAR               -- the run that held it first
);

CREATE SEQUENCE source_hold_events_seq;

CREATE TABLE source_hold_events (
    seq       BIGINT PRIMARY KEY DEFAULT nextval('source_hold_events_seq'),  -- order of the events
    hold_id   VARCHAR NOT NULL,
    event     VARCHAR NOT NULL CHECK (event IN ('accepted', 'refused', 'applied', 'reopened')),
    event_at  TIMESTAMPTZ NOT NULL,
    event_by  VARCHAR,                     -- who decided; NULL when a run applied the payload
    run_id    VARCHAR,                     -- the run that applied the payload
    note      VARCHAR
);

-- Each run held on a payload names its hold.
ALTER TABLE source_runs ADD COLUMN hold_id VARCHAR;

-- The former holds, one per (source, digest), keep their id-to-be, counts, date and first held run.
INSERT INTO source_holds_per_change
SELECT
    'R-' || substr(sha256(h.source || '|' || h.digest), 1, 8),
    h.source,
    h.digest,
    NULL,
    h.previous_records,
    h.new_records,
    NULL,
    '[]',
    'baisse : ' || h.new_records || ' enregistrements au lieu de ' || h.previous_records
        || ' (retenue avant la migration 0020, rejets non conservés)',
    h.held_at,
    (
        SELECT arg_min(r.run_id, r.run_at) FROM source_runs r
        WHERE r.source = h.source AND r.digest = h.digest AND r.status = 'held'
    )
FROM source_holds h;

-- Their acknowledgements were global (every pending hold of the source at once): kept as recorded…
INSERT INTO source_hold_events (hold_id, event, event_at, event_by, note)
SELECT
    'R-' || substr(sha256(source || '|' || digest), 1, 8),
    'accepted',
    acknowledged_at,
    acknowledged_by,
    'acquittement global de la source (aides acknowledge SOURCE, avant la migration 0020)'
FROM source_holds
WHERE acknowledged_at IS NOT NULL
ORDER BY acknowledged_at;

-- … applied when a run parsed that payload after the acknowledgement …
INSERT INTO source_hold_events (hold_id, event, event_at, event_by, run_id, note)
SELECT
    'R-' || substr(sha256(h.source || '|' || h.digest), 1, 8),
    'applied',
    min(r.run_at),
    NULL,
    arg_min(r.run_id, r.run_at),
    'appliqué avant la migration 0020'
FROM source_holds h
JOIN source_runs r ON r.source = h.source AND r.digest = h.digest AND r.status = 'parsed'
    AND r.run_at >= h.acknowledged_at
WHERE h.acknowledged_at IS NOT NULL
GROUP BY h.source, h.digest;

-- … and reopened when never applied: nobody accepted that payload in particular.
INSERT INTO source_hold_events (hold_id, event, event_at, event_by, note)
SELECT
    'R-' || substr(sha256(h.source || '|' || h.digest), 1, 8),
    'reopened',
    now(),
    'migration 0020',
    'acquitté en bloc avec les autres changements de la source et jamais appliqué : à examiner à nouveau'
FROM source_holds h
WHERE h.acknowledged_at IS NOT NULL
    AND NOT EXISTS (
        SELECT 1 FROM source_runs r
        WHERE r.source = h.source AND r.digest = h.digest AND r.status = 'parsed' AND r.run_at >= h.acknowledged_at
    );

UPDATE source_runs SET hold_id = 'R-' || substr(sha256(source || '|' || digest), 1, 8)
WHERE status = 'held' AND digest IS NOT NULL;

-- Everything the former table held is in the two new ones.
DROP TABLE source_holds;
ALTER TABLE source_holds_per_change RENAME TO source_holds;

CREATE VIEW source_hold_states AS
WITH last_event AS (
    SELECT hold_id, event AS last_event
    FROM source_hold_events
    QUALIFY row_number() OVER (PARTITION BY hold_id ORDER BY seq DESC) = 1
),
decision AS (  -- the latest decision; a reopening cancels the one before it
    SELECT hold_id, event AS decision, event_at AS decided_at, event_by AS decided_by, note AS decision_note
    FROM source_hold_events
    WHERE event IN ('accepted', 'refused', 'reopened')
    QUALIFY row_number() OVER (PARTITION BY hold_id ORDER BY seq DESC) = 1
),
applied AS (
    SELECT hold_id, event_at AS applied_at, run_id AS applied_run_id
    FROM source_hold_events
    WHERE event = 'applied'
    QUALIFY row_number() OVER (PARTITION BY hold_id ORDER BY seq DESC) = 1
),
seen AS (
    SELECT hold_id, count(*) AS times_held, max(run_at) AS last_held_at
    FROM source_runs
    WHERE hold_id IS NOT NULL
    GROUP BY hold_id
)
SELECT
    h.*,
    CASE e.last_event
        WHEN 'accepted' THEN 'accepted'
        WHEN 'refused' THEN 'refused'
        WHEN 'applied' THEN 'applied'
        ELSE 'pending'
    END AS status,
    CASE WHEN d.decision IN ('accepted', 'refused') THEN d.decided_at END AS decided_at,
    CASE WHEN d.decision IN ('accepted', 'refused') THEN d.decided_by END AS decided_by,
    d.decision_note,
    a.applied_at,
    a.applied_run_id,
    coalesce(s.times_held, 0) AS times_held,
    s.last_held_at
FROM source_holds h
LEFT JOIN last_event e USING (hold_id)
LEFT JOIN decision d USING (hold_id)
LEFT JOIN applied a USING (hold_id)
LEFT JOIN seen s USING (hold_id);
