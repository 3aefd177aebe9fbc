import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { baseTime, queueDefinition, topicDefinition, uniqueName } from "./fixtures.ts";

/** Token versions and soft deletion (docs/security.md S9). */
export function describeUserConformance(store: () => Store): void {
  async function newUser(prefix: string): Promise<string> {
    const username = uniqueName(prefix);
    await store().createUser({ username, passwordHash: "h", createdAt: baseTime });
    return username;
  }

  describe("user revocation and deletion", () => {
    it("starts a user at token version 0, not deleted", async () => {
      const username = await newUser("fresh");
      expect(await store().getUser(username)).toEqual({
        username,
        passwordHash: "h",
        createdAt: baseTime,
        tokenVersion: 0,
        deletedAt: undefined,
      });
    });

    it("revokeTokens bumps the token version by one each time and answers the new version", async () => {
      const username = await newUser("revoke");
      expect(await store().revokeTokens(username)).toBe(1);
      expect(await store().revokeTokens(username)).toBe(2);
      expect((await store().getUser(username))?.tokenVersion).toBe(2);
      expect(await store().revokeTokens(uniqueName("nobody"))).toBeUndefined();
    });

    it("deleteUser keeps the row (the name stays taken), bumps the version and removes only that user's grants", async () => {
      const username = await newUser("leaving");
      const other = await newUser("staying");
      const queue = uniqueName("q");
      const topic = uniqueName("t");
      await store().createQueue(queueDefinition(queue, { creator: username }));
      await store().createTopic(topicDefinition(topic));
      await store().putGrant({ kind: "queue", resource: queue, username, permissions: ["consume"] });
      await store().putGrant({ kind: "topic", resource: topic, username, permissions: ["publish"] });
      await store().putGrant({ kind: "topic", resource: topic, username: other, permissions: ["publish"] });

      const removed = await store().deleteUser(username, baseTime + 5);
      expect(removed).toEqual(
        expect.arrayContaining([
          { kind: "queue", resource: queue },
          { kind: "topic", resource: topic },
        ]),
      );
      expect(removed).toHaveLength(2);
      expect(await store().getUser(username)).toMatchObject({ tokenVersion: 1, deletedAt: baseTime + 5 });
      expect(await store().listGrants("queue", queue)).toEqual([]);
      expect(await store().listGrants("topic", topic)).toEqual([
        { kind: "topic", resource: topic, username: other, permissions: ["publish"] },
      ]);
      expect((await store().getQueue(queue))?.creator).toBe(username);
      await expect(
        store().createUser({ username, passwordHash: "h2", createdAt: baseTime }),
      ).rejects.toMatchObject({ reason: "USERNAME_TAKEN" });
    });

    it("answers undefined when deleting or revoking a deleted or unknown user, changing nothing", async () => {
      const username = await newUser("twice");
      expect(await store().deleteUser(username, baseTime)).toEqual([]);
      expect(await store().deleteUser(username, baseTime + 1)).toBeUndefined();
      expect(await store().revokeTokens(username)).toBeUndefined();
      expect(await store().getUser(username)).toMatchObject({ tokenVersion: 1, deletedAt: baseTime });
      expect(await store().deleteUser(uniqueName("nobody"), baseTime)).toBeUndefined();
    });
  });
}
