import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import { ack, createQueue, type Delivery, getQueue, publishToQueue, receive } from "../helpers/broker-api.ts";
import { expectError } from "../helpers/expect-error.ts";
import { TestSocket } from "../helpers/ws-client.ts";

// docs/security.md S5: a receipt settles a delivery only for the user it was issued to, on its queue.
describe("receipts (S5)", () => {
  let node: TestNode;
  let alice: Api;
  let bob: Api;
  let bobName: string;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    node = await startTestNode();
    alice = (await newUser(node.url, "alice")).api;
    ({ api: bob, username: bobName } = await newUser(node.url, "bob"));
  });
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.close()));
  });
  afterAll(async () => {
    await node?.close();
  });

  /** A private queue Alice created, Bob granted consume, one message leased to Alice. */
  async function leasedToAlice(): Promise<{ queue: string; receipt: string }> {
    const { name } = await createQueue(alice, { private: true, ackTimeoutMs: 60_000 });
    const granted = await alice.post(`/v1/queues/${name}/grants`, {
      username: bobName,
      permissions: ["consume"],
    });
    expect(granted.status).toBe(200);
    await publishToQueue(alice, name, [{ payload: "alice's" }]);
    const [leased] = await receive(alice, name);
    return { queue: name, receipt: (leased as Delivery).receipt };
  }

  const settle = (api: Api, queue: string, action: "ack" | "nack", receipts: string[]) =>
    api.post(`/v1/queues/${queue}/${action}`, { receipts });

  it("refuses another consumer's ack or nack of a receipt with 400 INVALID_RECEIPT; the holder's ack works", async () => {
    const { queue, receipt } = await leasedToAlice();
    expectError(await settle(bob, queue, "ack", [receipt]), "INVALID_RECEIPT");
    expectError(await settle(bob, queue, "nack", [receipt]), "INVALID_RECEIPT");
    expect(await getQueue(alice, queue)).toMatchObject({ depth: 0, inFlight: 1 });
    expect(await receive(bob, queue)).toEqual([]);
    expect(await ack(alice, queue, [receipt])).toEqual({ acked: 1, stale: [] });
  });

  it("refuses an altered receipt and changes nothing, even next to a good one", async () => {
    const { queue, receipt } = await leasedToAlice();
    const flipLast = receipt.slice(0, -1) + (receipt.endsWith("A") ? "B" : "A");
    const flipFirst = (receipt.startsWith("1") ? "2" : "1") + receipt.slice(1);
    for (const altered of [flipLast, flipFirst, `${receipt}A`, receipt.slice(0, -1)]) {
      expectError(await settle(alice, queue, "ack", [receipt, altered]), "INVALID_RECEIPT");
      expectError(await settle(alice, queue, "nack", [altered]), "INVALID_RECEIPT");
    }
    expect(await getQueue(alice, queue)).toMatchObject({ depth: 0, inFlight: 1 });
    expect(await ack(alice, queue, [receipt])).toEqual({ acked: 1, stale: [] });
  });

  it("cannot be guessed from one's own receipt by stepping its sequence or lease", async () => {
    const { queue, receipt: alices } = await leasedToAlice();
    await publishToQueue(alice, queue, [{ payload: "bob's" }]);
    const [own] = await receive(bob, queue);
    // The broker's part is `epoch.seq.lease.tag`; whatever follows is kept as Bob received it.
    const [epoch, seq, lease, tag, ...rest] = (own as Delivery).receipt.split(".") as string[];
    const step = (part: string | undefined, by: number) =>
      (Number.parseInt(part ?? "", 36) + by).toString(36);
    const guesses: string[] = [];
    for (const seqStep of [-2, -1, 0])
      for (const leaseStep of [-2, -1, 0])
        if (seqStep !== 0 || leaseStep !== 0)
          guesses.push([epoch, step(seq, seqStep), step(lease, leaseStep), tag, ...rest].join("."));
    for (const guess of guesses) {
      const answer = await settle(bob, queue, "ack", [guess]);
      expect(answer.status, `${guess}: ${JSON.stringify(answer.body)}`).toBe(400);
      expectError(answer, "INVALID_RECEIPT");
    }
    expect(await getQueue(alice, queue)).toMatchObject({ depth: 0, inFlight: 2 });
    expect(await ack(alice, queue, [alices])).toEqual({ acked: 1, stale: [] });
    expect(await ack(bob, queue, [(own as Delivery).receipt])).toEqual({ acked: 1, stale: [] });
  });

  it("refuses a receipt on a queue other than its own and settles neither delivery", async () => {
    const one = await createQueue(alice, { ackTimeoutMs: 60_000 });
    const two = await createQueue(alice, { ackTimeoutMs: 60_000 });
    await publishToQueue(alice, one.name, [{ payload: 1 }]);
    await publishToQueue(alice, two.name, [{ payload: 2 }]);
    const [fromOne] = await receive(alice, one.name);
    await receive(alice, two.name);
    expectError(await settle(alice, two.name, "ack", [(fromOne as Delivery).receipt]), "INVALID_RECEIPT");
    expect(await getQueue(alice, one.name)).toMatchObject({ inFlight: 1 });
    expect(await getQueue(alice, two.name)).toMatchObject({ inFlight: 1 });
  });

  it("WebSocket deliveries are settled only by the subscription they were pushed to", async () => {
    const { name } = await createQueue(alice, { ackTimeoutMs: 60_000 });
    const aliceSocket = await TestSocket.connect(node.wsUrl, alice.token);
    const bobSocket = await TestSocket.connect(node.wsUrl, bob.token);
    sockets.push(aliceSocket, bobSocket);
    const aliceSub = await aliceSocket.request({ op: "subscribe", id: "a", queue: name, prefetch: 1 });
    const [id] = await publishToQueue(alice, name, [{ payload: "pushed" }]);
    await aliceSocket.waitFor((frame) => frame.op === "message" && frame.id === id);
    const bobSub = await bobSocket.request({ op: "subscribe", id: "b", queue: name });
    const refused = await bobSocket.request({ op: "ack", id: "ack", sub: bobSub.sub, ids: [id] });
    expect(refused).toMatchObject({ op: "ok", acked: 0, stale: [id] });
    expect(await getQueue(alice, name)).toMatchObject({ depth: 0, inFlight: 1 });
    const acked = await aliceSocket.request({ op: "ack", id: "ack", sub: aliceSub.sub, ids: [id] });
    expect(acked).toMatchObject({ op: "ok", acked: 1, stale: [] });
  });
});
