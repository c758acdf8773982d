-- Retention (the scheduled job, src/app/maintenance.rs): each kind of old row is deleted oldest
-- first in bounded batches, so each needs an index on its age. These deletes are not scoped by
-- project: they sweep the shared database for every project alike.
CREATE INDEX events_age ON events (received_at_ms);
-- A delivery's age is its last attempt (a retried delivery is younger than its event).
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (updated_at_ms);
-- Expired idempotency records of every project (`idempotency_expiry` leads with the project).
CREATE INDEX idempotency_age ON idempotency (created_at_ms);
-- Finished sessions by their end.
CREATE INDEX participant_sessions_ended ON participant_sessions (left_at_ms) WHERE left_at_ms IS NOT NULL;

-- Reconciliation of open sessions against the vendors' participant lists. `checked_at_ms`:
-- when a run last compared the session with its vendor's list (0: never), so each run takes
-- the sessions checked longest ago. `seen_at_ms`: when a run last found its identity listed;
-- a session whose identity a later run misses is closed at that time (or at its join if no
-- run saw it).
ALTER TABLE participant_sessions ADD COLUMN checked_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE participant_sessions ADD COLUMN seen_at_ms INTEGER;
CREATE INDEX participant_sessions_unchecked ON participant_sessions (checked_at_ms) WHERE left_at_ms IS NULL;
CREATE INDEX participant_sessions_room_unchecked ON participant_sessions (room_id, checked_at_ms)
    WHERE left_at_ms IS NULL;
