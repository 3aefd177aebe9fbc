import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser } from "../helpers/api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { expectError } from "../helpers/expect-error.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";
import { TestSocket } from "../helpers/ws-client.ts";

// docs/security.md S9: a revocation made on one node holds on every node as
// soon as the call that made it answers (the broadcast is awaited), well
// before the user cache's safety-net expiry.
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, store: await createTestDatabase("cluster_user_revocation") });
});
afterAll(async () => {
  await cluster?.stop();
});

describe("user revocation across the cluster", () => {
  it("log out everywhere on one node: the peer refuses the token at once and closes its sockets with 4003", async () => {
    const { api } = await newUser(cluster.node(0).url);
    const onPeer = new Api(cluster.node(1).url, api.token);
    // The peer has now cached the user's token version: only the broadcast can make it forget.
    expect((await onPeer.get("/v1/me")).status).toBe(200);
    const socket = await TestSocket.connect(`${cluster.node(1).wsUrl}`, api.token);
    try {
      expect((await api.post("/v1/me/logout-all")).status).toBe(204);
      expectError(await onPeer.get("/v1/me"), "TOKEN_REVOKED");
      expect(await socket.closed).toEqual({ code: 4003, reason: "TOKEN_REVOKED" });
    } finally {
      await socket.close();
    }
  });

  it("a user deleted on one node is refused on the peer at once", async () => {
    const { api } = await newUser(cluster.node(1).url);
    const onPeer = new Api(cluster.node(0).url, api.token);
    expect((await onPeer.get("/v1/me")).status).toBe(200);
    expect((await api.delete("/v1/me")).status).toBe(204);
    expectError(await onPeer.get("/v1/me"), "TOKEN_REVOKED");
  });
});
