import { type AddressInfo, createServer } from "node:net";
import { afterAll, afterEach, beforeAll } from "vitest";
import { newUser, uniqueName } from "../../../../test/helpers/api.ts";
import { startTestNode, type TestNode } from "../../../../test/helpers/aviso-node.ts";
import { type AvisoClient, type ClientOptionsInput, createClient } from "../../src/index.ts";

export { eventually } from "../../../../test/helpers/eventually.ts";
export { uniqueName };

/**
 * One standalone node per test file, and SDK clients for fresh users that
 * are closed after each test (so a leaked socket or timer shows up there).
 */
export function useNode(env: Record<string, string> = {}): { node: () => TestNode } {
  let node: TestNode | undefined;
  beforeAll(async () => {
    node = await startTestNode({ env });
  });
  afterAll(async () => {
    await node?.close();
  });
  return {
    node: () => {
      if (node === undefined) throw new Error("the node is not started yet");
      return node;
    },
  };
}

const openClients = new Set<AvisoClient>();
afterEach(async () => {
  await Promise.all([...openClients].map((client) => client.close()));
  openClients.clear();
});

/** A client that afterEach closes. */
export function trackedClient(options: ClientOptionsInput): AvisoClient {
  const client = createClient({ heartbeatIntervalMs: 0, ...options });
  openClients.add(client);
  return client;
}

/** Registers a fresh user (REST) and returns a client logged in as them. */
export async function userClient(
  url: string | readonly string[],
  options: Partial<ClientOptionsInput> = {},
): Promise<{ client: AvisoClient; username: string; password: string }> {
  const urls = typeof url === "string" ? [url] : url;
  const { username, password } = await newUser(urls[urls.length - 1] as string, "sdk");
  const client = trackedClient({ urls, username, password, ...options });
  return { client, username, password };
}

/** A loopback URL where nothing listens (connections are refused at once). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Collects what arrives until `count` items are there, or fails at the deadline. */
export async function take<T>(iterator: AsyncIterable<T>, count: number, timeoutMs = 5000): Promise<T[]> {
  const items: T[] = [];
  if (count === 0) return items;
  const deadline = new Promise<never>((_, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`got ${items.length} of ${count} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
  });
  const reading = (async () => {
    const source = iterator[Symbol.asyncIterator]();
    while (items.length < count) {
      const next = await source.next();
      if (next.done === true) break;
      items.push(next.value);
    }
    return items;
  })();
  return Promise.race([reading, deadline]);
}
