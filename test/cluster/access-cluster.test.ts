import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { MatrixWorld, runRestMatrix, runWsMatrix } from "../helpers/authorization-matrix.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";
import { TestSocket } from "../helpers/ws-client.ts";

// docs/security.md through a 3-node cluster: the same matrix, each caller on another node than the
// creator, and withdrawn access ending subscriptions on every node.

const tokenSecret = randomBytes(24).toString("hex");
let cluster: TestCluster;
let world: MatrixWorld;
beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    store: await createTestDatabase("cluster_access"),
    env: { AVISO_TOKEN_SECRET: tokenSecret },
  });
  world = await MatrixWorld.create(
    [0, 1, 2].map((i) => cluster.node(i).url),
    tokenSecret,
  );
  await world.mintExpired();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("access in a cluster", () => {
  it("answers every REST route as its declared access says, through every node", {
    timeout: 300_000,
  }, async () => {
    expect(await runRestMatrix(world)).toBeGreaterThan(200);
  });

  it("answers every WebSocket op as its declared access says, through every node", {
    timeout: 300_000,
  }, async () => {
    expect(await runWsMatrix(world)).toBeGreaterThan(50);
  });

  it("ends subscriptions on every node when the creator revokes a grant on one", async () => {
    const alice = new Api(cluster.node(0).url, world.creator.api.token);
    const { api: bob, username: bobName } = await newUser(cluster.node(1).url, "bob");
    const queue = uniqueName("q");
    const topic = uniqueName("t");
    expect((await alice.post("/v1/queues", { name: queue, private: true })).status).toBe(201);
    expect((await alice.post("/v1/topics", { name: topic, private: true })).status).toBe(201);
    for (const kind of ["queues", "topics"]) {
      const name = kind === "queues" ? queue : topic;
      const granted = await alice.post(`/v1/${kind}/${name}/grants`, {
        username: bobName,
        permissions: ["consume"],
      });
      expect(granted.status).toBe(200);
    }
    const sockets = await Promise.all(
      [1, 2].map((i) => TestSocket.connect(cluster.node(i).wsUrl, bob.token)),
    );
    try {
      const subs: Array<{ socket: TestSocket; sub: string }> = [];
      for (const socket of sockets) {
        for (const target of [{ queue }, { topic }]) {
          const reply = await socket.request({ op: "subscribe", id: uniqueName("s"), ...target }, 15_000);
          expect(reply).toMatchObject({ op: "ok" });
          subs.push({ socket, sub: reply.sub as string });
        }
      }
      for (const kind of ["queues", "topics"]) {
        const name = kind === "queues" ? queue : topic;
        const revoked = await alice.post(`/v1/${kind}/${name}/grants`, {
          username: bobName,
          permissions: [],
        });
        expect(revoked.status).toBe(200);
      }
      // Announced to every peer before the revoke was answered: ended at once, well inside accessRecheckMs.
      for (const { socket, sub } of subs) {
        const ended = await socket.waitFor((frame) => frame.op === "ended" && frame.sub === sub, 5000);
        expect(ended).toMatchObject({ reason: "ACCESS_REVOKED" });
      }
    } finally {
      await Promise.all(sockets.map((socket) => socket.close()));
    }
  });
});
