-- The concurrent-recordings quota counts a project's running recordings (starting or active)
-- on every start and on GET /v1/rtc/limits: a partial index holds only those, so the count
-- reads as many entries as the project runs, not every recording it ever made.
-- (The other quotas are counted from existing indexes: rooms_live_name, webhooks_page,
-- recording_destinations_page.)
CREATE INDEX recordings_running ON recordings (project_id) WHERE status IN ('starting', 'active');
