import { describe, expect, it } from "vitest";
import { type ConsumerHost, ConsumerRing, PushConsumer } from "../../src/broker/queue/push-consumer.ts";
import type { AckResult, ConsumerSink } from "../../src/broker/queue/queue-ports.ts";

class RecordingHost implements ConsumerHost {
  readonly calls: string[] = [];
  async ackPushed(
    _consumer: PushConsumer,
    ids: readonly string[],
    settle: "ack" | number,
  ): Promise<AckResult> {
    this.calls.push(`${settle === "ack" ? "ack" : `nack:${settle}`} ${ids.join(",")}`);
    return { acked: ids.length, stale: [] };
  }
  resumeConsumer(): void {
    this.calls.push("resume");
  }
  removeConsumer(): void {
    this.calls.push("remove");
  }
}

function sink(writable?: () => boolean): ConsumerSink {
  return { deliver() {}, closed() {}, ...(writable === undefined ? {} : { writable }) };
}

describe("PushConsumer", () => {
  it("is ready while it has credit and its transport takes more", () => {
    let writable = true;
    const consumer = new PushConsumer(
      new RecordingHost(),
      sink(() => writable),
      2,
    );
    expect(consumer.ready).toBe(true);
    consumer.inFlight.add(1);
    expect(consumer.ready).toBe(true);
    consumer.inFlight.add(2);
    expect(consumer.ready).toBe(false);
    consumer.inFlight.clear();
    writable = false;
    expect(consumer.ready).toBe(false);
  });

  it("a sink without writable() is always writable", () => {
    expect(new PushConsumer(new RecordingHost(), sink(), 1).ready).toBe(true);
  });

  it("hands acks and nacks (with their delay) to its host", async () => {
    const host = new RecordingHost();
    const consumer = new PushConsumer(host, sink(), 4);
    await expect(consumer.ack(["1", "2"])).resolves.toEqual({ acked: 2, stale: [] });
    await consumer.nack(["3"], 250);
    expect(host.calls).toEqual(["ack 1,2", "nack:250 3"]);
  });

  it("asks for a resume until closed, and leaves its host once however often it is closed", () => {
    const host = new RecordingHost();
    const consumer = new PushConsumer(host, sink(), 4);
    consumer.resume();
    consumer.close();
    consumer.close();
    consumer.resume();
    expect(host.calls).toEqual(["resume", "remove"]);
  });
});

describe("ConsumerRing", () => {
  function consumers(count: number) {
    const host = new RecordingHost();
    return Array.from({ length: count }, () => new PushConsumer(host, sink(), 1));
  }

  it("serves ready consumers round-robin, passing the turn only when one was served", () => {
    const ring = new ConsumerRing();
    const [a, b, c] = consumers(3) as [PushConsumer, PushConsumer, PushConsumer];
    for (const consumer of [a, b, c]) ring.add(consumer);
    expect(ring.nextReady()).toBe(a);
    expect(ring.nextReady()).toBe(a); // not served: the turn stays
    ring.served();
    expect(ring.nextReady()).toBe(b);
    ring.served();
    expect(ring.nextReady()).toBe(c);
    ring.served();
    expect(ring.nextReady()).toBe(a);
  });

  it("skips consumers without credit and wraps around to find one", () => {
    const ring = new ConsumerRing();
    const [a, b, c] = consumers(3) as [PushConsumer, PushConsumer, PushConsumer];
    for (const consumer of [a, b, c]) ring.add(consumer);
    ring.nextReady();
    ring.served(); // b's turn
    b.inFlight.add(1);
    c.inFlight.add(2);
    expect(ring.nextReady()).toBe(a);
    ring.served();
    b.inFlight.clear();
    expect(ring.nextReady()).toBe(b);
    a.inFlight.add(3);
    b.inFlight.add(4);
    expect(ring.nextReady()).toBeUndefined();
  });

  it("after serving the last consumer the turn wraps to the first", () => {
    const ring = new ConsumerRing();
    const [a, b] = consumers(2) as [PushConsumer, PushConsumer];
    ring.add(a);
    ring.add(b);
    a.inFlight.add(1);
    expect(ring.nextReady()).toBe(b);
    ring.served();
    a.inFlight.clear();
    expect(ring.nextReady()).toBe(a);
  });

  it("removes only the consumer asked for, and removeAll empties the ring", () => {
    const ring = new ConsumerRing();
    const [a, b, c] = consumers(3) as [PushConsumer, PushConsumer, PushConsumer];
    for (const consumer of [a, b, c]) ring.add(consumer);
    ring.remove(new PushConsumer(new RecordingHost(), sink(), 1)); // not in the ring: nothing happens
    expect(ring.size).toBe(3);
    ring.remove(b);
    expect(ring.size).toBe(2);
    expect(ring.removeAll()).toEqual([a, c]);
    expect(ring.size).toBe(0);
    expect(ring.nextReady()).toBeUndefined();
  });
});
