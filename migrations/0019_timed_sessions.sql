-- Timed sessions: the deadline of the latest token issued with `max_session_s` or `eject_at`,
-- per participant of a room. The ejection queued for a deadline acts only while its deadline
-- is still the one stored here (a later token replaced it otherwise); the row goes once the
-- ejection has run. `queued` = 0 while the deadline is further away than a queue message can
-- be delayed (12 h): the scheduled job queues those as their deadline comes within reach.
CREATE TABLE timed_sessions (
  project_id   TEXT    NOT NULL,
  room_id      TEXT    NOT NULL,
  identity     TEXT    NOT NULL,
  eject_at_ms  INTEGER NOT NULL,
  issued_at_ms INTEGER NOT NULL,
  queued       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, room_id, identity)
) WITHOUT ROWID;

-- The scheduled job's sweep: deadlines not yet queued, soonest first.
CREATE INDEX timed_sessions_unqueued ON timed_sessions (eject_at_ms) WHERE queued = 0;
