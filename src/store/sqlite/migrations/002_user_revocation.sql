-- Token revocation and soft deletion (docs/security.md S9). Every token
-- carries the token_version it was issued at; bumping it revokes them all.
-- A deleted user keeps the row (deleted_at set), so the name is never reused.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleted_at INTEGER NULL;
-- Deleting a user removes their grants: find them by user.
CREATE INDEX IF NOT EXISTS grants_by_user ON grants (username);
