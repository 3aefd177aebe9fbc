import { Fifo } from "../fifo.ts";
import { MinHeap } from "../min-heap.ts";
import type { Entry } from "./queue-entry.ts";

/**
 * The messages a queue can deliver now, lowest sequence number first: a FIFO
 * of never-delivered ones (they arrive in seq order, so O(1)) and a heap of
 * the ones that came back (nack, timeout, consumer gone, delay over), which
 * therefore go before newer messages. Entries that left meanwhile are skipped.
 */
export class ReadyMessages {
  private readonly fresh = new Fifo<Entry>();
  private readonly returned = new MinHeap<Entry>((entry) => entry.msg.seq);

  add(entry: Entry, returned: boolean): void {
    entry.state = "ready";
    if (returned) this.returned.push(entry);
    else this.fresh.push(entry);
  }

  /**
   * The next deliverable entry; ones whose TTL passed go to `expire` instead.
   * An entry `fits` refuses stays where it is (a bounded page stops before it).
   */
  take(now: number, expire: (entry: Entry) => void, fits?: (entry: Entry) => boolean): Entry | undefined {
    for (;;) {
      const returned = this.returned.peek();
      const fresh = this.fresh.peek();
      const fromReturned =
        returned !== undefined && (fresh === undefined || returned.msg.seq < fresh.msg.seq);
      const entry = fromReturned ? returned : fresh;
      if (entry === undefined) return undefined;
      const usable = entry.state === "ready" && (entry.msg.expiresAt === null || entry.msg.expiresAt > now);
      if (usable && fits !== undefined && !fits(entry)) return undefined;
      if (fromReturned) this.returned.pop();
      else this.fresh.shift();
      if (entry.state !== "ready") continue;
      if (!usable) {
        expire(entry);
        continue;
      }
      return entry;
    }
  }

  /** TTL is the same for every message of a queue, so never-delivered messages expire in queue order. */
  expireHead(now: number, expire: (entry: Entry) => void): void {
    for (let entry = this.fresh.peek(); entry !== undefined; entry = this.fresh.peek()) {
      if (entry.state === "ready" && (entry.msg.expiresAt === null || entry.msg.expiresAt > now)) return;
      this.fresh.shift();
      if (entry.state === "ready") expire(entry);
    }
  }

  /** When the oldest never-delivered message expires, if it does. */
  nextExpiry(): number | undefined {
    return this.fresh.peek()?.msg.expiresAt ?? undefined;
  }
}
