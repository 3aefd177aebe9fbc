-- Queue segments (docs/architecture.md "Queue segments on MySQL";
-- src/store/mysql/queue-segments.ts has the body format). A commit's messages
-- of one queue are one row here instead of one row each in queue_messages;
-- removed messages are runs in queue_acks; redeliveries and nacks override a
-- message's deliveries and available_at in queue_message_state.
-- Messages stored before this migration move into one-message segments, and
-- queue_messages stays empty. Idempotent: an interrupted migration can run
-- again (INSERT IGNORE skips what was copied; the copy and the emptying are
-- one transaction).
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
START TRANSACTION;
INSERT IGNORE INTO queue_segments (queue, first_seq, last_seq, messages, acked, body)
  SELECT queue, seq, seq, 1, 0, CONCAT(
    seq, ' ', published_at, ' ', available_at, ' ', IFNULL(expires_at, '-'), ' ', deliveries, ' ',
    LENGTH(payload), ' ', IFNULL(LENGTH(headers), '-'), CHAR(10), CHAR(10), payload, IFNULL(headers, ''))
  FROM queue_messages;
DELETE FROM queue_messages;
COMMIT;
