import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { EngineHost } from "../../src/app/engine-host.ts";
import { createLocalServingNodes } from "../../src/app/local-serving-nodes.ts";
import type { ServingNodes } from "../../src/app/serving-nodes.ts";
import type { TopicFeed } from "../../src/broker/topic/topic-ports.ts";
import type { TopicRetention } from "../../src/broker/types.ts";
import type { PeerEvent } from "../../src/cluster/peer/peer-types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import type { Reason } from "../../src/errors/reasons.ts";
import { systemClock } from "../../src/shared/clock.ts";
import { createGroupCommitter, type GroupCommitter } from "../../src/store/group-commit.ts";
import { createSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";

/** The serving side of the peer link tests (peer-rpc*.test.ts): real engines on SQLite behind a peer server. */

export const SECRET = "peer-test-secret";

export interface Latch<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}
export function latch<T = void>(): Latch<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export async function expectReason(work: Promise<unknown>, reason: Reason): Promise<AvisoError> {
  const error = await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AvisoError);
  expect((error as AvisoError).reason).toBe(reason);
  return error as AvisoError;
}

/** The serving side: real engines on SQLite, behind a fake routing layer that serves everything here. */
export interface PeerServingNode {
  dir: string;
  store: Store;
  committer: GroupCommitter;
  host: EngineHost;
  servingNodes: ServingNodes;
  notices: PeerEvent[];
  /** Resolved when a forwarded receive reaches the serving node, and when its signal aborts there. */
  receiveStarted: Latch<void>;
  receiveAborted: Latch<void>;
  close(): Promise<void>;
}

export async function startPeerServingNode(): Promise<PeerServingNode> {
  const dir = await mkdtemp(join(tmpdir(), "aviso-peer-"));
  const store = await createSqliteStore({ path: join(dir, "aviso.db") });
  await store.migrate();
  const committer = createGroupCommitter(store);
  const host: EngineHost = new EngineHost({
    store,
    committer,
    clock: systemClock,
    settings: {
      idempotencyWindowMs: 60_000,
      maxBatchMessages: 1000,
      topicMemoryMessages: 50,
      topicMemoryBytes: 1_048_576,
      retentionIntervalMs: 1000,
    },
    servingNodes: () => local,
    onBackgroundError: () => {},
  });
  const local = createLocalServingNodes(host);
  const node: PeerServingNode = {
    dir,
    store,
    committer,
    host,
    notices: [],
    receiveStarted: latch(),
    receiveAborted: latch(),
    servingNodes: {
      ...local,
      // The routing layer's access rules are not the peer link's job; this stands in for them.
      queues: {
        ...local.queues,
        publish: (queue, inputs) => {
          if (queue.startsWith("private-"))
            return Promise.reject(new AvisoError("ACCESS_DENIED", `No grant for ${queue}.`));
          // A serving node that never answers (a hung engine), for the client's deadline.
          if (queue.startsWith("hung-")) return new Promise<string[]>(() => {});
          return local.queues.publish(queue, inputs);
        },
        receive: (queue, request, signal) => {
          const aborted = node.receiveAborted;
          if (signal?.aborted === true) aborted.resolve();
          signal?.addEventListener("abort", () => aborted.resolve());
          node.receiveStarted.resolve();
          return local.queues.receive(queue, request, signal);
        },
      },
      topics: { ...local.topics, feed: async (topic) => yieldingReads(await local.topics.feed(topic)) },
    },
    async close() {
      await local.close(new AvisoError("SHUTTING_DOWN"));
      await committer.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return node;
}

/**
 * The engine's reads are synchronous SQLite underneath; a MySQL read takes a
 * round trip, during which commits land. Yielding to the event loop on each
 * read gives the Feed's history/live hand-over the same exposure here.
 */
export function yieldingReads(feed: TopicFeed): TopicFeed {
  return {
    name: feed.name,
    nextOffset: () => feed.nextOffset(),
    firstOffset: () => feed.firstOffset(),
    read: async (fromOffset, limit) => {
      await new Promise((resolve) => setImmediate(resolve));
      return feed.read(fromOffset, limit);
    },
    onCommitted: (listener) => feed.onCommitted(listener),
    onEnded: (listener) => feed.onEnded(listener),
  };
}

let names = 0;
export async function newQueue(
  node: PeerServingNode,
  settings: { ackTimeoutMs?: number } = {},
): Promise<string> {
  const name = `q${++names}`;
  await node.store.createQueue({
    id: `${name}-id`,
    name,
    creator: "alice",
    private: false,
    createdAt: Date.now(),
    ackTimeoutMs: settings.ackTimeoutMs ?? 30_000,
    maxDeliveries: null,
    deadLetterQueue: null,
    deadLetterQueueId: null,
    messageTtlMs: null,
    maxLength: null,
  });
  return name;
}

export async function newTopic(
  node: PeerServingNode,
  retention: TopicRetention = { maxAgeMs: null, maxMessages: null },
): Promise<string> {
  const name = `t${++names}`;
  await node.store.createTopic({
    id: `${name}-id`,
    name,
    creator: "alice",
    private: false,
    durable: true,
    retention,
    createdAt: Date.now(),
  });
  return name;
}

export const json = (value: unknown) => JSON.stringify(value);
export const queueInput = (n: number) => ({ payload: json({ n }), headers: null, delayMs: 0 });
export const topicInput = (n: number) => ({
  key: "a.b",
  payload: json({ n }),
  headers: json({ h: String(n) }),
});
