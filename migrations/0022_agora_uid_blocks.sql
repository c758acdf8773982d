-- Agora uids without a central write before the token. An isolate reserves a block of uids
-- for a room by advancing the room's counter in one statement, then hands them out from
-- memory: the counter only grows, so blocks are disjoint and never reused, whichever isolate
-- holds them or however many were lost with an evicted isolate. Recording bots take theirs
-- from the same counter. `next_uid` is the first uid no block holds yet.
CREATE TABLE agora_uid_blocks (
  project_id TEXT    NOT NULL,
  room_id    TEXT    NOT NULL,
  next_uid   INTEGER NOT NULL,
  PRIMARY KEY (project_id, room_id)
) WITHOUT ROWID;

-- Every uid given to an identity in a room, written after the token's response. Two isolates
-- may give one identity two uids: both are rows here, and both map back to that identity
-- (`participants.uid` keeps the first one written). The registry is reached through a room
-- found in its project, as `participants` is.
CREATE TABLE participant_uids (
  room_id       TEXT    NOT NULL,
  uid           INTEGER NOT NULL,
  identity      TEXT    NOT NULL,
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (room_id, uid)
) WITHOUT ROWID;
CREATE INDEX participant_uids_identity ON participant_uids (room_id, identity);
