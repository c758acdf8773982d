-- Recordings of rooms. `vendor_recording_id` is the vendor's handle (LiveKit egress id).
CREATE TABLE recordings (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL,
    room_id             TEXT NOT NULL,
    vendor              TEXT NOT NULL,
    vendor_recording_id TEXT,
    status              TEXT NOT NULL,
    output_uri          TEXT NOT NULL,
    layout              TEXT NOT NULL,
    audio_only          INTEGER NOT NULL DEFAULT 0,
    -- Fingerprint of the start request: only a retry of the same request may adopt a
    -- recording whose start answer was lost.
    request_hash        TEXT NOT NULL,
    -- 1 while the answer to this start is lost (timeout, reset, unreadable): a retry of the
    -- same request gets this record instead of starting another recording.
    answer_lost         INTEGER NOT NULL DEFAULT 0,
    metadata            TEXT,
    error               TEXT,
    files               TEXT,
    started_at_ms       INTEGER NOT NULL,
    ended_at_ms         INTEGER,
    updated_at_ms       INTEGER NOT NULL
);
CREATE INDEX recordings_page ON recordings (project_id, room_id, started_at_ms DESC, id DESC);
CREATE INDEX recordings_by_project ON recordings (project_id, started_at_ms DESC, id DESC);
