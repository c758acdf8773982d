-- Rooms belong to a project and live on one vendor. The vendor-side room name is the room id.
-- A deleted room keeps its row (deleted_at_ms set) and frees its name.
CREATE TABLE rooms (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    name             TEXT NOT NULL,
    vendor           TEXT NOT NULL,
    vendor_sid       TEXT,
    max_participants INTEGER,
    empty_timeout_s  INTEGER,
    metadata         TEXT,
    region           TEXT,
    enable_recording INTEGER NOT NULL DEFAULT 0,
    created_at_ms    INTEGER NOT NULL,
    deleted_at_ms    INTEGER
);

-- Names are unique per project among rooms that are not deleted.
CREATE UNIQUE INDEX rooms_live_name ON rooms (project_id, name) WHERE deleted_at_ms IS NULL;
-- Keyset pagination: newest first, id breaks ties.
CREATE INDEX rooms_page ON rooms (project_id, created_at_ms DESC, id DESC) WHERE deleted_at_ms IS NULL;

-- Who has been issued a token for a room. `uid` is a room-stable number for vendors that
-- speak numeric user ids (Agora); list and kick map it back to the identity.
CREATE TABLE participants (
    room_id       TEXT NOT NULL,
    identity      TEXT NOT NULL,
    uid           INTEGER NOT NULL,
    display_name  TEXT,
    metadata      TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (room_id, identity)
);
CREATE UNIQUE INDEX participants_uid ON participants (room_id, uid);

-- Idempotency records for create/start calls: the first response is replayed for a retry.
CREATE TABLE idempotency (
    project_id    TEXT NOT NULL,
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    status        INTEGER,
    body          TEXT,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, scope, key)
);
CREATE INDEX idempotency_age ON idempotency (created_at_ms);
