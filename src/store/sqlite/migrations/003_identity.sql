-- Aviso schema v3 (SQLite): resources by identity (docs/security.md S4).
-- Mirrors ../../mysql/migrations/003_identity.sql. SQLite DDL is transactional
-- (the whole migration commits or nothing does), so no guards are needed here.
--
-- Queues and topics get an immutable id; new ones get 22 base64url characters
-- from the app, existing rows 32 random hex characters (ids are opaque).
-- A queue's dead-letter target and a binding's two ends are held by id.
-- A binding is 'active' or 'ended'; an ended one copies nothing and says why.

ALTER TABLE queues ADD COLUMN id TEXT;
ALTER TABLE queues ADD COLUMN dead_letter_queue_id TEXT;
ALTER TABLE topics ADD COLUMN id TEXT;
UPDATE queues SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
UPDATE topics SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
UPDATE queues SET dead_letter_queue_id = (SELECT target.id FROM queues AS target WHERE target.name = queues.dead_letter_queue)
  WHERE dead_letter_queue IS NOT NULL AND dead_letter_queue_id IS NULL;
CREATE UNIQUE INDEX queues_by_id ON queues (id);
CREATE UNIQUE INDEX topics_by_id ON topics (id);

ALTER TABLE bindings ADD COLUMN topic_id TEXT NOT NULL DEFAULT '';
ALTER TABLE bindings ADD COLUMN queue_id TEXT NOT NULL DEFAULT '';
ALTER TABLE bindings ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
ALTER TABLE bindings ADD COLUMN ended_reason TEXT;
ALTER TABLE bindings ADD COLUMN ended_at INTEGER;
UPDATE bindings SET topic_id = COALESCE((SELECT id FROM topics WHERE topics.name = bindings.topic), '')
  WHERE topic_id = '';
UPDATE bindings SET queue_id = COALESCE((SELECT id FROM queues WHERE queues.name = bindings.queue), '')
  WHERE queue_id = '';
CREATE INDEX bindings_by_topic_id ON bindings (topic_id);
