import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { describeApiKeyConformance } from "./conformance-api-keys.ts";
import { describeCommitConformance } from "./conformance-commit.ts";
import { describeDurabilityConformance } from "./conformance-durability.ts";
import { describePagingConformance } from "./conformance-paging.ts";
import { describeResourceConformance } from "./conformance-resources.ts";
import { describeUserConformance } from "./conformance-users.ts";
import { baseTime, queueDefinition, queueMessages, uniqueName } from "./fixtures.ts";

/**
 * The one suite every Store backend must pass. `open` returns a migrated
 * store on the backend under test; several stores may be open at once on the
 * same database, and tests use unique names so they can share it.
 */
export function describeStoreConformance(label: string, open: () => Promise<Store>): void {
  describe(`Store conformance: ${label}`, () => {
    let store: Store | undefined;
    const current = (): Store => {
      if (store === undefined) throw new Error("store not open");
      return store;
    };
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it("reports its kind and answers ping", async () => {
      expect(["mysql", "sqlite"]).toContain(current().kind);
      await expect(current().ping()).resolves.toBeUndefined();
    });

    describe("users", () => {
      it("creates a user and reads it back", async () => {
        const user = {
          username: uniqueName("alice"),
          passwordHash: "$2b$10$abcdefghijklmnopqrstuv",
          createdAt: baseTime,
        };
        await current().createUser(user);
        expect(await current().getUser(user.username)).toEqual({ ...user, tokenVersion: 0 });
      });

      it("refuses a second user with the same name with USERNAME_TAKEN", async () => {
        const username = uniqueName("bob");
        await current().createUser({ username, passwordHash: "h1", createdAt: baseTime });
        await expect(
          current().createUser({ username, passwordHash: "h2", createdAt: baseTime }),
        ).rejects.toMatchObject({
          reason: "USERNAME_TAKEN",
        });
        expect((await current().getUser(username))?.passwordHash).toBe("h1");
      });

      it("answers undefined for an unknown user", async () => {
        expect(await current().getUser(uniqueName("nobody"))).toBeUndefined();
      });

      it("treats usernames as case-sensitive", async () => {
        const lower = uniqueName("carol");
        const upper = lower.toUpperCase();
        await current().createUser({ username: lower, passwordHash: "lower", createdAt: baseTime });
        await current().createUser({ username: upper, passwordHash: "upper", createdAt: baseTime });
        expect((await current().getUser(lower))?.passwordHash).toBe("lower");
        expect((await current().getUser(upper))?.passwordHash).toBe("upper");
      });
    });

    describeResourceConformance(current);
    describeUserConformance(current);
    describeApiKeyConformance(current);
    describeCommitConformance(current);
    describeDurabilityConformance(current);
    describePagingConformance(current);

    describe("lifecycle", () => {
      it("keeps committed data after close and reopen", async () => {
        const first = await open();
        const name = uniqueName("reopen");
        const definition = queueDefinition(name);
        await first.createQueue(definition);
        const claim = await first.claim("queue", name);
        expect(claim).toEqual({ epoch: 1 });
        const outcomes = await first.commit([
          { type: "queue.append", queue: name, epoch: 1, messages: queueMessages(1, 3), nextSeq: 4 },
        ]);
        expect(outcomes).toEqual(["ok"]);
        await first.close();

        const second = await open();
        try {
          expect(await second.getQueue(name)).toEqual(definition);
          expect(await second.queueHead(name)).toEqual({ nextSeq: 4 });
          expect(await second.readQueueMessages(name, 0, 10)).toEqual(queueMessages(1, 3));
          expect(await second.claim("queue", name)).toEqual({ epoch: 2 });
        } finally {
          await second.close();
        }
      });

      it("commits concurrently from several stores on shared resources without losing or refusing writes", async () => {
        const others = [await open(), await open()];
        try {
          const setup = current();
          const queues: string[] = [];
          for (let i = 0; i < 6; i++) {
            const name = uniqueName("shared");
            await setup.createQueue(queueDefinition(name));
            queues.push(name);
          }
          const epochs = new Map<string, number>();
          for (const name of queues) epochs.set(name, (await setup.claim("queue", name))?.epoch ?? -1);
          // Each store writes every queue in a different order, several commits at once;
          // seq ranges are disjoint per (store, round) so rows never collide.
          const rounds = 8;
          const results = await Promise.all(
            [setup, ...others].flatMap((store, s) =>
              Array.from({ length: rounds }, (_, round) => {
                const order = s % 2 === 0 ? queues : [...queues].reverse();
                const first = (s * rounds + round) * 10 + 1;
                return store.commit(
                  order.map((queue) => ({
                    type: "queue.append" as const,
                    queue,
                    epoch: epochs.get(queue) ?? -1,
                    messages: queueMessages(first, first + 9),
                    nextSeq: first + 10,
                  })),
                );
              }),
            ),
          );
          expect(results.flat().every((outcome) => outcome === "ok")).toBe(true);
          for (const name of queues) expect(await setup.countQueueMessages(name)).toBe(3 * rounds * 10);
        } finally {
          await Promise.all(others.map((store) => store.close()));
        }
      });

      it("fails with STORE_UNAVAILABLE once closed, and close is idempotent", async () => {
        const closing = await open();
        await closing.close();
        await expect(closing.close()).resolves.toBeUndefined();
        await expect(closing.ping()).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
        await expect(closing.getQueue("anything")).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
        await expect(
          closing.commit([{ type: "topic.trim", topic: "anything", epoch: 1, beforeOffset: 0 }]),
        ).rejects.toMatchObject({ reason: "STORE_UNAVAILABLE" });
      });
    });
  });
}
