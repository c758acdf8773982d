-- Idempotency claims carry the token of the request that owns them: only that request may
-- complete or release its claim, and taking over an abandoned one changes the owner.
ALTER TABLE idempotency ADD COLUMN owner TEXT;
-- Expired keys are purged per project.
DROP INDEX idempotency_age;
CREATE INDEX idempotency_expiry ON idempotency (project_id, created_at_ms);
-- The key listing is ordered by (created_at_ms, id): the index carries both.
DROP INDEX api_keys_by_project;
CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at_ms, id);
