import type { QueueWriter } from "../broker/queue/queue-ports.ts";
import type { TopicWriter } from "../broker/topic/topic-ports.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { GroupCommitter } from "../store/group-commit.ts";
import type { WriteOp, WriteOutcome } from "../store/store.ts";

/** Called when the store refused a write because another node claimed the resource. */
export type OnFenced = () => void;

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
  onFenced: OnFenced,
): Promise<void> {
  const outcome = await committer.write(op);
  const error = outcomeToError(outcome, kind, name);
  if (error === undefined) return;
  if (outcome === "fenced") onFenced();
  throw error;
}

/** A queue engine's persistence: group-committed writes fenced by the owner's epoch. */
export function createQueueWriter(
  committer: GroupCommitter,
  queue: string,
  epoch: number,
  onFenced: OnFenced,
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
        onFenced,
      ),
    remove: (seqs) =>
      write(committer, { type: "queue.remove", queue, epoch, seqs }, "queue", queue, onFenced),
    update: (changes) =>
      write(committer, { type: "queue.update", queue, epoch, changes }, "queue", queue, onFenced),
  };
}

export function createTopicWriter(
  committer: GroupCommitter,
  topic: string,
  epoch: number,
  onFenced: OnFenced,
): TopicWriter {
  return {
    append: (messages, nextOffset, idempotency) =>
      write(
        committer,
        { type: "topic.append", topic, epoch, messages, nextOffset, idempotency },
        "topic",
        topic,
        onFenced,
      ),
    trim: (beforeOffset) =>
      write(committer, { type: "topic.trim", topic, epoch, beforeOffset }, "topic", topic, onFenced),
  };
}
