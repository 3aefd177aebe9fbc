import { describe, expect, it } from "vitest";
import { DeliveryCounts } from "../../src/broker/queue/delivery-counts.ts";
import type { Entry } from "../../src/broker/queue/queue-entry.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { queueEntry } from "../helpers/queue-message.ts";

function entry(seq: number): Entry {
  return queueEntry(seq, { state: "inflight", leaseId: 1 }, { deliveries: 1 });
}

function counts(stillInFlight: (entry: Entry) => boolean = () => true) {
  const clock = new ManualClock();
  const saved: number[][] = [];
  const tracker = new DeliveryCounts(
    clock,
    (entries) => saved.push(entries.map((e) => e.msg.seq)),
    stillInFlight,
  );
  return { clock, saved, tracker };
}

describe("DeliveryCounts (lazy save of in-flight delivery counts)", () => {
  it("saves the deliveries still in flight 250 ms after the first, in one write", () => {
    const { clock, saved, tracker } = counts();
    tracker.delivered(entry(1));
    clock.advance(100);
    tracker.delivered(entry(2));
    clock.advance(149);
    expect(saved).toEqual([]);
    clock.advance(1);
    expect(saved).toEqual([[1, 2]]);
    // Saved once: nothing more later.
    clock.advance(1000);
    expect(saved).toEqual([[1, 2]]);
  });

  it("writes nothing for a delivery acked first, nor for one no longer in flight", () => {
    const acked = entry(1);
    const moved = entry(2);
    const { clock, saved, tracker } = counts((e) => e !== moved);
    tracker.delivered(acked);
    tracker.delivered(moved);
    tracker.forget(acked);
    clock.advance(250);
    expect(saved).toEqual([]);
  });

  it("starts a new window after a save, and none after stop", () => {
    const { clock, saved, tracker } = counts();
    tracker.delivered(entry(1));
    clock.advance(250);
    tracker.delivered(entry(2));
    clock.advance(250);
    expect(saved).toEqual([[1], [2]]);
    tracker.delivered(entry(3));
    tracker.stop();
    clock.advance(1000);
    expect(saved).toEqual([[1], [2]]);
    expect(clock.pendingTimers).toBe(0);
  });
});
