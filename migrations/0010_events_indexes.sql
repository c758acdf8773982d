-- Usage of one room over a time range: the project's sessions of that room by start time.
-- It carries `seconds` so the usage query is answered from the index alone.
CREATE INDEX participant_sessions_room_usage ON participant_sessions (project_id, room_id, joined_at_ms, seconds);
