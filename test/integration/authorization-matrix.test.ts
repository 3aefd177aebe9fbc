import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MatrixWorld,
  runRestMatrix,
  runWsMatrix,
  sampleFor,
  servedRoutes,
} from "../helpers/authorization-matrix.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";

// docs/security.md: every route and op × every kind of caller → the declared answer; refusals change nothing.

const tokenSecret = randomBytes(24).toString("hex");
let node: TestNode;
let world: MatrixWorld;
beforeAll(async () => {
  node = await startTestNode({ env: { AVISO_TOKEN_SECRET: tokenSecret } });
  world = await MatrixWorld.create([node.url], tokenSecret);
  await world.mintExpired();
});
afterAll(async () => {
  await node?.close();
});

describe("authorization matrix (one node)", () => {
  it("has a sample request for every route the node serves", () => {
    for (const route of servedRoutes()) {
      expect(() => sampleFor(route), route.operationId).not.toThrow();
      // A route that needs no token declares so; every other one authenticates.
      expect(route.auth, route.operationId).toBe(route.access.who !== "anyone");
    }
  });

  it("answers every REST route as its declared access says", { timeout: 120_000 }, async () => {
    expect(await runRestMatrix(world)).toBeGreaterThan(200);
  });

  it("answers every WebSocket op as its declared access says", { timeout: 120_000 }, async () => {
    expect(await runWsMatrix(world)).toBeGreaterThan(50);
  });
});
