import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../helpers/api.ts";
import type { TestNode } from "../helpers/aviso-node.ts";
import { expectError } from "../helpers/expect-error.ts";
import { startNodeOn, storeKinds } from "../helpers/stores.ts";

const MAX_LIST_ITEMS = 3;
/** More pages than any walk here needs: a listing that never ends fails instead of spinning. */
const MAX_PAGES = 40;

interface Walk<T> {
  items: T[];
  pages: Array<{ count: number; next: string | null }>;
}

/** Follows `next` from the first page until it is null, as a client would. */
async function walk<T>(api: Api, path: string, field: string, limit?: number): Promise<Walk<T>> {
  const result: Walk<T> = { items: [], pages: [] };
  let after: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams();
    if (limit !== undefined) query.set("limit", String(limit));
    if (after !== null) query.set("after", after);
    const response = await api.get<Record<string, unknown>>(`${path}${query.size > 0 ? `?${query}` : ""}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const items = response.body[field] as T[];
    const next = response.body.next as string | null;
    expect(items.length).toBeLessThanOrEqual(limit ?? MAX_LIST_ITEMS);
    result.items.push(...items);
    result.pages.push({ count: items.length, next });
    if (next === null) return result;
    after = next;
  }
  throw new Error(`${path} did not end within ${MAX_PAGES} pages`);
}

const names = (items: Array<{ name: string }>) => items.map((item) => item.name);

describe.each(storeKinds)("listing pages (%s store)", (kind) => {
  let node: TestNode;
  let alice: Api;
  let bob: Api;

  beforeAll(async () => {
    node = await startNodeOn(kind, {
      prefix: "paging",
      env: { AVISO_MAX_LIST_ITEMS: String(MAX_LIST_ITEMS) },
    });
    alice = (await newUser(node.url, "alice")).api;
    bob = (await newUser(node.url, "bob")).api;
  });
  afterAll(async () => {
    await node?.close();
  });

  it("walks every queue and topic the caller may see exactly once, and no one else's private one", async () => {
    const prefix = uniqueName("walk");
    const alicePublic = ["a", "c", "e", "g", "i", "k", "m"].map((suffix) => `${prefix}_${suffix}`);
    const alicePrivate = ["b", "f", "j"].map((suffix) => `${prefix}_${suffix}`);
    const bobPrivate = ["d", "h", "l"].map((suffix) => `${prefix}_${suffix}`);
    for (const [api, list, isPrivate] of [
      [alice, alicePublic, false],
      [alice, alicePrivate, true],
      [bob, bobPrivate, true],
    ] as const) {
      for (const name of list) {
        expect((await api.post("/v1/queues", { name, private: isPrivate })).status).toBe(201);
        expect((await api.post("/v1/topics", { name, private: isPrivate })).status).toBe(201);
      }
    }
    const expected = [...alicePublic, ...bobPrivate].sort();
    for (const [path, field] of [
      ["/v1/queues", "queues"],
      ["/v1/topics", "topics"],
    ] as const) {
      const listed = await walk<{ name: string }>(bob, path, field);
      const ours = names(listed.items).filter((name) => name.startsWith(prefix));
      expect(ours, path).toEqual(expected);
      expect(new Set(names(listed.items)).size, path).toBe(listed.items.length);
      for (const hidden of alicePrivate) expect(names(listed.items), path).not.toContain(hidden);
      expect(listed.pages.length, path).toBeGreaterThan(1);
      // A smaller limit than the node's maximum pages the same listing.
      const small = await walk<{ name: string }>(bob, path, field, 1);
      expect(
        names(small.items).filter((name) => name.startsWith(prefix)),
        path,
      ).toEqual(expected);
    }
  });

  it("ends a page whose store rows are mostly hidden with a cursor that continues past them", async () => {
    // Its own node: the hidden rows must be the only ones before the visible one.
    const lonely = await startNodeOn(kind, {
      prefix: "paging_hidden",
      env: { AVISO_MAX_LIST_ITEMS: String(MAX_LIST_ITEMS) },
    });
    try {
      const carol = (await newUser(lonely.url, "carol")).api;
      const dave = (await newUser(lonely.url, "dave")).api;
      const hidden = Array.from({ length: 15 }, (_, i) => `h${String(i).padStart(2, "0")}-secret`);
      for (const name of hidden)
        expect((await carol.post("/v1/queues", { name, private: true })).status).toBe(201);
      expect((await carol.post("/v1/queues", { name: "zz-public" })).status).toBe(201);

      const listed = await walk<{ name: string }>(dave, "/v1/queues", "queues");
      expect(names(listed.items)).toEqual(["zz-public"]);
      // The first page read its whole scan budget of hidden rows: nothing to show, but not the end.
      expect(listed.pages[0]?.count).toBe(0);
      expect(listed.pages[0]?.next).toEqual(expect.any(String));
      expect(listed.pages.length).toBeLessThanOrEqual(3);
      for (const page of listed.pages) {
        if (page.next === null) continue;
        const decoded = Buffer.from(page.next, "base64url").toString("latin1");
        for (const name of hidden) expect(decoded).not.toContain(name);
      }
      // Carol sees her own, every one, in name order.
      expect(names((await walk<{ name: string }>(carol, "/v1/queues", "queues")).items)).toEqual([
        ...hidden,
        "zz-public",
      ]);
    } finally {
      await lonely.close();
    }
  });

  it("pages grants, subscriptions and API keys", async () => {
    const queue = uniqueName("grants");
    expect((await alice.post("/v1/queues", { name: queue, private: true })).status).toBe(201);
    const grantees = ["ext:d", "ext:a", "ext:c", "ext:b", "ext:e"];
    for (const username of grantees) {
      expect(
        (await alice.post(`/v1/queues/${queue}/grants`, { username, permissions: ["consume"] })).status,
      ).toBe(200);
    }
    const grants = await walk<{ username: string }>(alice, `/v1/queues/${queue}/grants`, "grants");
    expect(grants.items.map((grant) => grant.username)).toEqual([...grantees].sort());
    expect(grants.pages.map((page) => page.count)).toEqual([3, 2]);

    const topic = uniqueName("subs");
    expect((await alice.post("/v1/topics", { name: topic })).status).toBe(201);
    const queues = ["q4", "q1", "q3", "q2"].map((suffix) => `${topic}_${suffix}`);
    for (const name of queues) {
      expect((await alice.post(`/v1/topics/${topic}/subscriptions`, { queue: name })).status).toBe(201);
    }
    const subscriptions = await walk<{ queue: string }>(
      alice,
      `/v1/topics/${topic}/subscriptions`,
      "subscriptions",
    );
    expect(subscriptions.items.map((binding) => binding.queue)).toEqual([...queues].sort());

    const owner = (await newUser(node.url, "keys")).api;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const created = await owner.post<{ id: string }>("/v1/api-keys", { name: `key ${i}` });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    const keys = await walk<{ id: string; createdAt: number }>(owner, "/v1/api-keys", "apiKeys");
    expect(keys.items.map((key) => key.id).sort()).toEqual([...ids].sort());
    const createdAts = keys.items.map((key) => key.createdAt);
    expect(createdAts).toEqual([...createdAts].sort((a, b) => a - b));
  });

  it("answers a request without parameters with the first page", async () => {
    for (let i = 0; i < MAX_LIST_ITEMS + 1; i++) {
      expect((await alice.post("/v1/topics", { name: uniqueName("first") })).status).toBe(201);
    }
    const first = await alice.get<{ topics: unknown[]; next: string | null }>("/v1/topics");
    expect(first.status).toBe(200);
    expect(first.body.topics).toHaveLength(MAX_LIST_ITEMS);
    expect(first.body.next).toEqual(expect.any(String));
  });

  it("declares limit and after on every listing in /openapi.json", async () => {
    const doc = (
      await alice.get<{
        paths: Record<string, { get?: { parameters?: Array<{ name: string; in: string }> } }>;
      }>("/openapi.json")
    ).body;
    for (const path of [
      "/v1/queues",
      "/v1/topics",
      "/v1/queues/{name}/grants",
      "/v1/topics/{name}/grants",
      "/v1/topics/{name}/subscriptions",
      "/v1/api-keys",
    ]) {
      const query = (doc.paths[path]?.get?.parameters ?? []).filter((parameter) => parameter.in === "query");
      expect(query.map((parameter) => parameter.name).sort(), path).toEqual(["after", "limit"]);
    }
  });

  it("refuses a bad limit or cursor with 400 VALIDATION_FAILED", async () => {
    const topicsPage = await alice.get<{ next: string | null }>("/v1/topics?limit=1");
    const foreignCursor = topicsPage.body.next;
    expect(foreignCursor).toEqual(expect.any(String));
    for (const query of [
      "limit=0",
      `limit=${MAX_LIST_ITEMS + 1}`,
      "limit=1001",
      "limit=abc",
      "limit=1.5",
      "after=",
      "after=not%20a%20cursor",
      "after=abcd",
      `after=${foreignCursor}`,
      `after=${(foreignCursor ?? "").slice(0, -2)}AA`,
      "offset=3",
    ]) {
      expectError(await alice.get(`/v1/queues?${query}`), "VALIDATION_FAILED");
    }
    expectError(await alice.get("/v1/api-keys?limit=0"), "VALIDATION_FAILED");
    const topic = uniqueName("bad");
    expect((await alice.post("/v1/topics", { name: topic })).status).toBe(201);
    expectError(await alice.get(`/v1/topics/${topic}/subscriptions?after=abcd`), "VALIDATION_FAILED");
    expectError(await alice.get(`/v1/topics/${topic}/grants?limit=99`), "VALIDATION_FAILED");
  });
});
