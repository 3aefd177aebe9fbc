import { describe, expect, it } from "vitest";
import { eachItem } from "../src/index.ts";
import { uniqueName, useNode, userClient } from "./helpers/clients.ts";

// A small page so a handful of resources spans several pages.
const { node } = useNode({ AVISO_MAX_LIST_ITEMS: "2" });

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe("listing pages", () => {
  it("lists one page with a cursor, continues from it, and iterates every page", async () => {
    const { client } = await userClient(node().url);
    const prefix = uniqueName("pq");
    const names = ["c", "a", "e", "b", "d"].map((suffix) => `${prefix}-${suffix}`);
    for (const name of names) await client.queues.create(name);

    const first = await client.queues.list({ limit: 1 });
    expect(first.items).toHaveLength(1);
    expect(first.next).toEqual(expect.any(String));
    const second = await client.queues.list({ after: first.next ?? undefined });
    expect(second.items.length).toBeLessThanOrEqual(2);
    expect(second.items[0]?.name).not.toBe(first.items[0]?.name);

    const ours = (await collect(client.queues.listAll()))
      .map((queue) => queue.name)
      .filter((name) => name.startsWith(prefix));
    expect(ours).toEqual([...names].sort());
    const oneByOne = (await collect(client.queues.listAll({ limit: 1 })))
      .map((queue) => queue.name)
      .filter((name) => name.startsWith(prefix));
    expect(oneByOne).toEqual([...names].sort());
  });

  it("pages topics, grants and bindings, and refuses a limit over the node's maximum", async () => {
    const { client } = await userClient(node().url);
    const topic = uniqueName("pt");
    await client.topics.create(topic, { private: true });
    const grantees = ["ext:c", "ext:a", "ext:b"];
    for (const username of grantees) await client.topics.grant(topic, username, ["consume"]);
    const firstGrants = await client.topics.grants(topic);
    expect(firstGrants.items.map((grant) => grant.username)).toEqual(["ext:a", "ext:b"]);
    expect(firstGrants.next).toEqual(expect.any(String));
    const grants = await collect(eachItem((page) => client.topics.grants(topic, page)));
    expect(grants.map((grant) => grant.username)).toEqual([...grantees].sort());

    const queues = ["q3", "q1", "q2"].map((suffix) => `${topic}-${suffix}`);
    for (const queue of queues) await client.topics.bind(topic, queue);
    const bindings = await collect(eachItem((page) => client.topics.bindings(topic, page)));
    expect(bindings.map((binding) => binding.queue)).toEqual([...queues].sort());

    expect((await collect(client.topics.listAll())).map((found) => found.name)).toContain(topic);
    await expect(client.topics.list({ limit: 3 })).rejects.toMatchObject({ reason: "VALIDATION_FAILED" });
  });
});
