import { MinHeap } from "../min-heap.ts";
import type { Entry } from "./queue-entry.ts";

/**
 * The times a queue must act on: delayed messages becoming available and
 * leases whose ack deadline passes. Stale heap items (an entry that moved on,
 * a lease that was settled or replaced) are skipped when they surface.
 */
export class QueueTimeline {
  private readonly delayed = new MinHeap<Entry>((entry) => entry.msg.availableAt);
  private readonly deadlines = new MinHeap<{ entry: Entry; leaseId: number; deadline: number }>(
    (item) => item.deadline,
  );

  delay(entry: Entry): void {
    entry.state = "delayed";
    this.delayed.push(entry);
  }

  leased(entry: Entry, deadline: number): void {
    this.deadlines.push({ entry, leaseId: entry.leaseId, deadline });
  }

  /** Delayed entries whose time has come, in time order. */
  takeAvailable(now: number): Entry[] {
    const due: Entry[] = [];
    for (let entry = this.delayed.peek(); entry !== undefined; entry = this.delayed.peek()) {
      if (entry.state === "delayed" && entry.msg.availableAt > now) break;
      this.delayed.pop();
      if (entry.state === "delayed") due.push(entry);
    }
    return due;
  }

  /** In-flight entries whose current lease passed its ack deadline. */
  takeTimedOut(now: number): Entry[] {
    const due: Entry[] = [];
    for (let item = this.deadlines.peek(); item !== undefined; item = this.deadlines.peek()) {
      const current = item.entry.state === "inflight" && item.entry.leaseId === item.leaseId;
      if (current && item.deadline > now) break;
      this.deadlines.pop();
      if (current) due.push(item.entry);
    }
    return due;
  }

  /** The earliest time something may fall due, if any. */
  nextAt(): number | undefined {
    const delayedAt = this.delayed.peek()?.msg.availableAt;
    const deadlineAt = this.deadlines.peek()?.deadline;
    if (delayedAt === undefined) return deadlineAt;
    if (deadlineAt === undefined) return delayedAt;
    return Math.min(delayedAt, deadlineAt);
  }
}
