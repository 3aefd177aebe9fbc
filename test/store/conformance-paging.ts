import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { baseTime, bindingOf, queueDefinition, topicDefinition, uniqueName } from "./fixtures.ts";

/** Keyset pages (src/store/key-page.ts): names after `after`, in byte order, at most `limit`. */
export function describePagingConformance(store: () => Store): void {
  describe("keyset pages", () => {
    it("pages queues and topics by name after a key, at most the limit", async () => {
      const prefix = uniqueName("pg");
      // "B" sorts before "a" in byte order: a case-insensitive collation would interleave them.
      const names = ["b", "a", "B", "c", "a_1"].map((suffix) => `${prefix}_${suffix}`);
      for (const name of names) {
        await store().createQueue(queueDefinition(name));
        await store().createTopic(topicDefinition(name));
      }
      const sorted = [`${prefix}_B`, `${prefix}_a`, `${prefix}_a_1`, `${prefix}_b`, `${prefix}_c`];
      for (const list of [
        (after: string, limit: number) => store().listQueues({ after, limit }),
        (after: string, limit: number) => store().listTopics({ after, limit }),
      ]) {
        expect((await list(prefix, 2)).map((row) => row.name)).toEqual(sorted.slice(0, 2));
        expect((await list(`${prefix}_a`, 3)).map((row) => row.name)).toEqual(sorted.slice(2, 5));
        const tail = (await list(`${prefix}_b`, 10)).map((row) => row.name);
        expect(tail[0]).toBe(`${prefix}_c`);
        expect(tail).not.toContain(`${prefix}_b`);
      }
      const first = await store().listQueues({ limit: 1 });
      expect(first).toHaveLength(1);
    });

    it("pages a resource's grants by username", async () => {
      const queue = uniqueName("pgq");
      await store().createQueue(queueDefinition(queue, { private: true }));
      for (const username of ["zed", "amy", "bob", "Cat"]) {
        await store().putGrant({ kind: "queue", resource: queue, username, permissions: ["consume"] });
      }
      const usernames = async (after: string | undefined, limit: number) =>
        (await store().listGrants("queue", queue, after === undefined ? { limit } : { after, limit })).map(
          (grant) => grant.username,
        );
      expect(await usernames(undefined, 2)).toEqual(["Cat", "amy"]);
      expect(await usernames("amy", 2)).toEqual(["bob", "zed"]);
      expect(await usernames("zed", 2)).toEqual([]);
    });

    it("pages a topic's bindings by queue name, not another topic's", async () => {
      const topic = uniqueName("pgt");
      const queues = ["q3", "q1", "q2"].map((suffix) => `${topic}_${suffix}`);
      for (const queue of queues) await store().createBinding(bindingOf(topic, queue));
      await store().createBinding(bindingOf(uniqueName("pgother"), `${topic}_q0`));
      const page = async (after: string | undefined, limit: number) =>
        (await store().pageTopicBindings(topic, after === undefined ? { limit } : { after, limit })).map(
          (binding) => binding.queue,
        );
      expect(await page(undefined, 2)).toEqual([`${topic}_q1`, `${topic}_q2`]);
      expect(await page(`${topic}_q2`, 2)).toEqual([`${topic}_q3`]);
    });

    it("pages one user's API keys oldest first, ties by id", async () => {
      const username = uniqueName("pgk");
      const keys = [
        { id: `${username}_b`, createdAt: baseTime + 1 },
        { id: `${username}_a`, createdAt: baseTime + 2 },
        { id: `${username}_c`, createdAt: baseTime + 2 },
        { id: `${username}_0`, createdAt: baseTime + 3 },
      ];
      for (const { id, createdAt } of keys) {
        await store().createApiKey({
          id,
          username,
          name: "paged",
          secretHash: createHash("sha256").update(id).digest("hex"),
          scope: null,
          createdAt,
          expiresAt: null,
        });
      }
      const ids = (records: { id: string }[]) => records.map((record) => record.id);
      expect(ids(await store().listApiKeys(username, { limit: 2 }))).toEqual([keys[0]?.id, keys[1]?.id]);
      const after = { createdAt: baseTime + 2, id: `${username}_a` };
      expect(ids(await store().listApiKeys(username, { after, limit: 5 }))).toEqual([
        keys[2]?.id,
        keys[3]?.id,
      ]);
    });
  });
}
