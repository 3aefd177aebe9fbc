import { describe, expect, it } from "vitest";
import type { Entry } from "../../src/broker/queue/queue-entry.ts";
import { QueueTimeline } from "../../src/broker/queue/queue-timeline.ts";
import { queueEntry } from "../helpers/queue-message.ts";

function entry(seq: number, availableAt = 0): Entry {
  return queueEntry(seq, {}, { availableAt });
}

function inflight(seq: number, leaseId: number): Entry {
  return queueEntry(seq, { state: "inflight", leaseId });
}

const seqs = (entries: Entry[]) => entries.map((e) => e.msg.seq);

describe("QueueTimeline: delayed messages", () => {
  it("releases delayed entries in time order, only once their time has come", () => {
    const timeline = new QueueTimeline();
    timeline.delay(entry(1, 300));
    timeline.delay(entry(2, 100));
    timeline.delay(entry(3, 200));
    expect(timeline.takeAvailable(99)).toEqual([]);
    expect(seqs(timeline.takeAvailable(200))).toEqual([2, 3]);
    expect(seqs(timeline.takeAvailable(1000))).toEqual([1]);
    expect(timeline.takeAvailable(1000)).toEqual([]);
  });

  it("marks a delayed entry delayed and releases it at exactly its time", () => {
    const timeline = new QueueTimeline();
    const e = entry(1, 100);
    timeline.delay(e);
    expect(e.state).toBe("delayed");
    expect(seqs(timeline.takeAvailable(100))).toEqual([1]);
  });

  it("drops an entry that left the delayed state, and does not let it block later ones", () => {
    const timeline = new QueueTimeline();
    const gone = entry(1, 500);
    const later = entry(2, 600);
    timeline.delay(gone);
    timeline.delay(later);
    gone.state = "leaving";
    // The stale one surfaces first with a time in the future: it must be skipped, not wait.
    expect(seqs(timeline.takeAvailable(600))).toEqual([2]);
    expect(timeline.nextAt()).toBeUndefined();
  });

  it("skips a stale entry whose time has not come without holding back a due one", () => {
    const timeline = new QueueTimeline();
    const gone = entry(1, 50);
    timeline.delay(gone);
    timeline.delay(entry(2, 60));
    gone.state = "ready";
    expect(seqs(timeline.takeAvailable(60))).toEqual([2]);
  });
});

describe("QueueTimeline: ack deadlines", () => {
  it("times out only current leases whose deadline passed, earliest first", () => {
    const timeline = new QueueTimeline();
    const a = inflight(1, 7);
    const b = inflight(2, 8);
    timeline.leased(a, 300);
    timeline.leased(b, 100);
    expect(timeline.takeTimedOut(99)).toEqual([]);
    expect(seqs(timeline.takeTimedOut(100))).toEqual([2]);
    expect(seqs(timeline.takeTimedOut(300))).toEqual([1]);
  });

  it("ignores a lease that was replaced (new lease id) or settled (not in flight)", () => {
    const timeline = new QueueTimeline();
    const replaced = inflight(1, 1);
    const settled = inflight(2, 1);
    const current = inflight(3, 1);
    timeline.leased(replaced, 100);
    timeline.leased(settled, 110);
    timeline.leased(current, 120);
    replaced.leaseId = 2;
    settled.state = "ready";
    expect(seqs(timeline.takeTimedOut(1000))).toEqual([3]);
  });

  it("a stale lease with a future deadline does not hold back a due one behind it", () => {
    const timeline = new QueueTimeline();
    const stale = inflight(1, 1);
    timeline.leased(stale, 500);
    stale.leaseId = 2;
    timeline.leased(inflight(2, 1), 600);
    expect(seqs(timeline.takeTimedOut(600))).toEqual([2]);
  });
});

describe("QueueTimeline.nextAt", () => {
  it("is undefined when nothing is pending", () => {
    expect(new QueueTimeline().nextAt()).toBeUndefined();
  });

  it("is the delayed time when only delays are pending", () => {
    const timeline = new QueueTimeline();
    timeline.delay(entry(1, 250));
    expect(timeline.nextAt()).toBe(250);
  });

  it("is the deadline when only leases are pending", () => {
    const timeline = new QueueTimeline();
    timeline.leased(inflight(1, 1), 400);
    expect(timeline.nextAt()).toBe(400);
  });

  it("is the earlier of the two, whichever it is", () => {
    const first = new QueueTimeline();
    first.delay(entry(1, 250));
    first.leased(inflight(2, 1), 400);
    expect(first.nextAt()).toBe(250);
    const second = new QueueTimeline();
    second.delay(entry(1, 500));
    second.leased(inflight(2, 1), 400);
    expect(second.nextAt()).toBe(400);
  });
});
