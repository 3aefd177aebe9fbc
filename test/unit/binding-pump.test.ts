import { describe, expect, it } from "vitest";
import { BindingPump } from "../../src/app/binding-pump.ts";
import type { ServedTopics } from "../../src/app/serving-nodes.ts";
import { QueueEngine } from "../../src/broker/queue/queue-engine.ts";
import type { QueueWriter } from "../../src/broker/queue/queue-ports.ts";
import type { QueueMessage, TopicMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { FakeTopicFeed } from "../helpers/fake-topic-feed.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";

/** The topic's committed log, shared by every feed opened on it. */
class TopicLog {
  readonly messages: TopicMessage[] = [];
  readonly feeds: FakeFeed[] = [];

  commit(key: string): void {
    const message = { offset: this.messages.length, key, payload: `"${key}"`, headers: null, publishedAt: 0 };
    this.messages.push(message);
    for (const feed of this.feeds) feed.committed([message]);
  }
}

class FakeFeed extends FakeTopicFeed {
  constructor(private readonly log: TopicLog) {
    super("events");
  }

  nextOffset(): number {
    return this.log.messages.length;
  }
  firstOffset(): number {
    return 0;
  }
  async read(fromOffset: number, limit: number): Promise<TopicMessage[]> {
    if (this.ended) throw new AvisoError("STORE_UNAVAILABLE");
    return this.log.messages.slice(fromOffset, fromOffset + limit);
  }
}

class StoredQueue implements QueueWriter {
  readonly stored: QueueMessage[] = [];
  /** The next appends fail with these, one each. */
  readonly failures: AvisoError[] = [];
  async append(messages: QueueMessage[]): Promise<void> {
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    this.stored.push(...messages);
  }
  async remove(): Promise<void> {}
  async update(): Promise<void> {}
}

function setup(
  stillBound: () => Promise<boolean> = async () => true,
  mayCopy: (pump: BindingPump) => Promise<boolean> = async () => true,
  maxLength: number | null = null,
) {
  const clock = new ManualClock();
  const log = new TopicLog();
  const queue = new StoredQueue();
  const engine = new QueueEngine(
    queueDefinition({ name: "copies", maxLength }),
    { nextSeq: 1 },
    { clock, writer: queue, epoch: 1, idempotencyWindowMs: 60_000, deadLetter: async () => {} },
  );
  const topics: ServedTopics = {
    publish: async () => [],
    head: async () => ({ nextOffset: log.messages.length, firstOffset: 0 }),
    feed: async () => {
      const feed = new FakeFeed(log);
      log.feeds.push(feed);
      return feed;
    },
  };
  const errors: unknown[] = [];
  const pump: BindingPump = new BindingPump(
    {
      topic: "events",
      queue: "copies",
      topicId: "events-id",
      queueId: "copies-id",
      pattern: "a.*",
      nextOffset: 0,
      createdBy: "alice",
      createdAt: 0,
      state: "active",
      endedReason: null,
      endedAt: null,
    },
    engine,
    topics,
    clock,
    (error) => errors.push(error),
    stillBound,
    () => mayCopy(pump),
  );
  const copied = () => queue.stored.map((message) => message.payload);
  return { clock, log, pump, copied, errors, queue, engine };
}

describe("BindingPump", () => {
  it("copies matching messages, then follows the topic again after its feed ends with a store failure", async () => {
    const { clock, log, pump, copied } = setup();
    pump.start();
    await settle();
    log.commit("a.1");
    log.commit("b.1");
    await settle();
    expect(copied()).toEqual(['"a.1"']);

    // The topic's engine was dropped after a failed write: its feed ends, the queue is still ours.
    log.feeds[0]?.end(new AvisoError("STORE_UNAVAILABLE"));
    log.commit("a.2");
    await settle();
    expect(copied()).toEqual(['"a.1"']);

    clock.advance(1000);
    await settle();
    await settle();
    log.commit("a.3");
    await settle();
    expect(log.feeds).toHaveLength(2);
    expect(copied()).toEqual(['"a.1"', '"a.2"', '"a.3"']);
    pump.stop();
  });

  it("copies a page with more matches than the queue has room for in parts, as its consumers make room", async () => {
    const { clock, log, pump, copied, engine } = setup(undefined, undefined, 2);
    for (const key of ["a.1", "b.1", "a.2", "a.3"]) log.commit(key);
    pump.start();
    await settle();
    await settle();
    expect(copied()).toEqual(['"a.1"', '"a.2"']);
    const held = await engine.receive({ max: 10, waitMs: 0, ackTimeoutMs: undefined });
    await engine.ack(held.map((delivery) => delivery.receipt));
    clock.advance(1000);
    await settle();
    await settle();
    expect(copied()).toEqual(['"a.1"', '"a.2"', '"a.3"']);
    expect(pump.stopped).toBe(false);
  });

  it("never follows a topic re-created under the name after its feed ended: the binding no longer holds", async () => {
    let bound = true;
    const { clock, log, pump, copied } = setup(async () => bound);
    pump.start();
    await settle();
    log.commit("a.1");
    await settle();
    expect(copied()).toEqual(['"a.1"']);
    // In a cluster the feed of a deleted topic may end like any lost link; meanwhile the delete ended the binding.
    log.feeds[0]?.end(new AvisoError("OWNER_UNAVAILABLE"));
    bound = false;
    log.commit("a.2");
    clock.advance(1000);
    await settle();
    await settle();
    log.commit("a.3");
    await settle();
    expect(copied()).toEqual(['"a.1"']);
    expect(pump.stopped).toBe(true);
  });

  it("copies nothing when the binding ended before the pump first attached", async () => {
    const { log, pump, copied } = setup(async () => false);
    pump.start();
    await settle();
    log.commit("a.1");
    await settle();
    expect(copied()).toEqual([]);
    expect(pump.stopped).toBe(true);
  });

  it("stops for good when the topic is deleted", async () => {
    const { clock, log, pump, copied } = setup();
    pump.start();
    await settle();
    log.feeds[0]?.end(new AvisoError("TOPIC_NOT_FOUND"));
    clock.advance(5000);
    await settle();
    expect(log.feeds).toHaveLength(1);
    log.commit("a.1");
    await settle();
    expect(copied()).toEqual([]);
  });

  it("tries again after a transient failure to write the queue, and ends on a permanent one", async () => {
    const { clock, log, pump, copied, queue } = setup();
    pump.start();
    await settle();
    queue.failures.push(new AvisoError("OWNER_UNAVAILABLE"));
    log.commit("a.1");
    await settle();
    expect(copied()).toEqual([]);
    clock.advance(1000);
    await settle();
    expect(copied()).toEqual(['"a.1"']);

    queue.failures.push(new AvisoError("QUEUE_NOT_FOUND"));
    log.commit("a.2");
    await settle();
    clock.advance(5000);
    await settle();
    log.commit("a.3");
    await settle();
    expect(copied()).toEqual(['"a.1"']);
  });

  it("asks before each batch whether it may copy, and publishes nothing once the answer is no", async () => {
    let allowed = true;
    const { log, pump, copied } = setup(undefined, async (self) => {
      // As the binding watch does: a binding whose footing went is stopped before the answer.
      if (!allowed) self.stop();
      return allowed;
    });
    pump.start();
    await settle();
    log.commit("a.1");
    await settle();
    expect(copied()).toEqual(['"a.1"']);
    allowed = false;
    log.commit("a.2");
    await settle();
    log.commit("a.3");
    await settle();
    expect(copied()).toEqual(['"a.1"']);
    expect(pump.stopped).toBe(true);
  });

  it("copies nothing while the check cannot be answered, and copies once it can", async () => {
    const failures = [new AvisoError("STORE_UNAVAILABLE")];
    const { clock, log, pump, copied, errors } = setup(undefined, async () => {
      const failure = failures.shift();
      if (failure !== undefined) throw failure;
      return true;
    });
    pump.start();
    await settle();
    log.commit("a.1");
    await settle();
    expect(copied()).toEqual([]);
    expect(errors).toHaveLength(1);
    clock.advance(1000);
    await settle();
    expect(copied()).toEqual(['"a.1"']);
    pump.stop();
  });
});
