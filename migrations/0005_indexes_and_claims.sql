-- Idempotency claims carry the token of the request that owns them: only that request may
-- complete or release its claim, and taking over an abandoned one changes the owner.
ALTER TABLE idempotency ADD COLUMN owner TEXT;
-- Expired keys are purged per project.
DROP INDEX idempotency_age;
CREATE INDEX idempotency_expiry ON idempotency (project_id, created_at_ms);
