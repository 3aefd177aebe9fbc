-- API keys for services (docs/security.md S14). Only the SHA-256 of each
-- secret is kept; a request finds its key by that hash.
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT NOT NULL PRIMARY KEY,
  username TEXT NOT NULL,
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  -- JSON list of {kind, resource, permissions}; NULL: unscoped.
  scope TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);

CREATE INDEX IF NOT EXISTS api_keys_by_user ON api_keys (username, created_at);
