import type { QueueMessage } from "../types.ts";

export type EntryState = "ready" | "delayed" | "inflight" | "leaving";

/** One un-acked message as its queue's engine tracks it. */
export interface Entry {
  msg: QueueMessage;
  state: EntryState;
  /** Current lease while in flight; bumps on every delivery so old receipts go stale. */
  leaseId: number;
  /** The push consumer holding it while in flight; null for a pull lease (or not in flight). */
  holder: EntryHolder | null;
  /** Its deliveryBytes: what it holds of the node's queue memory while tracked. */
  bytes: number;
}

/** What an entry needs of the push consumer holding it. */
export interface EntryHolder {
  readonly inFlight: Set<number>;
}
