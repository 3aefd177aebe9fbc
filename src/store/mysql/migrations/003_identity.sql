-- Aviso schema v3 (MySQL / MariaDB): resources by identity (docs/security.md S4).
-- Mirrors ../../sqlite/migrations/003_identity.sql.
--
-- Queues and topics get an immutable id; new ones get 22 base64url characters
-- from the app, existing rows 32 hex characters (ids are opaque). A queue's
-- dead-letter target and a binding's two ends are held by id. A binding is
-- 'active' or 'ended'; an ended one copies nothing and says why.
--
-- DDL auto-commits, so every step can run again after an interruption: a
-- schema change runs only when information_schema says it has not happened
-- yet (a prepared statement, since plain SQL has no IF around DDL and 001
-- keeps to no procedures), and each backfill only touches rows still unset.
-- One ALTER with several clauses is atomic, so checking one column suffices.

SET @aviso_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'queues' AND column_name = 'id') = 0,
  'ALTER TABLE queues ADD COLUMN id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL, ADD COLUMN dead_letter_queue_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL',
  'DO 0');
PREPARE aviso_ddl FROM @aviso_ddl;
EXECUTE aviso_ddl;
DEALLOCATE PREPARE aviso_ddl;

SET @aviso_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'topics' AND column_name = 'id') = 0,
  'ALTER TABLE topics ADD COLUMN id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL',
  'DO 0');
PREPARE aviso_ddl FROM @aviso_ddl;
EXECUTE aviso_ddl;
DEALLOCATE PREPARE aviso_ddl;

UPDATE queues SET id = MD5(CONCAT(UUID(), RAND())) WHERE id IS NULL;
UPDATE topics SET id = MD5(CONCAT(UUID(), RAND())) WHERE id IS NULL;
UPDATE queues AS q JOIN queues AS target ON target.name = q.dead_letter_queue
  SET q.dead_letter_queue_id = target.id
  WHERE q.dead_letter_queue_id IS NULL;

SET @aviso_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'queues' AND index_name = 'queues_by_id') = 0,
  'ALTER TABLE queues MODIFY id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, ADD UNIQUE KEY queues_by_id (id)',
  'DO 0');
PREPARE aviso_ddl FROM @aviso_ddl;
EXECUTE aviso_ddl;
DEALLOCATE PREPARE aviso_ddl;

SET @aviso_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'topics' AND index_name = 'topics_by_id') = 0,
  'ALTER TABLE topics MODIFY id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, ADD UNIQUE KEY topics_by_id (id)',
  'DO 0');
PREPARE aviso_ddl FROM @aviso_ddl;
EXECUTE aviso_ddl;
DEALLOCATE PREPARE aviso_ddl;

SET @aviso_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'bindings' AND column_name = 'topic_id') = 0,
  'ALTER TABLE bindings ADD COLUMN topic_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '''', ADD COLUMN queue_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '''', ADD COLUMN state VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT ''active'', ADD COLUMN ended_reason VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL, ADD COLUMN ended_at BIGINT NULL, ADD KEY bindings_by_topic_id (topic_id)',
  'DO 0');
PREPARE aviso_ddl FROM @aviso_ddl;
EXECUTE aviso_ddl;
DEALLOCATE PREPARE aviso_ddl;

UPDATE bindings AS b JOIN topics AS t ON t.name = b.topic SET b.topic_id = t.id WHERE b.topic_id = '';
UPDATE bindings AS b JOIN queues AS q ON q.name = b.queue SET b.queue_id = q.id WHERE b.queue_id = '';
