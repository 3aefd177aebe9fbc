/** What a node's queues hold, in memory and in the store only (paged), summed over every queue it serves. */
export interface QueueMemoryTotals {
  heldBytes: number;
  heldMessages: number;
  pagedBytes: number;
  pagedMessages: number;
}

/**
 * The node's budget for un-acked queue messages held in memory
 * (queueMemoryBytes), shared by every queue it serves, and the floor each
 * queue may always hold whatever the others hold (queueMemoryFloorBytes), so
 * one backlog cannot push small, busy queues into paging. Bytes are
 * deliveryBytes (payload, headers and a fixed overhead). So the node holds at
 * most the budget plus one floor per queue that is paging, plus one message
 * per queue (a queue holding nothing always takes its next message).
 */
export class QueueMemory implements QueueMemoryTotals {
  heldBytes = 0;
  heldMessages = 0;
  pagedBytes = 0;
  pagedMessages = 0;

  constructor(
    readonly budgetBytes: number,
    readonly floorBytes: number,
  ) {}

  /** Bytes a queue that holds `queueBytes` in memory may still add. */
  roomFor(queueBytes: number): number {
    return Math.max(0, this.floorBytes - queueBytes, this.budgetBytes - this.heldBytes);
  }

  held(bytes: number, messages: number): void {
    this.heldBytes += bytes;
    this.heldMessages += messages;
  }

  paged(bytes: number, messages: number): void {
    this.pagedBytes += bytes;
    this.pagedMessages += messages;
  }
}

/** A ledger with no bound: nothing is ever paged (engines without a store to page from). */
export function unboundedQueueMemory(): QueueMemory {
  return new QueueMemory(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
}
