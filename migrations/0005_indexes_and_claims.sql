-- Idempotency claims carry the token of the request that owns them: only that request may
-- complete or release its claim, and taking over an abandoned one changes the owner.
ALTER TABLE idempotency ADD COLUMN owner TEXT;
-- Expired keys are purged per project.
DROP INDEX idempotency_age;
CREATE INDEX idempotency_expiry ON idempotency (project_id, created_at_ms);
-- The key listing is ordered by (created_at_ms, id): the index carries both.
DROP INDEX api_keys_by_project;
CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at_ms, id);
-- A room's vendor is confirmed once its create has a vendor's answer; until then the row
-- only reserves the name (its vendor may still change by failover). Existing rooms are settled.
ALTER TABLE rooms ADD COLUMN vendor_confirmed INTEGER NOT NULL DEFAULT 1;
