-- Recording bots in the participant registry. A vendor whose recorder joins the room as a
-- member (Agora Cloud Recording) gets a uid from the same per-room sequence as people, so it
-- can never take a person's uid; `is_bot` keeps it out of participant lists and kicks.
ALTER TABLE participants ADD COLUMN is_bot INTEGER NOT NULL DEFAULT 0;
