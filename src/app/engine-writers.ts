import type { QueueWriter } from "../broker/queue/queue-ports.ts";
import type { TopicWriter } from "../broker/topic/topic-ports.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { GroupCommitter } from "../store/group-commit.ts";
import type { WriteOp, WriteOutcome } from "../store/store.ts";

/**
 * Called when a write failed: fenced (another node claimed the resource) or the
 * store failed (the write may or may not have landed). Either way the engine's
 * memory can no longer be trusted and must be dropped and reloaded.
 */
export type OnWriteFailed = (error: AvisoError) => void;

function outcomeToError(
  outcome: WriteOutcome,
  kind: "queue" | "topic",
  name: string,
): AvisoError | undefined {
  if (outcome === "ok") return undefined;
  if (outcome === "fenced") {
    return new AvisoError(
      "FENCED",
      `This node no longer owns ${kind} "${name}"; nothing was written. Retry.`,
    );
  }
  return kind === "queue"
    ? new AvisoError("QUEUE_NOT_FOUND", `Queue "${name}" no longer exists.`)
    : new AvisoError("TOPIC_NOT_FOUND", `Topic "${name}" no longer exists.`);
}

async function write(
  committer: GroupCommitter,
  op: WriteOp,
  kind: "queue" | "topic",
  name: string,
  onWriteFailed: OnWriteFailed,
): Promise<void> {
  let outcome: WriteOutcome;
  try {
    outcome = await committer.write(op);
  } catch (thrown) {
    const error = AvisoError.from(thrown);
    if (error.reason !== "SHUTTING_DOWN") onWriteFailed(error);
    throw error;
  }
  const error = outcomeToError(outcome, kind, name);
  if (error === undefined) return;
  onWriteFailed(error);
  throw error;
}

/** A queue engine's persistence: group-committed writes fenced by the serving node's epoch. */
export function createQueueWriter(
  committer: GroupCommitter,
  queue: string,
  epoch: number,
  onWriteFailed: OnWriteFailed,
): QueueWriter {
  return {
    append: (messages, nextSeq, options) =>
      write(
        committer,
        {
          type: "queue.append",
          queue,
          epoch,
          messages,
          nextSeq,
          ...(options.idempotency.length === 0 ? {} : { idempotency: options.idempotency }),
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
        },
        "queue",
        queue,
        onWriteFailed,
      ),
    remove: (seqs) =>
      write(committer, { type: "queue.remove", queue, epoch, seqs }, "queue", queue, onWriteFailed),
    update: (changes) =>
      write(committer, { type: "queue.update", queue, epoch, changes }, "queue", queue, onWriteFailed),
  };
}

export function createTopicWriter(
  committer: GroupCommitter,
  topic: string,
  epoch: number,
  onWriteFailed: OnWriteFailed,
): TopicWriter {
  return {
    append: (messages, nextOffset, idempotency) =>
      write(
        committer,
        { type: "topic.append", topic, epoch, messages, nextOffset, idempotency },
        "topic",
        topic,
        onWriteFailed,
      ),
    trim: (beforeOffset) =>
      write(committer, { type: "topic.trim", topic, epoch, beforeOffset }, "topic", topic, onWriteFailed),
  };
}
