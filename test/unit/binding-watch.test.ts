import { describe, expect, it } from "vitest";
import { BindingWatch, type CopyingBinding } from "../../src/app/binding-watch.ts";
import { Catalog } from "../../src/app/catalog.ts";
import { UserDirectory } from "../../src/app/user-directory.ts";
import type { Binding, Grant, QueueDefinition, StoredUser, TopicDefinition } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { createLogger } from "../../src/log/logger.ts";
import type { Store } from "../../src/store/store.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { queueDefinition } from "../helpers/queue-definition.ts";

/** What the catalog, the user directory and the watch read, over state the test edits behind their backs. */
interface World {
  topics: Map<string, TopicDefinition>;
  queues: Map<string, QueueDefinition>;
  grants: Grant[];
  users: Map<string, StoredUser>;
  bindings: Binding[];
}

function fakeStore(world: World): Store {
  return {
    getQueue: async (name: string) => world.queues.get(name),
    getTopic: async (name: string) => world.topics.get(name),
    listGrants: async (kind: string, resource: string) =>
      world.grants.filter((grant) => grant.kind === kind && grant.resource === resource),
    getUser: async (username: string) => world.users.get(username),
    listBindings: async ({ topic, queue }: { topic: string; queue: string }) =>
      world.bindings.filter((binding) => binding.topic === topic && binding.queue === queue),
  } as unknown as Store;
}

const user = (username: string): StoredUser => ({
  username,
  passwordHash: "x",
  createdAt: 0,
  tokenVersion: 1,
  deletedAt: undefined,
});

class FakePump implements CopyingBinding {
  stopped = false;
  constructor(readonly binding: Binding) {}
  stop(): void {
    this.stopped = true;
  }
}

/** Alice's private topic "events", which Bob may consume, bound by Bob into his private queue "copies". */
function setup() {
  const clock = new ManualClock();
  const topic: TopicDefinition = {
    id: "events-id",
    name: "events",
    creator: "alice",
    private: true,
    durable: true,
    retention: { maxAgeMs: null, maxMessages: null },
    createdAt: 0,
  };
  const queue = queueDefinition({ id: "copies-id", name: "copies", creator: "bob", private: true });
  const binding: Binding = {
    topic: "events",
    queue: "copies",
    topicId: "events-id",
    queueId: "copies-id",
    pattern: "#",
    nextOffset: 0,
    createdBy: "bob",
    createdAt: 5,
    state: "active",
    endedReason: null,
    endedAt: null,
  };
  const world: World = {
    topics: new Map([["events", topic]]),
    queues: new Map([["copies", queue]]),
    grants: [{ kind: "topic", resource: "events", username: "bob", permissions: ["consume"] }],
    users: new Map([
      ["alice", user("alice")],
      ["bob", user("bob")],
      ["carol", user("carol")],
    ]),
    bindings: [binding],
  };
  const store = fakeStore(world);
  // Caches far longer than the sweep: only announcements and the sweep can notice a change.
  const catalog = new Catalog(store, clock, 3_600_000);
  const users = new UserDirectory(store, clock, 3_600_000);
  const pump = new FakePump(binding);
  const ended: Binding[] = [];
  const endFailures: AvisoError[] = [];
  const watch = new BindingWatch({
    catalog,
    users,
    store,
    clock,
    log: createLogger({ logLevel: "silent" }),
    recheckMs: 5000,
    copying: () => [pump],
    end: async (ended_) => {
      const failure = endFailures.shift();
      if (failure !== undefined) throw failure;
      ended.push(ended_);
    },
  });
  /** Takes Bob's consume grant on the topic away in the store (nobody is told). */
  const revokeBob = () => world.grants.splice(0);
  return { clock, world, catalog, users, pump, ended, endFailures, watch, binding, revokeBob };
}

describe("BindingWatch", () => {
  it("stops and ends a binding once an announced change takes its creator's access away", async () => {
    const { catalog, pump, ended, watch, binding, revokeBob } = setup();
    expect(await watch.mayCopy(pump)).toBe(true);
    revokeBob();
    catalog.forget("topic", "events");
    await settle();
    expect(pump.stopped).toBe(true);
    expect(ended).toEqual([binding]);
  });

  it("answers no to the pump's next batch once the change is applied here, before any re-check ran", async () => {
    const { catalog, pump, watch, revokeBob } = setup();
    expect(await watch.mayCopy(pump)).toBe(true);
    revokeBob();
    catalog.forget("topic", "events");
    // The pump asks in the same turn the catalog forgot: its check already reads the change.
    expect(await watch.mayCopy(pump)).toBe(false);
    expect(pump.stopped).toBe(true);
  });

  it("ends a binding when a reader of its queue loses consume on the topic (S3)", async () => {
    const { world, catalog, ended } = setup();
    world.grants.push(
      { kind: "topic", resource: "events", username: "carol", permissions: ["consume"] },
      { kind: "queue", resource: "copies", username: "carol", permissions: ["consume"] },
    );
    catalog.forget("queue", "copies");
    await settle();
    expect(ended).toEqual([]);
    world.grants.splice(1, 1); // Carol's consume on the topic
    catalog.forget("topic", "events");
    await settle();
    expect(ended.map((binding) => binding.queue)).toEqual(["copies"]);
  });

  it("ends a binding when its creator is deleted, even where the topic is public", async () => {
    const { world, users, pump, ended, watch } = setup();
    world.topics.set("events", { ...(world.topics.get("events") as TopicDefinition), private: false });
    expect(await watch.mayCopy(pump)).toBe(true);
    world.users.set("bob", { ...user("bob"), deletedAt: 9 });
    users.forget("bob");
    await settle();
    expect(ended.map((binding) => binding.createdBy)).toEqual(["bob"]);
  });

  it("keeps a binding made by an external issuer's user, who has no row in the users table", async () => {
    const { world, pump, ended, watch } = setup();
    world.users.delete("bob");
    expect(await watch.mayCopy(pump)).toBe(true);
    expect(await watch.mayCopy(pump, true)).toBe(true);
    expect(ended).toEqual([]);
  });

  it("finds an unannounced change within one sweep interval", async () => {
    const { clock, pump, ended, watch, revokeBob } = setup();
    expect(await watch.mayCopy(pump)).toBe(true);
    watch.start();
    revokeBob();
    clock.advance(4999);
    await settle();
    expect(pump.stopped).toBe(false);
    clock.advance(1);
    await settle();
    await settle();
    expect(pump.stopped).toBe(true);
    expect(ended).toHaveLength(1);
    watch.stop();
  });

  it("keeps a binding whose footing holds, and only stops one whose topic is gone (its delete ended it)", async () => {
    const { world, catalog, pump, ended } = setup();
    world.grants[0] = {
      kind: "topic",
      resource: "events",
      username: "bob",
      permissions: ["consume", "publish"],
    };
    catalog.forget("topic", "events");
    await settle();
    expect(pump.stopped).toBe(false);
    world.topics.set("events", { ...(world.topics.get("events") as TopicDefinition), id: "another-id" });
    catalog.forget("topic", "events");
    await settle();
    expect(pump.stopped).toBe(true);
    expect(ended).toEqual([]);
  });

  it("ends a binding once when the pump's check and a re-check race", async () => {
    const { pump, ended, watch, revokeBob } = setup();
    revokeBob();
    const answers = await Promise.all([
      watch.mayCopy(pump),
      watch.recheck(() => true, true),
      watch.mayCopy(pump),
    ]);
    expect(answers[0]).toBe(false);
    expect(ended).toHaveLength(1);
  });

  it("tells the store again at the next sweep when ending failed", async () => {
    const { pump, ended, endFailures, watch, revokeBob } = setup();
    endFailures.push(new AvisoError("STORE_UNAVAILABLE"));
    revokeBob();
    expect(await watch.mayCopy(pump)).toBe(false);
    expect(ended).toEqual([]);
    await watch.sweep();
    expect(ended).toHaveLength(1);
  });

  it("does not end, on retry, a binding that replaced the one it stopped", async () => {
    const { world, pump, ended, endFailures, watch, binding, revokeBob } = setup();
    endFailures.push(new AvisoError("STORE_UNAVAILABLE"));
    revokeBob();
    expect(await watch.mayCopy(pump)).toBe(false);
    world.bindings[0] = { ...binding, createdAt: binding.createdAt + 1 };
    await watch.sweep();
    expect(ended).toEqual([]);
  });
});
