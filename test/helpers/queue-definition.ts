import type { QueueDefinition } from "../../src/broker/types.ts";

/** A queue definition with every setting at its default, for engine-level unit tests. */
export function queueDefinition(overrides: Partial<QueueDefinition> = {}): QueueDefinition {
  return {
    id: "jobs-id",
    name: "jobs",
    creator: "alice",
    private: false,
    createdAt: 0,
    ackTimeoutMs: 1000,
    maxDeliveries: null,
    deadLetterQueue: null,
    deadLetterQueueId: null,
    messageTtlMs: null,
    maxLength: null,
    ...overrides,
  };
}
