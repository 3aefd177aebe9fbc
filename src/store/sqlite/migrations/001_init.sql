-- Aviso schema v1 (SQLite). Mirrors ../../mysql/migrations/001_init.sql:
-- same tables, columns and keys, so both backends pass one conformance suite.
-- TEXT compares with BINARY collation, so names are case-sensitive like ascii_bin.

CREATE TABLE users (
  username TEXT NOT NULL PRIMARY KEY,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- epoch fences stale owners; next_seq is assigned by the owner, never by the database.
CREATE TABLE queues (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  private INTEGER NOT NULL,
  ack_timeout_ms INTEGER NOT NULL,
  max_deliveries INTEGER,
  dead_letter_queue TEXT,
  message_ttl_ms INTEGER,
  max_length INTEGER,
  created_at INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  next_seq INTEGER NOT NULL
);

CREATE TABLE queue_messages (
  queue TEXT NOT NULL,
  seq INTEGER NOT NULL,
  payload TEXT NOT NULL,
  headers TEXT,
  published_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  expires_at INTEGER,
  deliveries INTEGER NOT NULL,
  PRIMARY KEY (queue, seq)
);

CREATE TABLE topics (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  private INTEGER NOT NULL,
  durable INTEGER NOT NULL,
  retention_max_age_ms INTEGER,
  retention_max_messages INTEGER,
  created_at INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  next_offset INTEGER NOT NULL
);

-- "offset" is reserved in MariaDB, hence msg_offset in both backends.
CREATE TABLE topic_messages (
  topic TEXT NOT NULL,
  msg_offset INTEGER NOT NULL,
  routing_key TEXT NOT NULL,
  payload TEXT NOT NULL,
  headers TEXT,
  published_at INTEGER NOT NULL,
  PRIMARY KEY (topic, msg_offset)
);

-- permissions: comma-separated list, e.g. "publish,consume".
CREATE TABLE grants (
  kind TEXT NOT NULL,
  resource TEXT NOT NULL,
  username TEXT NOT NULL,
  permissions TEXT NOT NULL,
  PRIMARY KEY (kind, resource, username)
);

CREATE TABLE bindings (
  topic TEXT NOT NULL,
  queue TEXT NOT NULL,
  pattern TEXT NOT NULL,
  next_offset INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (topic, queue)
);
CREATE INDEX bindings_by_queue ON bindings (queue);

CREATE TABLE idempotency (
  kind TEXT NOT NULL,
  resource TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  result TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (kind, resource, idem_key)
);
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

-- The last epoch of a deleted queue/topic: a re-created one with the same name
-- starts one above it, so an owner of the old incarnation stays fenced.
CREATE TABLE retired_epochs (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  PRIMARY KEY (kind, name)
);
