-- Webhook signing secrets are sealed at rest like projects' storage credentials: AES-256-GCM
-- under RTCGATE_ENCRYPTION_KEY with the project id as associated data (`v1.` + hex), opened
-- only to sign a delivery. A value that is not sealed (a plaintext secret of a local database
-- from before this migration) is cleared rather than kept: it never opens, so its endpoint's
-- deliveries fail with a visible error in its health until it is created again.
ALTER TABLE webhooks RENAME COLUMN secret TO sealed_secret;
UPDATE webhooks SET sealed_secret = '' WHERE sealed_secret NOT LIKE 'v1.%';
