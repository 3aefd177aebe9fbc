-- Fencing that holds on a multi-primary cluster (Galera; docs/architecture.md
-- "Fencing on Galera"). Every commit increments `commits` on each queue/topic
-- row it writes for, so that row is in the transaction's write set: a claim
-- (epoch + 1) certified between the commit's epoch read and its COMMIT then
-- conflicts with it, and the commit fails instead of landing on a stale
-- epoch. SELECT … FOR UPDATE alone only locks on the node it runs on.
-- Idempotent: an interrupted migration can run again.
ALTER TABLE queues ADD COLUMN IF NOT EXISTS commits BIGINT NOT NULL DEFAULT 0;
ALTER TABLE topics ADD COLUMN IF NOT EXISTS commits BIGINT NOT NULL DEFAULT 0;
