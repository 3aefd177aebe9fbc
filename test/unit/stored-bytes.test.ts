import { describe, expect, it } from "vitest";
import { QueueEngine } from "../../src/broker/queue/queue-engine.ts";
import type { QueueWriter } from "../../src/broker/queue/queue-ports.ts";
import { StoredBytes } from "../../src/broker/queue/stored-bytes.ts";
import type { QueueDefinition } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";

const writer: QueueWriter = {
  append: async () => undefined,
  remove: async () => undefined,
  update: async () => undefined,
};

function engineWith(ledger: StoredBytes, overrides: Partial<QueueDefinition> = {}) {
  const clock = new ManualClock();
  const engine = new QueueEngine(
    queueDefinition(overrides),
    { nextSeq: 1 },
    {
      clock,
      writer,
      epoch: 1,
      idempotencyWindowMs: 0,
      deadLetter: async () => undefined,
      storedBytes: ledger,
    },
  );
  return { clock, engine };
}

/** A message whose payload is `bytes` long as stored JSON. */
const message = (publisher: string, bytes: number) => ({
  payload: JSON.stringify("x".repeat(bytes - 2)),
  headers: null,
  delayMs: 0,
  publisher,
});

describe("stored bytes per publisher", () => {
  it("charges a publish, refuses past the limit, and releases on ack", async () => {
    const ledger = new StoredBytes(1000);
    const { engine } = engineWith(ledger);
    await engine.publish([message("alice", 600)]);
    expect(ledger.heldBy("alice")).toBe(600);
    await expect(engine.publish([message("alice", 600)])).rejects.toMatchObject({
      reason: "STORED_BYTES_EXCEEDED",
    });
    await engine.publish([message("bob", 600)]);
    const [delivery] = await engine.receive({ max: 1, waitMs: 0, ackTimeoutMs: undefined });
    await engine.ack([delivery?.receipt as string]);
    expect(ledger.heldBy("alice")).toBe(0);
    expect(ledger.heldBy("bob")).toBe(600);
  });

  it("refuses a whole batch that one publisher cannot hold, charging nobody", async () => {
    const ledger = new StoredBytes(1000);
    const { engine } = engineWith(ledger);
    await expect(engine.publish([message("bob", 100), message("alice", 1200)])).rejects.toBeInstanceOf(
      AvisoError,
    );
    expect(ledger.heldBy("bob")).toBe(0);
    expect(ledger.heldBy("alice")).toBe(0);
  });

  it("releases expired messages and everything when the queue stops being served", async () => {
    const ledger = new StoredBytes(10_000);
    const { clock, engine } = engineWith(ledger, { messageTtlMs: 1000 });
    await engine.publish([message("alice", 100), message("alice", 100)]);
    clock.advance(2000);
    await settle();
    expect(await engine.receive({ max: 10, waitMs: 0, ackTimeoutMs: undefined })).toEqual([]);
    expect(ledger.heldBy("alice")).toBe(0);
    await engine.publish([message("alice", 300)]);
    engine.close(new AvisoError("QUEUE_NOT_FOUND"));
    expect(ledger.heldBy("alice")).toBe(0);
  });
});
