import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPeerClient } from "../../src/cluster/peer/peer-client.ts";
import { type RunningPeerServer, startPeerServer } from "../../src/cluster/peer/peer-server.ts";
import type { PeerTls } from "../../src/cluster/peer/peer-types.ts";
import {
  expectReason,
  newQueue,
  type PeerServingNode,
  queueInput,
  SECRET,
  startPeerServingNode,
} from "../helpers/peer-serving-node.ts";

/** The peer link over mutual TLS: a real peer server over real engines, clients with and without the CA's certificate. */

describe("peer rpc over mutual TLS", () => {
  let dir: string;
  let node: PeerServingNode;
  let server: RunningPeerServer;
  // The node certificates name localhost; the client dials 127.0.0.1 and checks that name.
  let tls: PeerTls & { serverName: string };
  let stranger: PeerTls & { serverName: string };

  /** A CA, a node certificate for localhost/127.0.0.1 signed by it, and one signed by another CA. */
  async function makeCertificates(): Promise<void> {
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await writeFile(join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    for (const ca of ["ca", "other-ca"]) {
      openssl(
        "req",
        "-x509",
        ...ec,
        "-keyout",
        `${ca}.key`,
        "-out",
        `${ca}.crt`,
        "-subj",
        `/CN=${ca}`,
        "-days",
        "2",
      );
      openssl("req", ...ec, "-keyout", `${ca}-node.key`, "-out", `${ca}-node.csr`, "-subj", "/CN=aviso-node");
      openssl(
        "x509",
        "-req",
        "-in",
        `${ca}-node.csr`,
        "-CA",
        `${ca}.crt`,
        "-CAkey",
        `${ca}.key`,
        "-CAcreateserial",
        "-out",
        `${ca}-node.crt`,
        "-days",
        "2",
        "-extfile",
        "san.ext",
      );
    }
    const read = (file: string) => readFile(join(dir, file));
    const ca = await read("ca.crt");
    tls = { ca, cert: await read("ca-node.crt"), key: await read("ca-node.key"), serverName: "localhost" };
    stranger = {
      ca,
      cert: await read("other-ca-node.crt"),
      key: await read("other-ca-node.key"),
      serverName: "localhost",
    };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "aviso-peer-tls-"));
    await makeCertificates();
    node = await startPeerServingNode();
    server = await startPeerServer({
      host: "127.0.0.1",
      port: 0,
      clusterSecret: SECRET,
      tls,
      handler: { servingNodes: node.servingNodes, notify: async () => {} },
    });
  });
  afterAll(async () => {
    await server?.close();
    await node?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves a client whose certificate the cluster CA signed", async () => {
    const queue = await newQueue(node);
    const client = createPeerClient({ peerUrl: `127.0.0.1:${server.port}`, clusterSecret: SECRET, tls });
    try {
      expect(await client.queues.publish(queue, [queueInput(1)])).toEqual(["1"]);
    } finally {
      client.close();
    }
  });

  it("refuses a client with another CA's certificate, and a client without TLS", async () => {
    const queue = await newQueue(node);
    const clients = [
      createPeerClient({ peerUrl: `127.0.0.1:${server.port}`, clusterSecret: SECRET, tls: stranger }),
      createPeerClient({ peerUrl: `127.0.0.1:${server.port}`, clusterSecret: SECRET }),
    ];
    try {
      for (const client of clients) {
        await expectReason(client.queues.publish(queue, [queueInput(1)]), "OWNER_UNAVAILABLE");
      }
      expect(await node.servingNodes.queues.stats(queue)).toBeUndefined();
    } finally {
      for (const client of clients) client.close();
    }
  });
});
