import { describe, expect, it } from "vitest";
import { QueueEngine } from "../../src/broker/queue/queue-engine.ts";
import type { QueueWriter } from "../../src/broker/queue/queue-ports.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { MemoryCluster, memorySessionTimeoutMs } from "../helpers/memory-cluster.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";
import { RecordingSink } from "../helpers/recording-sink.ts";

/**
 * A lease is trusted by the clock, not only by its flag (docs/architecture.md,
 * "Failing over before the session expires", the paused owner): a process
 * stopped for longer than its session timeout may handle socket input (a
 * consumer's acks) before the timer that notices its silence runs. Its
 * engine must then deliver nothing from memory, and the ownership is dropped
 * as for a lost session.
 */

const writer: QueueWriter = {
  append: async () => {},
  remove: async () => {},
  update: async () => {},
};

const msg = (payload: string) => ({ payload: JSON.stringify(payload), headers: null, delayMs: 0 });

/** A queue owned by A of {A, B}, with its engine gated as EngineHost gates it (mayOwn). */
async function engineOnA() {
  const cluster = new MemoryCluster(new ManualClock());
  const a = await cluster.join("A");
  await cluster.join("B");
  const queue = MemoryCluster.queueOwnedBy("A", ["A", "B"]);
  await a.ownership.ensureOwned("queue", queue);
  const engine = new QueueEngine(
    queueDefinition({ name: queue, ackTimeoutMs: 600_000 }),
    { nextSeq: 1 },
    {
      clock: cluster.clock,
      writer,
      epoch: 1,
      idempotencyWindowMs: 60_000,
      deadLetter: async () => {},
      mayDeliver: () => a.ownership.holds("queue", queue),
    },
  );
  await engine.publish([msg("m1"), msg("m2"), msg("m3")]);
  const sink = new RecordingSink();
  const consumer = engine.addConsumer(sink, 1);
  await settle();
  expect(sink.received.map((delivery) => delivery.payload)).toEqual(['"m1"']);
  return { cluster, a, queue, engine, sink, consumer };
}

describe("lease trusted by the clock", () => {
  it("delivers nothing after a pause longer than the session timeout, before the coordinator's timers ran, and drops the ownership", async () => {
    const { cluster, a, queue, engine, sink, consumer } = await engineOnA();
    // A is stopped (SIGSTOP) past its session timeout: time moves, its timers do not run.
    cluster.clock.pause(memorySessionTimeoutMs + 1);
    // Woken, the first thing it handles is the consumer's ack, which frees prefetch.
    await consumer.ack(["1"]);
    await settle();
    expect(sink.received.map((delivery) => delivery.payload)).toEqual(['"m1"']);
    // A puller is given nothing from memory either.
    await expect(engine.receive({ max: 10, waitMs: 0, ackTimeoutMs: undefined })).resolves.toEqual([]);
    // The ownership went as for a lost session: the engine is dropped and the lease given up.
    expect(a.ownership.holds("queue", queue)).toBe(false);
    const released = cluster.events.flatMap((event) =>
      event.type === "released" ? [`${event.node} ${event.name} ${event.reason}`] : [],
    );
    expect(released).toEqual([`A ${queue} OWNER_UNAVAILABLE`]);
    expect(cluster.ensemble.holders()).toEqual({});
    expect(cluster.errors).toEqual([]);
  });

  it("keeps delivering while the link is down for less than the session timeout", async () => {
    const { cluster, a, queue, sink, consumer } = await engineOnA();
    cluster.ensemble.disconnect("A");
    cluster.clock.advance(memorySessionTimeoutMs - 1);
    await consumer.ack(["1"]);
    await settle();
    expect(sink.received.map((delivery) => delivery.payload)).toEqual(['"m1"', '"m2"']);
    expect(a.ownership.holds("queue", queue)).toBe(true);
  });

  it("keeps delivering after a long run with the link up (the node keeps hearing from the ensemble)", async () => {
    const { cluster, a, queue, sink, consumer } = await engineOnA();
    cluster.clock.advance(memorySessionTimeoutMs * 5);
    await consumer.ack(["1"]);
    await settle();
    expect(sink.received.map((delivery) => delivery.payload)).toEqual(['"m1"', '"m2"']);
    expect(a.ownership.holds("queue", queue)).toBe(true);
  });
});
