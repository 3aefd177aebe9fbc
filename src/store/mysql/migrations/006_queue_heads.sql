-- The commit pipeline (docs/architecture.md "Commit pipeline"). On one
-- server, commits read a queue's row with a shared lock and do not write it,
-- so several transactions of one queue can commit side by side; each writes
-- the queue's next seq into its own slot row here instead. A queue's head is
-- the highest of queues.next_seq and its slot rows. Deleted with the queue.
-- Idempotent: an interrupted migration can run again.
CREATE TABLE IF NOT EXISTS queue_heads (
  queue VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  slot SMALLINT NOT NULL,
  next_seq BIGINT NOT NULL,
  PRIMARY KEY (queue, slot)
) ENGINE=InnoDB;
