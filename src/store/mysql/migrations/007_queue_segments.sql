-- Queue segments (docs/architecture.md "Queue segments on MySQL";
-- src/store/mysql/queue-segments.ts has the body format). A commit's messages
-- of one queue are one row here instead of one row each in queue_messages;
-- removed messages are runs in queue_acks; redeliveries and nacks override a
-- message's deliveries and available_at in queue_message_state.
CREATE TABLE IF NOT EXISTS queue_segments (
  queue VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  first_seq BIGINT NOT NULL,
  last_seq BIGINT NOT NULL,
  messages INT NOT NULL,
  acked INT NOT NULL DEFAULT 0,
  body LONGBLOB NOT NULL,
  PRIMARY KEY (queue, first_seq)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS queue_acks (
  queue VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  first_seq BIGINT NOT NULL,
  last_seq BIGINT NOT NULL,
  PRIMARY KEY (queue, first_seq)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS queue_message_state (
  queue VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq BIGINT NOT NULL,
  deliveries INT NOT NULL,
  available_at BIGINT NOT NULL,
  PRIMARY KEY (queue, seq)
) ENGINE=InnoDB;
-- Messages stored before this migration: the table is renamed first, so a
-- node still on an older version mid-upgrade can no longer write to it (its
-- commits fail and nothing it answers is acknowledged), then its rows are
-- copied as one-message segments. The renamed table stays, as it was, for the
-- operator to drop (docs/operations.md "MySQL / MariaDB"). Idempotent: the
-- rename runs only while queue_messages exists and queue_messages_007 does
-- not (information_schema, as in 003), and the copy skips what it copied.
SET @aviso_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.tables
    WHERE table_schema = DATABASE() AND table_name = 'queue_messages') = 1
  AND (SELECT COUNT(*) FROM information_schema.tables
    WHERE table_schema = DATABASE() AND table_name = 'queue_messages_007') = 0,
  'RENAME TABLE queue_messages TO queue_messages_007',
  'DO 0');
PREPARE aviso_ddl FROM @aviso_ddl;
EXECUTE aviso_ddl;
DEALLOCATE PREPARE aviso_ddl;
-- OCTET_LENGTH: bytes in every sql_mode (LENGTH counts characters under ORACLE).
INSERT INTO queue_segments (queue, first_seq, last_seq, messages, acked, body)
  SELECT m.queue, m.seq, m.seq, 1, 0, CONCAT(
    m.seq, ' ', m.published_at, ' ', m.available_at, ' ', IFNULL(m.expires_at, '-'), ' ', m.deliveries, ' ',
    OCTET_LENGTH(m.payload), ' ', IFNULL(OCTET_LENGTH(m.headers), '-'), CHAR(10), CHAR(10),
    m.payload, IFNULL(m.headers, ''))
  FROM queue_messages_007 m
  WHERE NOT EXISTS (SELECT 1 FROM queue_segments s WHERE s.queue = m.queue AND s.first_seq = m.seq);
