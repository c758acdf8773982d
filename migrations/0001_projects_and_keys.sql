-- Projects own API keys (and, through them, rooms). Keys are stored as SHA-256 hashes only.
CREATE TABLE projects (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id),
    key_hash      TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    last4         TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);

CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at_ms);
