-- A vendor event is stored before its vendor gets a 2xx; its effects (sessions, recording status,
-- webhook deliveries) are applied after, from what is stored here. `effects` is what applying the
-- event does (JSON, NULL when nothing); `effects_due_at_ms` is when a redo may pick it up, NULL once
-- its effects are done. Events stored before this migration had their effects applied already.
ALTER TABLE events ADD COLUMN effects TEXT;
ALTER TABLE events ADD COLUMN effects_due_at_ms INTEGER;
-- The redo sweep reads the events whose effects are due, oldest due first, across projects.
CREATE INDEX events_effects_due ON events (effects_due_at_ms) WHERE effects_due_at_ms IS NOT NULL;
