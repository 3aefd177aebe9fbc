import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ResourceRef, ServingNodeHints } from "../../clients/js/src/http/serving-node-hints.ts";
import { resolveClientOptions } from "../../clients/js/src/options.ts";

const URLS = ["http://a:1", "http://b:2/", "http://c:3"];
const TTL_MS = 30_000;
const orders: ResourceRef = { kind: "queues", name: "orders" };

/** A lookup whose answers the test gives, recording what was asked. */
function scriptedLookup() {
  const asked: string[] = [];
  let answer: () => Promise<string> = () => Promise.resolve("http://b:2");
  return {
    asked,
    answer(next: () => Promise<string>) {
      answer = next;
    },
    lookup: (resource: ResourceRef) => {
      asked.push(`${resource.kind}/${resource.name}`);
      return answer();
    },
  };
}

/** Lets the lookup's promise callbacks run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe("ServingNodeHints", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers nothing until the lookup returns, asks once, then answers the configured URL until the TTL", async () => {
    const script = scriptedLookup();
    const hints = new ServingNodeHints(URLS, script.lookup, TTL_MS);
    expect(hints.urlFor(orders)).toBeUndefined();
    expect(hints.urlFor(orders)).toBeUndefined();
    await settle();
    expect(script.asked).toEqual(["queues/orders"]);
    // Trailing slashes do not matter on either side.
    expect(hints.urlFor(orders)).toBe("http://b:2");
    expect(hints.urlFor({ kind: "topics", name: "orders" })).toBeUndefined();
    await settle();
    expect(script.asked).toEqual(["queues/orders", "topics/orders"]);
  });

  it("keeps using an expired answer while it asks again, and takes the new one", async () => {
    const script = scriptedLookup();
    const hints = new ServingNodeHints(URLS, script.lookup, TTL_MS);
    hints.urlFor(orders);
    await settle();
    vi.advanceTimersByTime(TTL_MS + 1);
    script.answer(() => Promise.resolve("http://c:3"));
    expect(hints.urlFor(orders)).toBe("http://b:2");
    await settle();
    expect(hints.urlFor(orders)).toBe("http://c:3");
    expect(script.asked).toHaveLength(2);
  });

  it("never hints a node outside the configured URLs, and does not ask again for the TTL", async () => {
    const script = scriptedLookup();
    script.answer(() => Promise.resolve("http://elsewhere:9"));
    const hints = new ServingNodeHints(URLS, script.lookup, TTL_MS);
    hints.urlFor(orders);
    await settle();
    for (let call = 0; call < 5; call++) expect(hints.urlFor(orders)).toBeUndefined();
    await settle();
    expect(script.asked).toHaveLength(1);
  });

  it("after a failed lookup, or a failed call to the hinted node, goes through the node list for the TTL", async () => {
    const script = scriptedLookup();
    script.answer(() => Promise.reject(new Error("no node answered")));
    const hints = new ServingNodeHints(URLS, script.lookup, TTL_MS);
    hints.urlFor(orders);
    await settle();
    expect(hints.urlFor(orders)).toBeUndefined();
    expect(script.asked).toHaveLength(1);

    script.answer(() => Promise.resolve("http://a:1"));
    vi.advanceTimersByTime(TTL_MS + 1);
    hints.urlFor(orders);
    await settle();
    expect(hints.urlFor(orders)).toBe("http://a:1");
    hints.forget(orders);
    expect(hints.urlFor(orders)).toBeUndefined();
    await settle();
    expect(script.asked).toHaveLength(2);
    vi.advanceTimersByTime(TTL_MS + 1);
    hints.urlFor(orders);
    await settle();
    expect(hints.urlFor(orders)).toBe("http://a:1");
  });

  it("keeps at most maxEntries answers, dropping the oldest", async () => {
    const script = scriptedLookup();
    const hints = new ServingNodeHints(URLS, script.lookup, TTL_MS, 2);
    const queue = (name: string): ResourceRef => ({ kind: "queues", name });
    for (const name of ["a", "b", "c"]) {
      hints.urlFor(queue(name));
      await settle();
    }
    expect(hints.urlFor(queue("c"))).toBe("http://b:2");
    expect(hints.urlFor(queue("b"))).toBe("http://b:2");
    // "a" was dropped: asked again.
    expect(hints.urlFor(queue("a"))).toBeUndefined();
    await settle();
    expect(script.asked).toEqual(["queues/a", "queues/b", "queues/c", "queues/a"]);
  });
});

describe("client option preferServingNodes", () => {
  it("is off by default, on when given, and read from its deprecated name preferOwners", () => {
    expect(resolveClientOptions({ urls: URLS }).preferServingNodes).toBe(false);
    expect(resolveClientOptions({ urls: URLS, preferServingNodes: true }).preferServingNodes).toBe(true);
    expect(resolveClientOptions({ urls: URLS, preferOwners: true }).preferServingNodes).toBe(true);
    expect(resolveClientOptions({ urls: URLS, preferOwners: true, preferServingNodes: false })).toMatchObject(
      {
        preferServingNodes: false,
      },
    );
    expect(resolveClientOptions({ urls: URLS, preferOwners: true })).not.toHaveProperty("preferOwners");
  });
});
