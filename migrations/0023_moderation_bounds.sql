-- Bounds on moderation state, for the scheduled job's sweeps.
--
-- Hard mutes that end by themselves: once `mute_expires_at_ms` has passed, the job deletes a
-- row with nothing else to impose, or clears the ended mute from one that keeps a permission
-- override, oldest first, in bounded batches.
CREATE INDEX participant_moderation_mute_expiry ON participant_moderation (mute_expires_at_ms)
    WHERE mute_expires_at_ms IS NOT NULL;

-- Rooms by when they were deleted: the job deletes the moderation rows of rooms deleted
-- recently (a bounded window), through the primary key's (project_id, room_id) prefix.
CREATE INDEX rooms_deleted ON rooms (deleted_at_ms) WHERE deleted_at_ms IS NOT NULL;

-- Timed sessions whose ejection message may have been lost. `handover_at_ms`: the latest time
-- the queued message is due to the consumer (the deadline, or when it was queued if later);
-- NULL while not queued. `attempts`: messages the queue gave up on (dead-lettered) or that
-- were never handed over; the job queues the ejection again until it reaches its bound, then
-- ends the row with a logged reason.
ALTER TABLE timed_sessions ADD COLUMN handover_at_ms INTEGER;
ALTER TABLE timed_sessions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX timed_sessions_overdue ON timed_sessions (handover_at_ms) WHERE queued = 1;
-- Deadlines queued before this migration: their message is due at the deadline.
UPDATE timed_sessions SET handover_at_ms = eject_at_ms WHERE queued = 1;
