/**
 * Store commit throughput: rows/s for group commits of different shapes on
 * SQLite and MySQL/MariaDB (256-byte payloads unless --payload-bytes), and the
 * CPU each row costs this process (and a launched MariaDB). MySQL runs once
 * per row insert mode (prepared statements and escaped text) unless --inserts.
 *
 *   node --import tsx bench/store-commit.ts [--seconds 3] [--payload-bytes 256] [--inserts both|prepared|text]
 *     [--mysql mysql://user:pass@host:port/db] [--only sqlite|mysql]
 *
 * Without --mysql (or AVISO_BENCH_MYSQL_URL) a throwaway MariaDB is started
 * with the test harness (durable settings: innodb_flush_log_at_trx_commit=1).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import mysql from "mysql2/promise";
import type { QueueMessage } from "../src/broker/types.ts";
import { createMysqlStore } from "../src/store/mysql/mysql-store.ts";
import { createSqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import type { Store, WriteOp } from "../src/store/store.ts";
import { destroyMariadb, launchMariadb } from "../test/helpers/mariadb.ts";
import { cpuSeconds } from "./lib/proc.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    "payload-bytes": { type: "string", default: "256" },
    inserts: { type: "string", default: "both" },
    mysql: { type: "string" },
    only: { type: "string" },
  },
});
const seconds = Number(args.seconds);
const payload = JSON.stringify({ data: "x".repeat(Math.max(0, Number(args["payload-bytes"]) - 12)) });

interface Shape {
  label: string;
  /** Ops per commit, each on its own queue (as if from that many serving nodes). */
  ops: number;
  messagesPerOp: number;
  /** Each commit also removes the previous commit's messages, as a queue's steady state acks them. */
  acks?: boolean;
}

const shapes: Shape[] = [
  { label: "1 op x 500 msgs per commit", ops: 1, messagesPerOp: 500 },
  { label: "50 ops x 10 msgs per commit", ops: 50, messagesPerOp: 10 },
  { label: "1 op x 1 msg per commit", ops: 1, messagesPerOp: 1 },
  { label: "250 msgs + ack 250 per commit", ops: 1, messagesPerOp: 250, acks: true },
];

interface Measured {
  rowsPerSec: number;
  /** This process's CPU per row inserted, µs. */
  clientMicros: number;
  /** The launched MariaDB's CPU per row inserted, µs (null: not launched here, or SQLite). */
  databaseMicros: number | null;
}

async function measure(
  store: Store,
  shape: Shape,
  run: string,
  databasePid: number | null,
): Promise<Measured> {
  const queues: { name: string; epoch: number; nextSeq: number }[] = [];
  for (let i = 0; i < shape.ops; i++) {
    const name = `bench_${run}_${shape.ops}_${shape.messagesPerOp}_${i}`;
    await store.createQueue({
      id: `${name}-id`,
      name,
      creator: "bench",
      private: false,
      ackTimeoutMs: 30_000,
      maxDeliveries: null,
      deadLetterQueue: null,
      deadLetterQueueId: null,
      messageTtlMs: null,
      maxLength: null,
      createdAt: Date.now(),
    });
    const claim = await store.claim("queue", name);
    queues.push({ name, epoch: claim?.epoch ?? 0, nextSeq: 1 });
  }
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const clientBefore = process.cpuUsage();
  const databaseBefore = databasePid === null ? 0 : cpuSeconds(databasePid);
  let rows = 0;
  while (performance.now() < deadline) {
    const now = Date.now();
    const ops: WriteOp[] = queues.map((q) => {
      const messages: QueueMessage[] = [];
      for (let i = 0; i < shape.messagesPerOp; i++) {
        messages.push({
          seq: q.nextSeq + i,
          payload,
          headers: null,
          publishedAt: now,
          availableAt: now,
          expiresAt: null,
          deliveries: 0,
        });
      }
      q.nextSeq += shape.messagesPerOp;
      return { type: "queue.append", queue: q.name, epoch: q.epoch, messages, nextSeq: q.nextSeq };
    });
    if (shape.acks === true) {
      for (const q of queues) {
        const previous = q.nextSeq - 2 * shape.messagesPerOp;
        if (previous < 1) continue;
        const seqs = Array.from({ length: shape.messagesPerOp }, (_, i) => previous + i);
        ops.push({ type: "queue.remove", queue: q.name, epoch: q.epoch, seqs });
      }
    }
    const outcomes = await store.commit(ops);
    if (outcomes.some((o) => o !== "ok")) throw new Error(`unexpected outcomes ${outcomes.join(",")}`);
    rows += shape.ops * shape.messagesPerOp;
  }
  const elapsedSeconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const databaseSeconds = databasePid === null ? null : cpuSeconds(databasePid) - databaseBefore;
  for (const q of queues) await store.deleteQueue(q.name);
  return {
    rowsPerSec: rows / elapsedSeconds,
    clientMicros: (client.user + client.system) / rows,
    databaseMicros: databaseSeconds === null ? null : (databaseSeconds * 1e6) / rows,
  };
}

async function benchStore(label: string, store: Store, databasePid: number | null = null): Promise<void> {
  const run = Date.now().toString(36);
  for (const shape of shapes) {
    const m = await measure(store, shape, run, databasePid);
    const database =
      m.databaseMicros === null ? "" : `  database ${m.databaseMicros.toFixed(1).padStart(6)} µs/row`;
    console.log(
      `${label.padEnd(16)} ${shape.label.padEnd(30)} ${Math.round(m.rowsPerSec).toLocaleString("en-US").padStart(10)} rows/s` +
        `  node ${m.clientMicros.toFixed(1).padStart(6)} µs/row${database}`,
    );
  }
}

async function benchSqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "aviso-bench-sqlite-"));
  const store = await createSqliteStore({ path: join(dir, "bench.db") });
  try {
    await store.migrate();
    await benchStore("sqlite", store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchMysql(): Promise<void> {
  let url = args.mysql ?? process.env.AVISO_BENCH_MYSQL_URL;
  let stateFile: string | undefined;
  let databasePid: number | null = null;
  if (url === undefined) {
    const server = await launchMariadb();
    stateFile = server.stateFile;
    databasePid = server.pid;
    const base = `mysql://${server.user}:${server.password}@127.0.0.1:${server.port}`;
    const connection = await mysql.createConnection(base);
    await connection.query("CREATE DATABASE bench");
    await connection.end();
    url = `${base}/bench`;
  }
  const modes = args.inserts === "both" ? (["prepared", "text"] as const) : [args.inserts];
  try {
    for (const mode of modes) {
      if (mode !== "prepared" && mode !== "text") throw new Error("--inserts is both, prepared or text");
      const store = await createMysqlStore({ url, preparedInserts: mode === "prepared" });
      try {
        await store.migrate();
        await benchStore(`mysql ${mode}`, store, databasePid);
      } finally {
        await store.close();
      }
    }
  } finally {
    if (stateFile !== undefined) await destroyMariadb(stateFile);
  }
}

if (args.only !== "mysql") await benchSqlite();
if (args.only !== "sqlite") await benchMysql();
