import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";
import {
  ack,
  createQueue,
  createTopic,
  type Delivery,
  getQueue,
  publishToQueue,
  publishToTopic,
  receive,
} from "../helpers/broker-api.ts";
import { eventually } from "../helpers/eventually.ts";
import { type Frame, TestSocket } from "../helpers/ws-client.ts";

/**
 * docs/security.md "How the rules are proved": two ordinary accounts and an
 * anonymous caller attack one node at once — parallel password guessing, a
 * flood of anonymous sockets, oversized and deeply nested bodies, receipt
 * guessing, name reuse after delete — while a well-behaved client publishes
 * and consumes. Every attack must fail as documented, and the well-behaved
 * client must be served throughout: every round answered, none slower than
 * ROUND_BOUND_MS (a liveness bound, far above a normal round; the measured
 * latencies are printed, not asserted).
 *
 * Bounded: each attack has a fixed count, the probe stops when they end.
 */
const LOGIN_MAX_FAILURES = 5;
const ANONYMOUS_SLOTS = 40;
const MAX_BODY_BYTES = 65_536;
const ROUND_BOUND_MS = 5_000;
const password = "correct horse battery";

let node: TestNode;
/** Owns the attacked resources. */
let alice: { username: string; api: Api };
/** The attacker: an ordinary account. */
let mallory: { username: string; api: Api };
/** The well-behaved client. */
let carol: { username: string; api: Api };

beforeAll(async () => {
  node = await startTestNode({
    env: {
      AVISO_LOGIN_MAX_FAILURES: String(LOGIN_MAX_FAILURES),
      AVISO_MAX_UNAUTHENTICATED_CONNECTIONS: String(ANONYMOUS_SLOTS),
      AVISO_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      AVISO_MAX_PAYLOAD_BYTES: String(MAX_BODY_BYTES / 2),
      // The flood's sockets must stay unauthenticated for the whole test.
      AVISO_WS_AUTH_TIMEOUT_MS: "60000",
    },
  });
  // Every login happens before the guessing: the limiter also counts per address, and all of us are 127.0.0.1.
  [alice, mallory, carol] = await Promise.all([
    newUser(node.url, "alice"),
    newUser(node.url, "mallory"),
    newUser(node.url, "carol"),
  ]);
});
afterAll(async () => {
  await node?.close();
});

const reasonOf = (body: unknown): string | undefined =>
  (body as { error?: { reason?: string } } | undefined)?.error?.reason;

/** The well-behaved client: publish over REST, receive over its WebSocket, ack; one round at a time until stopped. */
async function startProbe() {
  const queue = (await createQueue(carol.api, { private: true })).name;
  const socket = await TestSocket.connect(node.wsUrl, carol.api.token);
  const subscribed = await socket.request({ op: "subscribe", id: "s", queue, prefetch: 10 });
  const sub = subscribed.sub as string;
  const latencies: number[] = [];
  const failures: string[] = [];
  let stopped = false;
  const running = (async () => {
    for (let round = 0; !stopped && round < 10_000; round++) {
      const started = performance.now();
      try {
        const [id] = await publishToQueue(carol.api, queue, [{ payload: { round } }]);
        const delivered = await socket.waitFor(
          (frame: Frame) => frame.op === "message" && frame.id === id,
          ROUND_BOUND_MS,
        );
        const acked = await socket.request({ op: "ack", id: `a${round}`, sub, ids: [delivered.id] });
        if (acked.acked !== 1) failures.push(`round ${round}: ${JSON.stringify(acked)}`);
      } catch (error) {
        failures.push(`round ${round}: ${String(error)}`);
      }
      latencies.push(performance.now() - started);
    }
  })();
  return {
    /** Rounds completed so far. */
    rounds: () => latencies.length,
    async stop() {
      stopped = true;
      await running;
      await socket.close();
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) =>
        Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
      return { rounds: latencies.length, failures, p50: at(0.5), p99: at(0.99), max: at(1) };
    },
  };
}

/** 100 wrong passwords for alice at once: at most loginMaxFailures are even checked; then the right one is refused too. */
async function parallelBruteForce(): Promise<string[]> {
  const anonymous = new Api(node.url);
  const guesses = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      anonymous.post("/v1/auth/login", { username: alice.username, password: `guess-${i}-wrong` }),
    ),
  );
  const outcomes = guesses.map((answer) => `${answer.status} ${reasonOf(answer.body)}`);
  const checked = outcomes.filter((outcome) => outcome === "401 BAD_CREDENTIALS").length;
  expect(checked, outcomes.join(", ")).toBeLessThanOrEqual(LOGIN_MAX_FAILURES);
  expect(outcomes.filter((outcome) => outcome === "429 LOGIN_RATE_LIMITED").length).toBe(100 - checked);
  const right = await anonymous.post("/v1/auth/login", { username: alice.username, password });
  expect([right.status, reasonOf(right.body)]).toEqual([429, "LOGIN_RATE_LIMITED"]);
  return outcomes;
}

/** 3× the anonymous slots at once: the surplus is refused 429, and a user still connects meanwhile. */
async function anonymousFlood(): Promise<void> {
  const attempts = await Promise.allSettled(
    Array.from({ length: ANONYMOUS_SLOTS * 3 }, () => TestSocket.connect(node.wsUrl)),
  );
  const open = attempts.flatMap((attempt) => (attempt.status === "fulfilled" ? [attempt.value] : []));
  const refused = attempts.flatMap((attempt) =>
    attempt.status === "rejected" ? [String(attempt.reason)] : [],
  );
  try {
    expect(open.length).toBeLessThanOrEqual(ANONYMOUS_SLOTS);
    expect(refused.length).toBeGreaterThanOrEqual(ANONYMOUS_SLOTS * 2);
    for (const reason of refused) expect(reason).toMatch(/429/);
    // While the anonymous slots are full, a user's socket opens and works.
    const user = await TestSocket.connect(node.wsUrl, mallory.api.token);
    const pong = user.waitFor((frame) => frame.op === "pong" && frame.id === "p2");
    user.send({ op: "ping", id: "p2" });
    expect(await pong).toMatchObject({ op: "pong" });
    await user.close();
  } finally {
    await Promise.all(open.map((socket) => socket.close()));
  }
}

/** Oversized and deeply nested bodies, 40 of each at once: clean 413 / 400, nothing created. */
async function hostileBodies(): Promise<void> {
  const name = uniqueName("never");
  const huge = JSON.stringify({ name, pad: "x".repeat(MAX_BODY_BYTES * 2) });
  const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
  const post = (body: string) =>
    fetch(`${node.url}/v1/queues`, {
      method: "POST",
      headers: { authorization: `Bearer ${mallory.api.token}`, "content-type": "application/json" },
      body,
    }).then(async (response) => ({ status: response.status, body: (await response.json()) as unknown }));
  const answers = await Promise.all([
    ...Array.from({ length: 40 }, () => post(huge)),
    ...Array.from({ length: 40 }, () => post(`{"name":"${name}","x":${deep}}`)),
  ]);
  for (const answer of answers.slice(0, 40))
    expect([answer.status, reasonOf(answer.body)]).toEqual([413, "BODY_TOO_LARGE"]);
  for (const answer of answers.slice(40))
    expect([answer.status, reasonOf(answer.body)]).toEqual([400, "VALIDATION_FAILED"]);
  expect((await mallory.api.get(`/v1/queues/${name}`)).status).toBe(404);
}

/** Mallory may consume alice's queue, holds alice's receipt and guesses 200 more: nothing of alice's is settled. */
async function receiptGuessing(): Promise<void> {
  const { name } = await createQueue(alice.api, { private: true, ackTimeoutMs: 60_000 });
  const granted = await alice.api.post(`/v1/queues/${name}/grants`, {
    username: mallory.username,
    permissions: ["consume"],
  });
  expect(granted.status).toBe(200);
  await publishToQueue(alice.api, name, [{ payload: "alice's" }]);
  const [leased] = await receive(alice.api, name);
  const receipt = (leased as Delivery).receipt;
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.";
  const guesses = [receipt];
  for (let i = 0; i < 200; i++) {
    const position = i % receipt.length;
    const swapped = alphabet[(alphabet.indexOf(receipt[position] as string) + 1 + (i % 7)) % alphabet.length];
    guesses.push(receipt.slice(0, position) + swapped + receipt.slice(position + 1));
  }
  const answers = await Promise.all(
    guesses.map((guess) => mallory.api.post(`/v1/queues/${name}/ack`, { receipts: [guess] })),
  );
  for (const answer of answers) {
    // A guess is refused as a receipt, or (a guess that is no longer a well-formed receipt) as bad input.
    expect([400], JSON.stringify(answer.body)).toContain(answer.status);
    expect(["INVALID_RECEIPT", "VALIDATION_FAILED"]).toContain(reasonOf(answer.body));
  }
  expect(await getQueue(alice.api, name)).toMatchObject({ depth: 0, inFlight: 1 });
  expect(await ack(alice.api, name, [receipt])).toEqual({ acked: 1, stale: [] });
}

/** Alice's binding copies into her queue; she deletes the queue; mallory takes the name: he receives nothing. */
async function nameReuseAfterDelete(): Promise<void> {
  const topic = (await createTopic(alice.api)).name;
  const queue = uniqueName("copies");
  const bound = await alice.api.post(`/v1/topics/${topic}/subscriptions`, { queue, pattern: "#" });
  expect(bound.status).toBe(201);
  expect((await alice.api.delete(`/v1/queues/${queue}`)).status).toBe(204);
  expect((await mallory.api.post("/v1/queues", { name: queue })).status).toBe(201);
  // A witness binding shows when the copying has run.
  const witness = uniqueName("witness");
  expect(
    (await alice.api.post(`/v1/topics/${topic}/subscriptions`, { queue: witness, pattern: "#" })).status,
  ).toBe(201);
  await publishToTopic(alice.api, topic, [{ payload: "for alice only" }]);
  await eventually(async () => expect(await getQueue(alice.api, witness)).toMatchObject({ depth: 1 }));
  expect(await getQueue(mallory.api, queue)).toMatchObject({ depth: 0 });
  const listing = await alice.api.get<{ subscriptions: Array<Record<string, unknown>> }>(
    `/v1/topics/${topic}/subscriptions`,
  );
  expect(listing.body.subscriptions.find((binding) => binding.queue === queue)).toMatchObject({
    state: "ended",
    endedReason: "QUEUE_NOT_FOUND",
  });
}

/** The attack `times` times, and on (at most 20 waves) until the probe has done `rounds` rounds under it. */
async function repeat(
  times: number,
  attack: () => Promise<void>,
  until: { probeRounds: () => number; rounds: number },
): Promise<void> {
  for (let wave = 0; wave < 20 && (wave < times || until.probeRounds() < until.rounds); wave++)
    await attack();
}

describe("adversarial: attacked from every side at once, the node keeps serving a well-behaved client", () => {
  it("refuses every attack as documented while the well-behaved client's rounds all complete", async () => {
    const probe = await startProbe();
    let measured: Awaited<ReturnType<typeof probe.stop>> | undefined;
    try {
      await Promise.all([
        parallelBruteForce(),
        // The floods repeat so the probe runs many rounds under them (3 waves, more until the
        // probe has done 5 rounds, at most 20: a fast machine gets through 3 waves in a second).
        repeat(3, anonymousFlood, { probeRounds: probe.rounds, rounds: 5 }),
        repeat(3, hostileBodies, { probeRounds: probe.rounds, rounds: 5 }),
        receiptGuessing(),
        nameReuseAfterDelete(),
      ]);
    } finally {
      measured = await probe.stop();
    }
    console.log(JSON.stringify({ adversarialProbe: measured }));
    expect(measured.failures).toEqual([]);
    expect(measured.rounds).toBeGreaterThanOrEqual(5);
    expect(measured.max).toBeLessThan(ROUND_BOUND_MS);
    // Still serving after the attacks.
    expect((await carol.api.get("/v1/me")).status).toBe(200);
  });
});
