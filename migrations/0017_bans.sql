-- Bans: an identity refused tokens in one room (target = the room id) or in the whole project
-- (target = ''), until expires_at_ms. One row per (project, target, identity): banning again
-- extends the live row, or replaces an ended one. ended_at_ms is set when the ban is deleted
-- or, once expired, by the scheduled job; only rows without it count against the quota.
CREATE TABLE bans (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL,
    target         TEXT NOT NULL,
    identity       TEXT NOT NULL,
    reason         TEXT,
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    ended_at_ms    INTEGER,
    -- Vendor ban rules set for it (JSON: the vendor, its rule id, when it lapses), re-applied
    -- by the scheduled job before they lapse.
    vendor_rule    TEXT,
    rule_due_at_ms INTEGER
);
CREATE UNIQUE INDEX bans_subject ON bans (project_id, target, identity);
-- The project's live bans (an isolate loads them with the API key; the quota counts them),
-- and the keyset listing of them.
CREATE INDEX bans_live ON bans (project_id, created_at_ms, id) WHERE ended_at_ms IS NULL;
-- The scheduled job: live bans past their expiry, and vendor rules due for re-applying.
CREATE INDEX bans_expiry ON bans (expires_at_ms) WHERE ended_at_ms IS NULL;
CREATE INDEX bans_rule_due ON bans (rule_due_at_ms) WHERE rule_due_at_ms IS NOT NULL;

-- The change feed every isolate polls to drop what it remembers of a revoked key or a
-- changed ban within seconds. Writers append in the same batch as the change. AUTOINCREMENT:
-- a seq is never reused, even after retention deleted every row, so a cursor never misses one.
CREATE TABLE changes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX changes_age ON changes (created_at_ms);
