import { describe, expect, it } from "vitest";
import { AccessWatch, watchOf } from "../../src/app/access-watch.ts";
import { Catalog } from "../../src/app/catalog.ts";
import type { Grant, QueueDefinition } from "../../src/broker/types.ts";
import type { AvisoError } from "../../src/errors/aviso-error.ts";
import { createLogger } from "../../src/log/logger.ts";
import type { Store } from "../../src/store/store.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";

/** The two store reads the catalog makes, over maps the test edits behind the catalog's back. */
function fakeStore(queues: Map<string, QueueDefinition>, grants: Grant[]) {
  return {
    getQueue: async (name: string) => queues.get(name),
    getTopic: async () => undefined,
    listGrants: async (kind: string, resource: string) =>
      grants.filter((grant) => grant.kind === kind && grant.resource === resource),
  } as unknown as Store;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup() {
  const clock = new ManualClock();
  const queue = queueDefinition({
    id: "jobs-1",
    name: "jobs",
    creator: "alice",
    private: true,
    createdAt: 1,
  });
  const queues = new Map([["jobs", queue]]);
  const grants: Grant[] = [{ kind: "queue", resource: "jobs", username: "bob", permissions: ["consume"] }];
  // A catalog TTL far longer than the sweep: only the sweep can notice a change nobody announced.
  const catalog = new Catalog(fakeStore(queues, grants), clock, 3_600_000);
  const watch = new AccessWatch(catalog, clock, createLogger({ logLevel: "silent" }), 5000);
  const ended: AvisoError[] = [];
  const watchBob = () =>
    watch.watch({ ...watchOf({ username: "bob" }, "queue", queue, "consume"), end: (r) => ended.push(r) });
  return { clock, queue, queues, grants, catalog, watch, ended, watchBob };
}

describe("AccessWatch", () => {
  it("ends a watcher when an announced change takes its access away", async () => {
    const { grants, catalog, watch, ended, watchBob } = setup();
    watchBob();
    await settle();
    expect(ended).toEqual([]);
    grants.splice(0);
    catalog.forget("queue", "jobs");
    await settle();
    expect(ended.map((reason) => reason.reason)).toEqual(["ACCESS_REVOKED"]);
    expect(watch.size).toBe(0);
  });

  it("finds an unannounced change within one sweep interval", async () => {
    const { clock, grants, watch, ended, watchBob } = setup();
    watchBob();
    watch.start();
    await settle();
    grants.splice(0); // changed in the store; the announcement was lost
    clock.advance(4999);
    await settle();
    expect(ended).toEqual([]);
    clock.advance(1);
    await settle();
    await settle();
    expect(ended.map((reason) => reason.reason)).toEqual(["ACCESS_REVOKED"]);
    watch.stop();
  });

  it("ends with QUEUE_NOT_FOUND when the name now belongs to another queue, even one made the same millisecond", async () => {
    const { queues, catalog, ended, watchBob } = setup();
    watchBob();
    await settle();
    // Told apart by id (S4), not by creation time: a clock can give two queues the same instant.
    queues.set(
      "jobs",
      queueDefinition({ id: "jobs-2", name: "jobs", creator: "mallory", private: false, createdAt: 1 }),
    );
    catalog.forget("queue", "jobs");
    await settle();
    expect(ended.map((reason) => reason.reason)).toEqual(["QUEUE_NOT_FOUND"]);
  });

  it("checks at once when watching begins, so a change that raced the caller's check is not missed", async () => {
    const { grants, ended, watchBob } = setup();
    grants.splice(0);
    watchBob();
    await settle();
    expect(ended.map((reason) => reason.reason)).toEqual(["ACCESS_REVOKED"]);
  });

  it("keeps a watcher whose access remains and forgets one that unwatched", async () => {
    const { catalog, watch, ended, watchBob, grants } = setup();
    const unwatch = watchBob();
    await settle();
    catalog.forget("queue", "jobs");
    await settle();
    expect(ended).toEqual([]);
    unwatch();
    grants.splice(0);
    catalog.forget("queue", "jobs");
    await settle();
    expect(ended).toEqual([]);
    expect(watch.size).toBe(0);
  });
});
