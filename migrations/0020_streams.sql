-- Live streams out: a room composited at its vendor and pushed to RTMP(S) ingests.
-- `outputs` is a JSON list of {output, url_sealed, url (masked), status, error, vendor_ref}:
-- each ingest URL carries a stream key, so it is stored only sealed (AES-256-GCM under the
-- deployment key, bound to the project) and shown only masked.
CREATE TABLE streams (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    room_id          TEXT NOT NULL,
    vendor           TEXT NOT NULL,
    -- LiveKit's egress id; Agora's and ZEGO's handle is the stream id. NULL while a start is
    -- unconfirmed (its vendor call got no answer).
    vendor_stream_id TEXT,
    status           TEXT NOT NULL,
    layout           TEXT NOT NULL,
    audio_only       INTEGER NOT NULL DEFAULT 0,
    video            TEXT NOT NULL,
    outputs          TEXT NOT NULL,
    -- The publishers the vendor was last given a layout for (JSON list, in layout order), and
    -- the sequence number of the last call that changed the stream at the vendor.
    publishers       TEXT NOT NULL DEFAULT '[]',
    seq              INTEGER NOT NULL DEFAULT 1,
    -- As for recordings: only a retry of the same request may adopt a start whose answer was
    -- lost, and only while `answer_lost` = 1.
    request_hash     TEXT NOT NULL,
    answer_lost      INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    started_at_ms    INTEGER NOT NULL,
    ended_at_ms      INTEGER,
    updated_at_ms    INTEGER NOT NULL
);
CREATE INDEX streams_page ON streams (project_id, room_id, started_at_ms DESC, id DESC);
CREATE INDEX streams_by_project ON streams (project_id, started_at_ms DESC, id DESC);
CREATE INDEX streams_by_status ON streams (project_id, status, started_at_ms DESC, id DESC);
