-- Aviso schema v1 (MySQL / MariaDB, InnoDB). Mirrors ../../sqlite/migrations/001_init.sql.
-- Portable on purpose: no procedures, triggers or foreign keys (children are
-- deleted explicitly in one transaction), no AUTO_INCREMENT (the owner assigns
-- queue seqs and topic offsets). DDL auto-commits in MySQL, so every statement
-- is idempotent and an interrupted migration can simply run again.
-- Names are ASCII and case-sensitive (ascii_bin) to match SQLite's BINARY compare.

CREATE TABLE IF NOT EXISTS users (
  username VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS queues (
  name VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  private TINYINT NOT NULL,
  ack_timeout_ms BIGINT NOT NULL,
  max_deliveries BIGINT NULL,
  dead_letter_queue VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NULL,
  message_ttl_ms BIGINT NULL,
  max_length BIGINT NULL,
  created_at BIGINT NOT NULL,
  epoch BIGINT NOT NULL,
  next_seq BIGINT NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS queue_messages (
  queue VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq BIGINT NOT NULL,
  payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  headers LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  published_at BIGINT NOT NULL,
  available_at BIGINT NOT NULL,
  expires_at BIGINT NULL,
  deliveries INT NOT NULL,
  PRIMARY KEY (queue, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS topics (
  name VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  private TINYINT NOT NULL,
  durable TINYINT NOT NULL,
  retention_max_age_ms BIGINT NULL,
  retention_max_messages BIGINT NULL,
  created_at BIGINT NOT NULL,
  epoch BIGINT NOT NULL,
  next_offset BIGINT NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- "offset" is reserved in MariaDB, hence msg_offset.
CREATE TABLE IF NOT EXISTS topic_messages (
  topic VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  msg_offset BIGINT NOT NULL,
  routing_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  headers LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  published_at BIGINT NOT NULL,
  PRIMARY KEY (topic, msg_offset)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS grants (
  kind VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  resource VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  username VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  permissions VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  PRIMARY KEY (kind, resource, username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS bindings (
  topic VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  queue VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  pattern TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  next_offset BIGINT NOT NULL,
  created_by VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (topic, queue),
  KEY bindings_by_queue (queue)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- idem_key is client-chosen text: at most 255 characters here.
CREATE TABLE IF NOT EXISTS idempotency (
  kind VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  resource VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idem_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  result LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (kind, resource, idem_key),
  KEY idempotency_by_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The last epoch of a deleted queue/topic: a re-created one with the same name
-- starts one above it, so an owner of the old incarnation stays fenced.
CREATE TABLE IF NOT EXISTS retired_epochs (
  kind VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  epoch BIGINT NOT NULL,
  PRIMARY KEY (kind, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
