import type { QueueMessage } from "../types.ts";
import type { DeadLetterCause } from "./queue-ports.ts";

/** Most messages moved to the dead-letter queue in one go. */
const BATCH = 500;

/**
 * Messages on their way to the dead-letter queue. They stay in their queue
 * (and its store) until the dead-letter queue has committed them, so a crash
 * or an unreachable dead-letter queue can only delay the move, never lose the
 * message; a failed move is retried.
 */
export class DeadLetterMover {
  private readonly waiting: Array<{ message: QueueMessage; cause: DeadLetterCause }> = [];
  private moving = false;

  constructor(
    private readonly move: (messages: QueueMessage[], cause: DeadLetterCause) => Promise<void>,
    /** The messages are in the dead-letter queue now: forget them here. */
    private readonly moved: (messages: QueueMessage[]) => void,
    /** A move failed: call run() again later. */
    private readonly retryLater: () => void,
  ) {}

  add(message: QueueMessage, cause: DeadLetterCause): void {
    this.waiting.push({ message, cause });
    void this.run();
  }

  async run(): Promise<void> {
    if (this.moving || this.waiting.length === 0) return;
    this.moving = true;
    const cause = (this.waiting[0] as { cause: DeadLetterCause }).cause;
    const batch = this.waiting.filter((item) => item.cause === cause).slice(0, BATCH);
    try {
      await this.move(
        batch.map((item) => item.message),
        cause,
      );
    } catch {
      this.moving = false;
      this.retryLater();
      return;
    }
    const done = new Set(batch);
    for (let i = this.waiting.length - 1; i >= 0; i -= 1) {
      if (done.has(this.waiting[i] as (typeof this.waiting)[number])) this.waiting.splice(i, 1);
    }
    this.moving = false;
    this.moved(batch.map((item) => item.message));
    void this.run();
  }
}
