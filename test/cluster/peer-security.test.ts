import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatsRequestSchema } from "../../src/cluster/peer/gen/aviso/peer/v1/peer_pb.ts";
import {
  createPeerClient,
  type PeerClient,
  type PeerClientOptions,
} from "../../src/cluster/peer/peer-client.ts";
import { peerServiceDefinition } from "../../src/cluster/peer/peer-definition.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { createTestDatabase } from "../helpers/mariadb.ts";
import { createPeerPki, type PeerCa, type PeerCertificate, type PeerPki } from "../helpers/peer-pki.ts";

/**
 * A 2-node cluster with the peer link on mutual TLS (peerTlsCa/Cert/Key)
 * and ZooKeeper digest ACLs (zkAuth), over real gRPC on loopback: it serves
 * as any cluster does, and the peer servers refuse whoever lacks a
 * certificate from the cluster's CA or the cluster secret.
 */

const NODES = [0, 1];
const clusterSecret = randomBytes(24).toString("hex");
const operator = `ops-${randomBytes(3).toString("hex")}`;
const operatorPassword = "correct horse battery";

let pki: PeerPki;
let clusterCa: PeerCa;
let nodeCert: PeerCertificate;
let otherCa: PeerCa;
let rogueCert: PeerCertificate;
let cluster: TestCluster;

beforeAll(async () => {
  pki = await createPeerPki();
  clusterCa = await pki.ca("cluster-ca");
  nodeCert = await clusterCa.issue("node", ["127.0.0.1", "localhost"]);
  otherCa = await pki.ca("other-ca");
  rogueCert = await otherCa.issue("rogue", ["127.0.0.1", "localhost"]);
  cluster = await startCluster({
    nodes: 2,
    store: await createTestDatabase("cluster_peer_security"),
    env: {
      AVISO_CLUSTER_SECRET: clusterSecret,
      AVISO_PEER_TLS_CA: clusterCa.cert,
      AVISO_PEER_TLS_CERT: nodeCert.cert,
      AVISO_PEER_TLS_KEY: nodeCert.key,
      AVISO_ZK_AUTH: `aviso:${randomBytes(12).toString("hex")}`,
      AVISO_OPERATORS: operator,
    },
  });
});

afterAll(async () => {
  await cluster?.stop();
  await pki?.remove();
});

const pem = (path: string) => readFileSync(path);

/** Where node `index`'s peer server listens, as the cluster view tells an operator. */
async function peerUrlOf(index: number): Promise<string> {
  const anonymous = new Api(cluster.node(0).url);
  await anonymous.post("/v1/auth/register", { username: operator, password: operatorPassword });
  const login = await anonymous.post<{ token: string }>("/v1/auth/login", {
    username: operator,
    password: operatorPassword,
  });
  const view = await new Api(cluster.node(index).url, login.body.token).get<{ self: { peerUrl: string } }>(
    "/v1/cluster",
  );
  expect(view.body.self.peerUrl).toMatch(/^127\.0\.0\.1:\d+$/);
  return view.body.self.peerUrl;
}

/** The gRPC status behind a failed peer call (link failures arrive as OWNER_UNAVAILABLE with the ServiceError as cause). */
async function refusalOf(call: Promise<unknown>): Promise<number> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AvisoError);
  expect((error as AvisoError).reason).toBe("OWNER_UNAVAILABLE");
  return ((error as AvisoError).cause as ServiceError).code;
}

describe("peer link with mutual TLS and ZooKeeper ACLs", () => {
  it("publishes on one node and consumes through the other", async () => {
    const alice = await newUser(cluster.node(0).url);
    const on = (i: number) => new Api(cluster.node(i).url, alice.api.token);
    const queue = uniqueName("q");
    expect((await on(0).post("/v1/queues", { name: queue })).status).toBe(201);
    const lookup = await on(1).get<{ httpUrl: string }>(`/v1/queues/${queue}/lookup`);
    const owner = NODES.find((i) => cluster.node(i).url === lookup.body.httpUrl);
    expect(owner).toBeDefined();
    const other = owner === 0 ? 1 : 0;
    // Through the node that does not own the queue, both ways cross the peer link.
    for (const i of [other, owner as number]) {
      expect((await on(i).post(`/v1/queues/${queue}/messages`, { payload: i })).status).toBe(201);
    }
    const received = await on(other).post<{ messages: Array<{ receipt: string; payload: number }> }>(
      `/v1/queues/${queue}/receive`,
      { max: 10 },
    );
    expect(received.status).toBe(200);
    expect(received.body.messages.map((message) => message.payload)).toEqual([other, owner]);
    const acked = await on(other).post(`/v1/queues/${queue}/ack`, {
      receipts: received.body.messages.map((message) => message.receipt),
    });
    expect(acked.body).toMatchObject({ acked: 2 });
  });

  it("refuses a client without a certificate, with one from another CA, or without the secret; clients refuse a server outside their CA", async () => {
    const alice = await newUser(cluster.node(0).url);
    const queue = uniqueName("q");
    expect(
      (await new Api(cluster.node(0).url, alice.api.token).post("/v1/queues", { name: queue })).status,
    ).toBe(201);
    const sent = await new Api(cluster.node(0).url, alice.api.token).post(`/v1/queues/${queue}/messages`, {
      payload: "held",
    });
    expect(sent.status).toBe(201);
    const lookup = await new Api(cluster.node(0).url, alice.api.token).get<{ httpUrl: string }>(
      `/v1/queues/${queue}/lookup`,
    );
    const owner = NODES.findIndex((i) => cluster.node(i).url === lookup.body.httpUrl);
    expect(owner).toBeGreaterThanOrEqual(0);
    const peerUrl = await peerUrlOf(owner);
    const opened: PeerClient[] = [];
    const client = (options: Partial<PeerClientOptions>) => {
      const peer = createPeerClient({ peerUrl, clusterSecret, callTimeoutMs: 10_000, ...options });
      opened.push(peer);
      return peer;
    };
    const clusterTls = { ca: pem(clusterCa.cert), cert: pem(nodeCert.cert), key: pem(nodeCert.key) };
    try {
      // The control: the cluster's certificate and secret get the owner's answer.
      expect(await client({ tls: clusterTls }).queues.stats(queue)).toMatchObject({ depth: 1 });

      // Plaintext against a TLS server.
      expect(await refusalOf(client({}).queues.stats(queue))).toBe(status.UNAVAILABLE);
      // A certificate signed by another CA.
      const rogue = { ca: pem(clusterCa.cert), cert: pem(rogueCert.cert), key: pem(rogueCert.key) };
      expect(await refusalOf(client({ tls: rogue }).queues.stats(queue))).toBe(status.UNAVAILABLE);
      // The client trusts only another CA, so the node's server certificate fails verification.
      const distrustful = { ca: pem(otherCa.cert), cert: pem(nodeCert.cert), key: pem(nodeCert.key) };
      expect(await refusalOf(client({ tls: distrustful }).queues.stats(queue))).toBe(status.UNAVAILABLE);
      // The right certificate does not replace the cluster secret.
      const noSecret = client({ tls: clusterTls, clusterSecret: "x".repeat(48) });
      expect(await refusalOf(noSecret.queues.stats(queue))).toBe(status.UNAUTHENTICATED);
      // TLS with no client certificate at all.
      expect(await statsWithoutClientCertificate(peerUrl, queue)).toBe(status.UNAVAILABLE);
    } finally {
      for (const peer of opened) peer.close();
    }
  });
});

/** One Stats call over TLS that trusts the cluster's CA but presents no certificate; resolves to the gRPC status. */
function statsWithoutClientCertificate(peerUrl: string, queue: string): Promise<number> {
  const grpc = new Client(peerUrl, credentials.createSsl(pem(clusterCa.cert)));
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${clusterSecret}`);
  const definition = peerServiceDefinition.stats;
  return new Promise<number>((resolve) => {
    grpc.makeUnaryRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      create(StatsRequestSchema, { queue }),
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: ServiceError | null) => {
        grpc.close();
        resolve(error === null ? status.OK : error.code);
      },
    );
  });
}
