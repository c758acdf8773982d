-- Session history and presence (`GET /v1/rtc/session/*`, `GET /v1/rtc/presence`).
--
-- Each participant session gets a public id, `ses_` + 22 characters, set when its row is first
-- written and never changed (events that redo the row leave it). Rows written before this
-- migration get one here: 22 hex digits, of the same character set.
ALTER TABLE participant_sessions ADD COLUMN id TEXT;
UPDATE participant_sessions SET id = 'ses_' || lower(hex(randomblob(11))) WHERE id IS NULL;
CREATE UNIQUE INDEX participant_sessions_id ON participant_sessions (id);

-- The project's sessions newest join first (the keyset is joined_at_ms, then id), optionally
-- of one room or of one identity; `from`/`to` bound the join time inside the same range.
CREATE INDEX participant_sessions_page ON participant_sessions (project_id, joined_at_ms, id);
CREATE INDEX participant_sessions_room_page ON participant_sessions (project_id, room_id, joined_at_ms, id);
CREATE INDEX participant_sessions_identity_page ON participant_sessions (project_id, identity, joined_at_ms, id);

-- Presence: an identity's open sessions only, so the read stays as small as the rooms it is in
-- however long its history grows.
CREATE INDEX participant_sessions_present ON participant_sessions (project_id, identity, joined_at_ms, id)
    WHERE left_at_ms IS NULL;
