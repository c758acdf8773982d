-- Projects' own recording storage. The credentials are sealed (AES-256-GCM under
-- RTCGATE_ENCRYPTION_KEY, the project id as associated data) and never leave the Worker.
CREATE TABLE recording_destinations (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL,
    kind               TEXT NOT NULL,
    bucket             TEXT NOT NULL,
    -- A folder: empty or ending in '/'. An output_uri under it uses this destination.
    prefix             TEXT NOT NULL,
    sealed_credentials TEXT NOT NULL,
    created_at_ms      INTEGER NOT NULL
);
-- One destination per place; also serves the lookup of a start's bucket.
CREATE UNIQUE INDEX recording_destinations_place ON recording_destinations (project_id, kind, bucket, prefix);
CREATE INDEX recording_destinations_page ON recording_destinations (project_id, created_at_ms DESC, id DESC);

-- Starts whose answer has not reached the client yet, looked up by a retry of the same request
-- (adopted within the adoption window, reconciled after it).
CREATE INDEX recordings_unanswered ON recordings (project_id, request_hash, started_at_ms) WHERE answer_lost = 1;
