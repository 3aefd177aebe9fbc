import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ApiKeyRecord } from "../../src/store/api-key-record.ts";
import type { Store } from "../../src/store/store.ts";
import { baseTime, uniqueName } from "./fixtures.ts";

function apiKey(username: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  const id = uniqueName("key");
  return {
    id,
    username,
    name: "ci deploys",
    secretHash: createHash("sha256").update(id).digest("hex"),
    scope: null,
    createdAt: baseTime,
    expiresAt: null,
    ...overrides,
  };
}

/** API keys (migration 004, docs/security.md S14). */
export function describeApiKeyConformance(store: () => Store): void {
  describe("API keys", () => {
    it("stores a key with its scope and expiry and finds it by id and by secret hash", async () => {
      const key = apiKey(uniqueName("svc"), {
        name: "orders worker ✓",
        scope: [
          { kind: "queue", resource: "orders", permissions: ["consume", "publish"] },
          { kind: "topic", resource: "prices", permissions: ["consume"] },
        ],
        expiresAt: baseTime + 86_400_000,
      });
      await store().createApiKey(key);
      expect(await store().getApiKey(key.id)).toEqual(key);
      expect(await store().getApiKeyBySecretHash(key.secretHash)).toEqual(key);
    });

    it("answers undefined for an unknown id or hash", async () => {
      expect(await store().getApiKey(uniqueName("nokey"))).toBeUndefined();
      expect(await store().getApiKeyBySecretHash("0".repeat(64))).toBeUndefined();
    });

    it("lists one user's keys oldest first and nobody else's", async () => {
      const username = uniqueName("owner");
      const newer = apiKey(username, { createdAt: baseTime + 2 });
      const older = apiKey(username, { createdAt: baseTime + 1 });
      await store().createApiKey(newer);
      await store().createApiKey(older);
      await store().createApiKey(apiKey(uniqueName("other")));
      expect((await store().listApiKeys(username)).map((key) => key.id)).toEqual([older.id, newer.id]);
      expect(await store().listApiKeys(uniqueName("nobody"))).toEqual([]);
    });

    it("deletes a key once: it is no longer found by its hash", async () => {
      const key = apiKey(uniqueName("gone"));
      await store().createApiKey(key);
      expect(await store().deleteApiKey(key.id)).toBe(true);
      expect(await store().deleteApiKey(key.id)).toBe(false);
      expect(await store().getApiKeyBySecretHash(key.secretHash)).toBeUndefined();
      expect(await store().listApiKeys(key.username)).toEqual([]);
    });

    it("refuses a second key with the same secret hash", async () => {
      const key = apiKey(uniqueName("dup"));
      await store().createApiKey(key);
      await expect(store().createApiKey({ ...key, id: uniqueName("key") })).rejects.toBeDefined();
      expect((await store().listApiKeys(key.username)).map((stored) => stored.id)).toEqual([key.id]);
    });
  });
}
