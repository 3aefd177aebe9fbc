import { describe, expect, it } from "vitest";
import { startTestNode } from "../../../test/helpers/aviso-node.ts";
import type { ConnectionStatus } from "../src/index.ts";
import {
  deadUrl,
  eventually,
  take,
  trackedClient,
  uniqueName,
  useNode,
  userClient,
} from "./helpers/clients.ts";
import { TcpProxy } from "./helpers/tcp-proxy.ts";

const { node } = useNode();

describe("retries and failover", () => {
  it("retries a REST publish whose answer was lost on the next node, and the message is stored once", async () => {
    const proxy = await TcpProxy.start(node().url);
    try {
      const { client } = await userClient([proxy.url, node().url], { randomizeUrls: false });
      const queue = uniqueName("idem");
      await client.queues.create(queue);
      proxy.swallowAnswers(1);
      const { id } = await client.queues.publish(queue, { order: 7 });
      expect(proxy.swallowed).toBe(1); // the first attempt reached the node, its answer never came back
      expect(id).toBe("1");
      const view = await client.queues.get(queue);
      expect(view.depth).toBe(1);
      const batch = await client.queues.publishBatch(queue, [{ payload: 1 }, { payload: 2 }]);
      expect(batch.ids).toEqual(["2", "3"]);
    } finally {
      await proxy.close();
    }
  });

  it("resends a socket publish on the next socket when the answer was lost, stored once", async () => {
    const proxy = await TcpProxy.start(node().url);
    try {
      const { client } = await userClient(proxy.url, {
        publishVia: "socket",
        reconnect: { initialDelayMs: 10 },
      });
      const topic = uniqueName("idem-topic");
      await client.topics.create(topic);
      await client.connect();
      proxy.swallowAnswers(1);
      expect(await client.topics.publish(topic, "once")).toEqual({ offset: 0 });
      expect(proxy.swallowed).toBe(1);
      const history = await client.topics.history(topic);
      expect(history.messages.map((message) => message.payload)).toEqual(["once"]);
    } finally {
      await proxy.close();
    }
  });

  it("retries a 503 with the same idempotency key", async () => {
    const bodies: string[] = [];
    let refused = 0;
    const flaky: typeof fetch = async (input, init) => {
      if (String(input).endsWith("/messages")) {
        bodies.push(String(init?.body));
        if (refused++ === 0) {
          const error = {
            code: "unavailable",
            reason: "SHUTTING_DOWN",
            message: "going away",
            retry: "always",
          };
          return new Response(JSON.stringify({ error }), {
            status: 503,
            headers: { "content-type": "application/json" },
          });
        }
      }
      return fetch(input, init);
    };
    const { client } = await userClient(node().url, { fetch: flaky });
    const queue = uniqueName("503");
    await client.queues.create(queue);
    expect(await client.queues.publish(queue, "x")).toEqual({ id: "1" });
    expect(bodies).toHaveLength(2);
    expect(bodies[0]).toBe(bodies[1]);
    expect(JSON.parse(bodies[0] as string).idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("does not repeat a call that may have taken effect unless it is idempotent", async () => {
    let creates = 0;
    const unsure: typeof fetch = async (input, init) => {
      if (String(input).endsWith("/v1/queues") && init?.method === "POST") {
        creates++;
        const error = {
          code: "unavailable",
          reason: "STORE_UNAVAILABLE",
          message: "?",
          retry: "if-idempotent",
        };
        return new Response(JSON.stringify({ error }), {
          status: 503,
          headers: { "content-type": "application/json" },
        });
      }
      return fetch(input, init);
    };
    const { client } = await userClient(node().url, { fetch: unsure });
    await expect(client.queues.create(uniqueName("unsure"))).rejects.toMatchObject({
      reason: "STORE_UNAVAILABLE",
      retry: "if-idempotent",
    });
    expect(creates).toBe(1);
  });

  it("skips a dead node in the URL list, for REST and for the socket", async () => {
    const dead = await deadUrl();
    const { client } = await userClient([dead, node().url], {
      randomizeUrls: false,
      reconnect: { initialDelayMs: 10 },
    });
    const statuses: ConnectionStatus[] = [];
    client.on("status", (status) => void statuses.push(status));
    const topic = uniqueName("rotate");
    await client.topics.create(topic);
    const subscription = client.topics.subscribe(topic);
    await subscription.ready();
    expect(statuses.at(-1)).toMatchObject({ state: "connected", url: node().url });
    expect(statuses.some((status) => status.state === "connecting" && status.url === dead)).toBe(false);
    await client.topics.publish(topic, 1);
    expect((await take(subscription, 1))[0]?.payload).toBe(1);
  });
});

describe("heartbeats", () => {
  it("notice a socket that went silent without closing, and reconnect", async () => {
    const proxy = await TcpProxy.start(node().url);
    try {
      const { client } = await userClient(proxy.url, {
        heartbeatIntervalMs: 200,
        reconnect: { initialDelayMs: 10 },
      });
      const topic = uniqueName("silent");
      await client.topics.create(topic);
      const statuses: ConnectionStatus[] = [];
      client.on("status", (status) => void statuses.push(status));
      const subscription = client.topics.subscribe<number>(topic);
      await subscription.ready();
      expect(proxy.freezeAll()).toBeGreaterThan(0);
      await eventually(() =>
        expect(statuses).toContainEqual(expect.objectContaining({ reason: "heartbeat-timeout" })),
      );
      await eventually(() => expect(client.connectionStatus.state).toBe("connected"));
      // Published directly: the client's own pooled HTTP connection is frozen too (it would time out first).
      const { client: publisher } = await userClient(node().url);
      await publisher.topics.publish(topic, 7);
      expect((await take(subscription, 1))[0]).toMatchObject({ offset: 0, payload: 7 });
    } finally {
      await proxy.close();
    }
  });
});

describe("tokens", () => {
  it("are refreshed before they expire and sent in-band, so a live socket is never cut", async () => {
    const shortLived = await startTestNode({ env: { AVISO_TOKEN_TTL_MS: "2500" } });
    try {
      const { client, username, password } = await userClient(shortLived.url, { tokenRefreshMarginMs: 1200 });
      const login = async () => {
        const response = await fetch(`${shortLived.url}/v1/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username, password }),
        });
        return (await response.json()) as { token: string; expiresAt: number };
      };
      let getTokenCalls = 0;
      const viaGetToken = trackedClient({
        urls: [shortLived.url],
        tokenRefreshMarginMs: 1200,
        getToken: () => {
          getTokenCalls++;
          return login();
        },
      });
      // Nothing to refresh with: this one is closed when its token expires.
      const staticToken = trackedClient({ urls: [shortLived.url], token: (await login()).token });

      const topic = uniqueName("refresh");
      await client.topics.create(topic);
      const statuses: ConnectionStatus[][] = [[], []];
      const received: number[][] = [[], []];
      const subscribers = [client, viaGetToken];
      for (const [index, subscriber] of subscribers.entries()) {
        subscriber.on("status", (status) => void statuses[index]?.push(status));
        await subscriber.topics
          .subscribe<number>(topic, { onMessage: (m) => void received[index]?.push(m.payload) })
          .ready();
      }
      await staticToken.connect();
      const firstExpiry = (await client.auth.me()).tokenExpiresAt;
      await eventually(() => expect(Date.now()).toBeGreaterThan(firstExpiry + 300), { timeoutMs: 4000 });
      expect((await client.auth.me()).tokenExpiresAt).toBeGreaterThan(firstExpiry);
      await client.topics.publish(topic, 1);
      await eventually(() => expect(received).toEqual([[1], [1]]));
      for (const history of statuses)
        expect(history.map((status) => status.state)).toEqual(["connecting", "connected"]);
      expect(getTokenCalls).toBeGreaterThanOrEqual(2);
      await eventually(() =>
        expect(staticToken.connectionStatus).toMatchObject({ state: "closed", reason: "token-expired" }),
      );
    } finally {
      await shortLived.close();
    }
  });

  it("report a revoked token (4003) apart from a broken connection, and stop when no new token can be had", async () => {
    const { username, password } = await userClient(node().url);
    const login = await fetch(`${node().url}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    const { token } = (await login.json()) as { token: string };
    const client = trackedClient({ urls: [node().url], token });
    const statuses: ConnectionStatus[] = [];
    client.on("status", (status) => void statuses.push(status));
    await client.connect();
    const loggedOut = await fetch(`${node().url}/v1/me/logout-all`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(loggedOut.status).toBe(204);
    await eventually(() =>
      expect(statuses).toContainEqual(
        expect.objectContaining({ state: "disconnected", reason: "token-revoked", code: 4003 }),
      ),
    );
    await eventually(() =>
      expect(client.connectionStatus).toMatchObject({ state: "closed", reason: "auth-failed" }),
    );
  });
});
