-- API keys for services (docs/security.md S14). Only the SHA-256 of each
-- secret is kept; a request finds its key by that hash.
CREATE TABLE IF NOT EXISTS api_keys (
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  username VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name VARCHAR(200) NOT NULL,
  secret_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  -- JSON list of {kind, resource, permissions}; NULL: unscoped.
  scope TEXT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY api_keys_secret_hash (secret_hash),
  KEY api_keys_by_user (username, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
