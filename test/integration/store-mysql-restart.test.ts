import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlStore } from "../../src/store/mysql/mysql-store.ts";
import type { Store, WriteOp } from "../../src/store/store.ts";
import {
  destroyMariadb,
  launchMariadb,
  type MariadbState,
  readState,
  restartMariadb,
  startMariadb,
  stopMariadb,
} from "../helpers/mariadb.ts";
import { ownedQueue, queueMessages } from "../store/fixtures.ts";

/*
 * Restarts a MariaDB of this file's own (not the run's shared one, which
 * other files are using concurrently) under a live store, and checks the pool
 * reports STORE_UNAVAILABLE while it is down and recovers by itself after.
 */

let server: MariadbState | undefined;
beforeAll(async () => {
  server = await launchMariadb();
});
afterAll(async () => {
  if (server !== undefined) await destroyMariadb(server.stateFile);
});

async function openOnPrivateServer(): Promise<Store> {
  if (server === undefined) throw new Error("server not started");
  const base = `mysql://${server.user}:${server.password}@127.0.0.1:${server.port}`;
  const connection = await mysql.createConnection(base);
  await connection.query("CREATE DATABASE IF NOT EXISTS restart_test");
  await connection.end();
  const store = await createMysqlStore({ url: `${base}/restart_test`, poolSize: 4 });
  await store.migrate();
  return store;
}

/** Retries `attempt` until it resolves or the deadline passes; returns the result and the errors seen. */
async function eventually<T>(
  attempt: () => Promise<T>,
  timeoutMs = 20_000,
): Promise<{ value: T; errors: unknown[] }> {
  const errors: unknown[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return { value: await attempt(), errors };
    } catch (error) {
      errors.push(error);
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe.each(["SIGKILL", "SIGTERM"] as const)("MySQL store across a MariaDB restart (%s)", (signal) => {
  it("fails with STORE_UNAVAILABLE while the server is down and recovers without reopening", async () => {
    if (server === undefined) throw new Error("server not started");
    const store = await openOnPrivateServer();
    try {
      const { name, epoch } = await ownedQueue(store, "restart");
      const append = (from: number, to: number): WriteOp => ({
        type: "queue.append",
        queue: name,
        epoch,
        messages: queueMessages(from, to),
        nextSeq: to + 1,
      });
      expect(await store.commit([append(1, 10)])).toEqual(["ok"]);
      // Fill the pool so stale idle connections exist when the server goes away.
      await Promise.all([1, 2, 3, 4].map(() => store.ping()));

      await stopMariadb(server.stateFile, signal);
      await expect(store.commit([append(11, 20)])).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
      await expect(store.ping()).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });

      await startMariadb(server.stateFile);
      const { value, errors } = await eventually(() => store.commit([append(11, 20)]));
      expect(value).toEqual(["ok"]);
      for (const error of errors) expect(error).toMatchObject({ reason: "STORE_UNAVAILABLE" });
      expect(errors.length).toBeLessThanOrEqual(4);
      // What was acknowledged before the crash is still there, followed by the new batch.
      expect((await store.readQueueMessages(name, 0, 100)).map((m) => m.seq)).toEqual(
        queueMessages(1, 20).map((m) => m.seq),
      );
    } finally {
      await store.close();
    }
  });
});

describe("restartMariadb", () => {
  it("brings the server back on the same port with the same data and a new pid", async () => {
    if (server === undefined) throw new Error("server not started");
    const store = await openOnPrivateServer();
    try {
      const { name } = await ownedQueue(store, "kept");
      const before = await readState(server.stateFile);
      await restartMariadb({ stateFile: server.stateFile, signal: "SIGKILL" });
      const after = await readState(server.stateFile);
      expect(after.pid).not.toBe(before.pid);
      expect(after.port).toBe(before.port);
      const { value } = await eventually(() => store.getQueue(name));
      expect(value?.name).toBe(name);
    } finally {
      await store.close();
    }
  });
});
