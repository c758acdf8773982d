-- Normalized events from vendor webhooks. Each vendor event is stored once (`dedupe_key` per
-- vendor); `seq` numbers the events of one vendor room in arrival order, for receivers that
-- order. Events for rooms we do not know are kept with no project.
CREATE TABLE events (
    id             TEXT PRIMARY KEY,
    project_id     TEXT,
    room_id        TEXT,
    vendor         TEXT NOT NULL,
    vendor_room    TEXT NOT NULL,
    dedupe_key     TEXT NOT NULL,
    type           TEXT NOT NULL,
    identity       TEXT,
    seq            INTEGER NOT NULL,
    occurred_at_ms INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    data           TEXT NOT NULL
);
CREATE UNIQUE INDEX events_once ON events (vendor, dedupe_key);
CREATE UNIQUE INDEX events_room_seq ON events (vendor, vendor_room, seq);
-- Keyset pages, newest first: the project's events, one room's, one type's.
CREATE INDEX events_page ON events (project_id, received_at_ms DESC, id DESC);
CREATE INDEX events_room_page ON events (project_id, room_id, received_at_ms DESC, id DESC);
CREATE INDEX events_type_page ON events (project_id, type, received_at_ms DESC, id DESC);

-- Signature nonces of vendors whose signature does not cover the body (ZEGO): a nonce seen
-- with another body is a replay. Kept a little longer than the accepted timestamp window.
CREATE TABLE vendor_nonces (
    vendor      TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    seen_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (vendor, nonce)
);
CREATE INDEX vendor_nonces_age ON vendor_nonces (seen_at_ms);

-- When each registered participant was last seen joining and leaving, from vendor events.
ALTER TABLE participants ADD COLUMN joined_at_ms INTEGER;
ALTER TABLE participants ADD COLUMN left_at_ms INTEGER;

-- One presence of a participant in a room (a vendor session), for usage metering.
-- `seconds` is set once the session is closed (left, or the room finished).
CREATE TABLE participant_sessions (
    room_id       TEXT NOT NULL,
    session_key   TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    identity      TEXT NOT NULL,
    joined_at_ms  INTEGER,
    left_at_ms    INTEGER,
    seconds       INTEGER,
    PRIMARY KEY (room_id, session_key)
);
CREATE INDEX participant_sessions_usage ON participant_sessions (project_id, joined_at_ms);
CREATE INDEX participant_sessions_open ON participant_sessions (room_id, left_at_ms);

-- Webhook endpoints of a project. The signing secret is kept to sign deliveries; it is shown
-- only when the endpoint is created.
CREATE TABLE webhooks (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL,
    url                  TEXT NOT NULL,
    types                TEXT,
    secret               TEXT NOT NULL,
    created_at_ms        INTEGER NOT NULL,
    deleted_at_ms        INTEGER,
    last_attempt_at_ms   INTEGER,
    last_status          INTEGER,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    delivered            INTEGER NOT NULL DEFAULT 0,
    dead_lettered        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_page ON webhooks (project_id, created_at_ms DESC, id DESC) WHERE deleted_at_ms IS NULL;

-- One event to one endpoint. `state` is pending until delivered, or dead after the last attempt.
CREATE TABLE webhook_deliveries (
    id            TEXT PRIMARY KEY,
    webhook_id    TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    last_status   INTEGER,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (webhook_id, event_id);
