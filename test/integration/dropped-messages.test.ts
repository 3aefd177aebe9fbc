import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { createQueue, type Delivery, getQueue, publishToQueue, receive } from "../helpers/broker-api.ts";
import { eventually } from "../helpers/eventually.ts";

interface LogLine {
  level: number;
  event?: string;
  queue?: string;
  count?: number;
  cause?: string;
}

/** pino's numeric levels. */
const INFO = 30;
const DEBUG = 20;

// A queue without a dead-letter queue drops what would be dead-lettered (docs/protocol.md "Dead letters"):
// never silently — each drop is counted on /metrics and logged with its queue. One node for this file
// alone, so the node-wide counter moves only by what these tests do (they run one after the other).
describe("messages dropped without a dead-letter queue", () => {
  const lines: LogLine[] = [];
  let node: TestNode;
  let alice: Api;
  let anonymous: Api;

  beforeAll(async () => {
    node = await startTestNode({
      env: { AVISO_LOG_LEVEL: "debug" },
      logTo: { write: (chunk: string) => void lines.push(JSON.parse(chunk) as LogLine) },
    });
    anonymous = new Api(node.url);
    alice = (await newUser(node.url, "alice")).api;
  });
  afterAll(async () => {
    await node?.close();
  });

  /** The counter's value for one cause; absent counts as 0. */
  async function dropped(cause: "max_deliveries" | "expired"): Promise<number> {
    const text = (await anonymous.get<string>("/metrics")).body;
    const sample = new RegExp(`^aviso_messages_dropped_total\\{cause="${cause}"\\} (\\d+)$`, "m").exec(text);
    return sample === null ? 0 : Number(sample[1]);
  }

  const dropLines = (queue: string) =>
    lines.filter((line) => line.event === "messagesDropped" && line.queue === queue);

  it("counts a message dropped at maxDeliveries and logs it at info with its queue", async () => {
    const before = await dropped("max_deliveries");
    const queue = await createQueue(alice, { maxDeliveries: 1 });
    await publishToQueue(alice, queue.name, [{ payload: "poison" }]);
    const [delivery] = await receive(alice, queue.name);
    await alice.post(`/v1/queues/${queue.name}/nack`, { receipts: [(delivery as Delivery).receipt] });
    await eventually(async () => {
      expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
      expect(await dropped("max_deliveries")).toBe(before + 1);
    });
    expect(dropLines(queue.name)).toEqual([
      expect.objectContaining({ level: INFO, count: 1, cause: "max_deliveries" }),
    ]);
  });

  it("counts messages that expired undelivered and logs them at debug", async () => {
    const before = await dropped("expired");
    const queue = await createQueue(alice, { messageTtlMs: 250 });
    await publishToQueue(alice, queue.name, [{ payload: "late" }, { payload: "later" }]);
    await eventually(async () => {
      expect(await dropped("expired")).toBe(before + 2);
    });
    expect(await getQueue(alice, queue.name)).toMatchObject({ depth: 0, inFlight: 0 });
    const logged = dropLines(queue.name);
    expect(logged.every((line) => line.level === DEBUG && line.cause === "expired")).toBe(true);
    expect(logged.reduce((sum, line) => sum + (line.count ?? 0), 0)).toBe(2);
  });
});
