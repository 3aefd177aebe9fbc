import mysql, { type RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlStore } from "../../src/store/mysql/mysql-store.ts";
import { readSegments } from "../../src/store/mysql/queue-segments.ts";
import type { Store, WriteOp } from "../../src/store/store.ts";
import { Api, newUser } from "../helpers/api.ts";
import { ack, createQueue, createTopic, history, receive } from "../helpers/broker-api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { type ReplicatedMariadb, startReplicatedMariadb } from "../helpers/mariadb-replication.ts";
import { ownedQueue, queueMessages } from "../store/fixtures.ts";

/*
 * Aviso on `mysql://…@primary,replica/db` over a semi-synchronous GTID
 * replica. Brokers: acknowledged publishes are on the replica; after kill -9
 * of the primary the nodes answer 503 STORE_UNAVAILABLE (fast, never another
 * 5xx), and once the replica is promoted they carry on against it without a
 * restart, with every acknowledged message there. Store: what semi-sync
 * does when the replica stops acknowledging, and the failover in numbers.
 */

const messagesPerKind = 1000;
/** Longer than this for one publish while the primary is gone counts as a hang. */
const hangMs = 5000;
/** Failed publishes to see before promoting (a couple of seconds of outage). */
const outageFailures = 200;
const database = "aviso_replication";

type Kind = "queue" | "topic";

interface Attempt {
  kind: Kind;
  payload: string;
  status: number;
  reason: string;
  startedAt: number;
  ms: number;
  /** Offset (topic) or id (queue) when acknowledged. */
  ack?: number | string;
}

/** A primary + replica with our database created on the primary (and so replicated). */
async function replicatedDatabase(semiSyncTimeoutMs: number): Promise<ReplicatedMariadb> {
  const set = await startReplicatedMariadb({ semiSyncTimeoutMs });
  const admin = await set.admin("primary");
  await admin.query(`CREATE DATABASE ${database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.end();
  return set;
}

/** One publish with a deadline: a hang becomes status 0 instead of a stuck test. */
async function publish(api: Api, kind: Kind, name: string, payload: string): Promise<Attempt> {
  const startedAt = Date.now();
  const done = (status: number, reason: string, ack?: number | string): Attempt => ({
    kind,
    payload,
    status,
    reason,
    startedAt,
    ms: Date.now() - startedAt,
    ...(ack === undefined ? {} : { ack }),
  });
  try {
    const response = await fetch(`${api.baseUrl}/v1/${kind}s/${name}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${api.token}`, "content-type": "application/json" },
      body: JSON.stringify({ payload }),
      signal: AbortSignal.timeout(hangMs * 3),
    });
    const text = await response.text();
    const body = (text.startsWith("{") ? JSON.parse(text) : {}) as {
      ids?: string[];
      offsets?: number[];
      error?: { reason?: string };
    };
    return done(response.status, body.error?.reason ?? text, body.ids?.[0] ?? body.offsets?.[0]);
  } catch {
    return done(0, "no answer");
  }
}

/** `workers` loops publishing to the queue and the topic through every node in turn, until stop(). */
function publishLoop(apis: Api[], names: Record<Kind, string>, workers: number) {
  const attempts: Attempt[] = [];
  let running = true;
  let counter = 0;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const n = counter++;
      const kind: Kind = n % 2 === 0 ? "queue" : "topic";
      attempts.push(await publish(apis[n % apis.length] as Api, kind, names[kind], `${kind}-loop-${n}`));
    }
  });
  return {
    attempts,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Rows of one queue and one topic as the replica holds them, read in a read-only transaction. */
async function onReplica(set: ReplicatedMariadb, names: Record<Kind, string>) {
  const connection = await mysql.createConnection(`${set.replicaUrlBase}/${database}`);
  try {
    await connection.query("START TRANSACTION READ ONLY");
    const queueRows = await readSegments(connection, names.queue, 0, Number.MAX_SAFE_INTEGER);
    const [topicRows] = await connection.query<RowDataPacket[]>(
      "SELECT msg_offset, payload FROM topic_messages WHERE topic = ? ORDER BY msg_offset",
      [names.topic],
    );
    await connection.query("COMMIT");
    const payload = (row: RowDataPacket) => JSON.parse(String(row.payload)) as string;
    return {
      queue: queueRows.map((m) => JSON.parse(m.payload) as string),
      topic: new Map(topicRows.map((row) => [Number(row.msg_offset), payload(row)])),
    };
  } finally {
    await connection.end();
  }
}

/** Receives (and acks) until every payload in `expected` came; returns how often each payload arrived. */
async function receiveAll(
  apis: Api[],
  queue: string,
  expected: readonly string[],
): Promise<Map<unknown, number>> {
  const received = new Map<unknown, number>();
  let turn = 0;
  await eventually(
    async () => {
      const api = apis[turn++ % apis.length] as Api;
      const batch = await receive(api, queue, { max: 1000, waitMs: 200 });
      for (const message of batch) received.set(message.payload, (received.get(message.payload) ?? 0) + 1);
      if (batch.length > 0)
        expect(
          (
            await ack(
              api,
              queue,
              batch.map((m) => m.receipt),
            )
          ).stale,
        ).toEqual([]);
      expect(expected.filter((payload) => !received.has(payload))).toEqual([]);
    },
    { timeoutMs: 30_000, intervalMs: 0 },
  );
  return received;
}

/** The topic's whole retained log, page by page. */
async function readLog(api: Api, topic: string): Promise<Array<{ offset: number; payload: unknown }>> {
  const logged: Array<{ offset: number; payload: unknown }> = [];
  for (;;) {
    const page = await history(api, topic, `?from=${logged.length}&limit=1000`);
    logged.push(...page.messages);
    if (page.messages.length === 0 || logged.length >= page.nextOffset) return logged;
  }
}

describe("a cluster on a primary with a semi-sync replica", () => {
  let set: ReplicatedMariadb | undefined;
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    set = await replicatedDatabase(5000);
    cluster = await startCluster({ nodes: 2, store: `${set.urlBase}/${database}` });
  });
  afterAll(async () => {
    await cluster?.stop();
    await set?.destroy();
  });

  it("keeps every acknowledged message through kill -9 of the primary and promotion of the replica", async () => {
    if (set === undefined || cluster === undefined) throw new Error("not started");
    const replicated = set;
    const nodes = [cluster.node(0), cluster.node(1)];
    const pids = nodes.map((node) => node.pid);
    const { api } = await newUser(cluster.node(0).url);
    const apis = nodes.map((node) => new Api(node.url, api.token));
    const names: Record<Kind, string> = {
      queue: (await createQueue(api)).name,
      topic: (await createTopic(api)).name,
    };

    // 1. Acknowledged publishes through both nodes, 16 at a time; every commit acknowledged by the replica.
    const before: Attempt[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, worker) => {
        for (let i = worker; i < 2 * messagesPerKind; i += 16) {
          const kind: Kind = i % 2 === 0 ? "queue" : "topic";
          before.push(await publish(apis[i % 2] as Api, kind, names[kind], `${kind}-${i}`));
        }
      }),
    );
    expect(before.filter((a) => a.status !== 201)).toEqual([]);
    const semiSync = await replicated.semiSyncStatus();
    expect(semiSync).toMatchObject({ on: true, noTx: 0, clients: 1 });
    expect(semiSync.yesTx).toBeGreaterThan(0);

    // 2. They are on the replica: every queue payload, every topic offset with its payload.
    const queueBefore = before.filter((a) => a.kind === "queue").map((a) => a.payload);
    const topicBefore = new Map(
      before.filter((a) => a.kind === "topic").map((a) => [Number(a.ack), a.payload]),
    );
    await eventually(
      async () => {
        const rows = await onReplica(replicated, names);
        expect(rows.queue.sort()).toEqual(queueBefore.sort());
        expect(rows.topic).toEqual(topicBefore);
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );

    // 3. kill -9 of the primary under load: fast 503 STORE_UNAVAILABLE answers, and /readyz says not ready.
    const loop = publishLoop(apis, names, 4);
    await eventually(() => expect(loop.attempts.filter((a) => a.status === 201).length).toBeGreaterThan(10), {
      timeoutMs: 10_000,
    });
    const killedAt = Date.now();
    await replicated.killPrimary();
    const failedSinceKill = () => loop.attempts.filter((a) => a.startedAt > killedAt && a.status === 503);
    await eventually(() => expect(failedSinceKill().length).toBeGreaterThan(outageFailures), {
      timeoutMs: 20_000,
    });
    for (const node of nodes) expect((await fetch(`${node.url}/readyz`)).status).toBe(503);

    // 4. Promote the replica: the same node processes carry on against it.
    const promotedAt = Date.now();
    const { promotionMs } = await replicated.promoteReplica();
    await eventually(
      () => {
        const last = loop.attempts.filter((a) => a.startedAt > promotedAt + promotionMs).slice(-20);
        expect(last.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 201));
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    await loop.stop();
    for (const node of nodes) {
      await eventually(async () => expect((await fetch(`${node.url}/readyz`)).status).toBe(200));
    }
    expect(nodes.map((node) => node.pid)).toEqual(pids);
    expect(nodes.map((node) => node.process.exitCode)).toEqual([null, null]);

    // Every answer while the primary died and came back: 201, or 503 STORE_UNAVAILABLE, never slow.
    const failures = loop.attempts.filter((a) => a.status !== 201);
    expect(failures.length).toBeGreaterThan(outageFailures);
    expect(failures.filter((a) => a.status !== 503 || a.reason !== "STORE_UNAVAILABLE")).toEqual([]);
    expect(Math.max(...loop.attempts.map((a) => a.ms))).toBeLessThan(hangMs);

    // 5. Every acknowledged message is there; nothing is there that was never sent.
    const all = [...before, ...loop.attempts];
    const sent = new Set(all.map((a) => a.payload));
    const acked = all.filter((a) => a.status === 201);
    const ackedQueue = acked.filter((a) => a.kind === "queue").map((a) => a.payload);
    const received = await receiveAll(apis, names.queue, ackedQueue);
    expect([...received.keys()].filter((payload) => !sent.has(payload as string))).toEqual([]);
    const log = await readLog(apis[1] as Api, names.topic);
    expect(log.map((m) => m.offset)).toEqual(log.map((_, i) => i));
    const logged = new Map(log.map((m) => [m.offset, m.payload]));
    const ackedTopic = acked.filter((a) => a.kind === "topic");
    expect(ackedTopic.filter((a) => logged.get(Number(a.ack)) !== a.payload)).toEqual([]);
    expect(log.filter((m) => !sent.has(m.payload as string))).toEqual([]);

    // 6. New publishes succeed through both nodes.
    for (const [i, nodeApi] of apis.entries()) {
      expect((await publish(nodeApi, "queue", names.queue, `after-${i}`)).status).toBe(201);
      expect((await publish(nodeApi, "topic", names.topic, `after-${i}`)).status).toBe(201);
    }

    const failedMs = failures.map((a) => a.ms);
    const firstFailureAt = Math.min(...failures.map((a) => a.startedAt + a.ms));
    const recoveredAt = Math.min(
      ...loop.attempts
        .filter((a) => a.status === 201 && a.startedAt > promotedAt)
        .map((a) => a.startedAt + a.ms),
    );
    report("cluster failover", {
      failedPublishes: failures.length,
      firstFailureAnswerMsAfterKill: firstFailureAt - killedAt,
      failingMsBeforePromotion: promotedAt - firstFailureAt,
      failedAnswerMsP50: percentile(failedMs, 0.5),
      failedAnswerMsP99: percentile(failedMs, 0.99),
      failedAnswerMsMax: Math.max(...failedMs),
      promotionMs,
      recoveredMsAfterPromotion: recoveredAt - (promotedAt + promotionMs),
      queueRedelivered: [...received.values()].filter((count) => count > 1).length,
      storedButNotAcknowledged: received.size + log.length - ackedQueue.length - ackedTopic.length,
    });
  });
});

describe("a MySQL store on a primary,replica URL", () => {
  const semiSyncTimeoutMs = 1000;
  let set: ReplicatedMariadb | undefined;
  let store: Store | undefined;
  beforeAll(async () => {
    set = await replicatedDatabase(semiSyncTimeoutMs);
    store = await createMysqlStore({ url: `${set.urlBase}/${database}`, poolSize: 4 });
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    await set?.destroy();
  });

  async function freshQueue(prefix: string) {
    const { name, epoch } = await ownedQueue(store as Store, prefix);
    const append = (from: number, to: number): WriteOp[] => [
      { type: "queue.append", queue: name, epoch, messages: queueMessages(from, to), nextSeq: to + 1 },
    ];
    return { name, append };
  }

  async function replicaSeqs(queue: string): Promise<number[]> {
    const connection = await mysql.createConnection(`${set?.replicaUrlBase}/${database}`);
    try {
      await connection.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
      const messages = await readSegments(connection, queue, 0, Number.MAX_SAFE_INTEGER);
      await connection.query("COMMIT");
      return messages.map((m) => m.seq);
    } finally {
      await connection.end();
    }
  }

  const seqs = (from: number, to: number) => queueMessages(from, to).map((m) => m.seq);

  it("acknowledges without the replica once semi-sync times out, until the replica is back", async () => {
    if (set === undefined || store === undefined) throw new Error("not started");
    const { name, append } = await freshQueue("semisync");
    expect(await store.commit(append(1, 10))).toEqual(["ok"]);
    await set.waitForReplica();
    const replica = await set.admin("replica");
    try {
      await replica.query("STOP SLAVE IO_THREAD");
      let started = Date.now();
      expect(await store.commit(append(11, 20))).toEqual(["ok"]);
      const waitedMs = Date.now() - started;
      started = Date.now();
      expect(await store.commit(append(21, 30))).toEqual(["ok"]);
      const asyncMs = Date.now() - started;
      // The first commit waited out the timeout, then semi-sync switched off: the primary's own counters
      // say both commits were acknowledged without the replica (the times are reported, not asserted).
      expect(await set.semiSyncStatus()).toMatchObject({ on: false, noTx: 2 });
      expect(await replicaSeqs(name)).toEqual(seqs(1, 10));
      report("semi-sync fallback", { firstCommitMs: waitedMs, nextCommitMs: asyncMs });

      await replica.query("START SLAVE IO_THREAD");
      await set.waitForReplica();
      await eventually(async () => expect((await set?.semiSyncStatus())?.on).toBe(true), {
        timeoutMs: 10_000,
      });
      expect(await replicaSeqs(name)).toEqual(seqs(1, 30));
    } finally {
      await replica.end();
    }
  });

  it("leaves a primary that turns read-only (noticed by ping) and returns when it is writable again", async () => {
    if (set === undefined || store === undefined) throw new Error("not started");
    const primary = await set.admin("primary");
    try {
      await primary.query("SET GLOBAL read_only = 1");
      await expect(store.ping()).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
      // Neither server takes writes now, and the error says what each one is.
      await expect(freshQueue("ro")).rejects.toThrow(/read-only, .*read-only/);
      await primary.query("SET GLOBAL read_only = 0");
      await eventually(() => freshQueue("rw"), { timeoutMs: 5000 });
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await primary.query("SET GLOBAL read_only = 0");
      await primary.end();
    }
  });

  it("fails fast while no server takes writes and carries on against the promoted replica", async () => {
    if (set === undefined || store === undefined) throw new Error("not started");
    const { name, append } = await freshQueue("failover");
    expect(await store.commit(append(1, 100))).toEqual(["ok"]);
    await set.killPrimary();
    const failedMs: number[] = [];
    for (let i = 0; i < 50; i++) {
      const started = Date.now();
      await expect(store.commit(append(101, 200))).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
      await expect(store.ping()).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
      failedMs.push(Date.now() - started);
    }
    expect(Math.max(...failedMs)).toBeLessThan(2500);
    await expect(store.ping()).rejects.toThrow(/unreachable \(.*\), .*read-only/);

    const { promotionMs } = await set.promoteReplica();
    const promotedAt = Date.now();
    await eventually(async () => expect(await store?.commit(append(101, 200))).toEqual(["ok"]), {
      timeoutMs: 10_000,
    });
    const recoveredMs = Date.now() - promotedAt;
    expect(recoveredMs).toBeLessThan(3000);
    expect((await store.readQueueMessages(name, 0, 1000)).map((m) => m.seq)).toEqual(seqs(1, 200));
    await expect(store.ping()).resolves.toBeUndefined();
    report("store failover", {
      failedCallMsP50: percentile(failedMs, 0.5),
      failedCallMsMax: Math.max(...failedMs),
      promotionMs,
      recoveredMs,
    });
  });
});

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** Numbers for the record (docs/operations.md quotes them). */
function report(what: string, numbers: Record<string, number>): void {
  console.log(`${what}: ${JSON.stringify(numbers)}`);
}
