import type { Entry, EntryState } from "../../src/broker/queue/queue-entry.ts";
import type { QueueMessage } from "../../src/broker/types.ts";

/** A small stored queue message for unit tests: payload `{}`, available and published at 0, no TTL. */
export function queueMessage(seq: number, fields: Partial<QueueMessage> = {}): QueueMessage {
  return {
    seq,
    payload: "{}",
    headers: null,
    publishedAt: 0,
    availableAt: 0,
    expiresAt: null,
    deliveries: 0,
    ...fields,
  };
}

/** An engine entry around `queueMessage(seq, fields)`. */
export function queueEntry(
  seq: number,
  entry: { state?: EntryState; leaseId?: number } = {},
  fields: Partial<QueueMessage> = {},
): Entry {
  return {
    msg: queueMessage(seq, fields),
    state: entry.state ?? "ready",
    leaseId: entry.leaseId ?? 0,
    holder: null,
    bytes: 0,
  };
}
