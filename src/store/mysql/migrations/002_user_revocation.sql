-- Token revocation and soft deletion (docs/security.md S9). Every token
-- carries the token_version it was issued at; bumping it revokes them all.
-- A deleted user keeps the row (deleted_at set), so the name is never reused.
-- MySQL DDL is not transactional: every statement is idempotent, so a
-- migration interrupted half way can run again.
ALTER TABLE users ADD COLUMN IF NOT EXISTS token_version INT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN IF NOT EXISTS deleted_at BIGINT NULL;
-- Deleting a user removes their grants: find them by user.
CREATE INDEX IF NOT EXISTS grants_by_user ON grants (username);
