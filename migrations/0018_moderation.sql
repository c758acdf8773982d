-- Moderation of one participant in one room: a hard mute (media whose publishing is blocked,
-- until `mute_expires_at_ms` or lifted) and permission overrides (`can_publish`,
-- `can_subscribe`, `can_publish_data`; NULL = the token request decides). Every token issued
-- for the identity while the row holds is minted with it folded in, so rejoining does not undo
-- it. `vendor_rules` is the JSON of the vendor-side rules that enforce it now (Agora kicking
-- rule ids, ZEGO forbidden stream ids), with their own expiry: vendor rules last at most 24 h.
-- The room's rows are read together with the room (a correlated subquery of the room lookup),
-- through the primary key's (project_id, room_id) prefix.
CREATE TABLE participant_moderation (
    project_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    -- Bit set of hard-muted media: 1 audio, 2 video, 4 screen.
    hard_muted INTEGER NOT NULL DEFAULT 0,
    mute_expires_at_ms INTEGER,
    can_publish INTEGER,
    can_subscribe INTEGER,
    can_publish_data INTEGER,
    vendor_rules TEXT,
    rules_expire_at_ms INTEGER,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, room_id, identity)
);
-- Vendor rules due for renewing before their 24 h cap, in every project (the scheduled job's
-- queue; only rows with rules carry an expiry).
CREATE INDEX participant_moderation_rules_due ON participant_moderation (rules_expire_at_ms)
    WHERE rules_expire_at_ms IS NOT NULL;
