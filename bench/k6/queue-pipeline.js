// Durable queue pipeline for k6 (k6 >= 1.0; on older k6 import from k6/experimental/websockets):
// PUBLISHERS publishers (WebSocket, INFLIGHT publishes in flight each, or REST with BATCH messages
// per request) → one queue → CONSUMERS consumers (prefetch, batched acks).
//
//   k6 run -e AVISO_URL=http://127.0.0.1:8080 -e PUBLISH=ws -e DURATION_S=30 bench/k6/queue-pipeline.js
//
// Env: AVISO_URL, AVISO_USER/AVISO_PASSWORD (default: register a new user), QUEUE (default: new),
// PUBLISH=ws|rest, PUBLISHERS=4, CONSUMERS=4, INFLIGHT=64 (ws) / requests in flight per publisher (rest: 8),
// BATCH=1 (rest), PREFETCH=256, ACK_BATCH=32, ACK_EVERY_MS=5, PAYLOAD_BYTES=1024, DURATION_S=30.
// Metrics: aviso_published, aviso_acked (rate = msgs/s), aviso_publish_latency (send → ok; per
// request for rest), aviso_e2e_latency (publishedAt → delivered), aviso_errors.
import { Counter, Trend } from "k6/metrics";
import { WebSocket } from "k6/websockets";
import {
  BASE_URL,
  create,
  DURATION_S,
  intEnv,
  login,
  payloadOfBytes,
  post,
  WS_URL,
  wsParams,
} from "./common.js";

const PUBLISH = __ENV.PUBLISH || "ws";
const PUBLISHERS = intEnv("PUBLISHERS", 4);
const CONSUMERS = intEnv("CONSUMERS", 4);
const INFLIGHT = intEnv("INFLIGHT", PUBLISH === "ws" ? 64 : 8);
const BATCH = intEnv("BATCH", 1);
const PREFETCH = intEnv("PREFETCH", 256);
const ACK_BATCH = intEnv("ACK_BATCH", 32);
const ACK_EVERY_MS = intEnv("ACK_EVERY_MS", 5);
const PAYLOAD = payloadOfBytes(intEnv("PAYLOAD_BYTES", 1024));

const published = new Counter("aviso_published");
const acked = new Counter("aviso_acked");
const errors = new Counter("aviso_errors");
const publishLatency = new Trend("aviso_publish_latency", true);
const e2eLatency = new Trend("aviso_e2e_latency", true);

const oneIterationEach = (vus, exec, startTime) => ({
  executor: "per-vu-iterations",
  vus,
  iterations: 1,
  maxDuration: `${DURATION_S + 30}s`,
  exec,
  startTime,
});

export const options = {
  scenarios: {
    consumers: oneIterationEach(CONSUMERS, "consumer", "0s"),
    publishers:
      PUBLISH === "ws"
        ? oneIterationEach(PUBLISHERS, "wsPublisher", "2s")
        : {
            executor: "constant-vus",
            vus: PUBLISHERS * INFLIGHT, // k6 HTTP is one request at a time per VU
            duration: `${DURATION_S}s`,
            exec: "restPublisher",
            startTime: "2s",
          },
  },
  // The project's aims (bench/RESULTS.md): p99 publish < 20 ms.
  thresholds: { aviso_publish_latency: ["p(99)<20"], aviso_errors: ["count==0"] },
};

export function setup() {
  const token = login();
  const queue = __ENV.QUEUE || `k6-q-${Date.now().toString(36)}`;
  create("queues", { name: queue }, token);
  return { token, queue };
}

export function wsPublisher({ token, queue }) {
  const ws = new WebSocket(WS_URL, null, wsParams(token));
  const sentAt = new Map();
  const prefix = `{"op":"publish","queue":${JSON.stringify(queue)},"payload":${PAYLOAD},"id":`;
  let nextId = 0;
  let running = true;
  const pump = () => {
    while (running && sentAt.size < INFLIGHT) {
      nextId += 1;
      sentAt.set(nextId, Date.now());
      ws.send(`${prefix}${nextId}}`);
    }
  };
  ws.onopen = () => {
    pump();
    setTimeout(() => {
      running = false;
      ws.close();
    }, DURATION_S * 1000);
  };
  ws.onmessage = (event) => {
    const reply = JSON.parse(event.data);
    const started = sentAt.get(reply.id);
    if (started === undefined) return;
    sentAt.delete(reply.id);
    if (reply.op === "ok") {
      published.add(1);
      publishLatency.add(Date.now() - started);
    } else {
      errors.add(1);
    }
    pump();
  };
  ws.onerror = () => errors.add(1);
}

export function restPublisher({ token, queue }) {
  const body =
    BATCH === 1
      ? { payload: JSON.parse(PAYLOAD) }
      : { messages: Array.from({ length: BATCH }, () => ({ payload: JSON.parse(PAYLOAD) })) };
  const res = post(`/v1/queues/${queue}/messages`, body, token);
  if (res.status === 201) {
    published.add(BATCH);
    publishLatency.add(res.timings.duration);
  } else {
    errors.add(1);
  }
}

export function consumer({ token, queue }) {
  const ws = new WebSocket(WS_URL, null, wsParams(token));
  let sub = null;
  let pending = [];
  let timer = null;
  const flush = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (sub === null || pending.length === 0) return;
    ws.send(JSON.stringify({ op: "ack", sub, ids: pending }));
    acked.add(pending.length);
    pending = [];
  };
  ws.onopen = () => {
    ws.send(JSON.stringify({ op: "subscribe", id: "s", queue, prefetch: PREFETCH }));
    // Consumers outlive publishers a little so the queue drains.
    setTimeout(
      () => {
        flush();
        ws.close();
      },
      (DURATION_S + 4) * 1000,
    );
  };
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.op === "ok" && frame.id === "s") {
      sub = frame.sub;
      flush();
    } else if (frame.op === "message") {
      e2eLatency.add(Date.now() - frame.publishedAt);
      pending.push(frame.id);
      if (pending.length >= ACK_BATCH) flush();
      else if (timer === null) timer = setTimeout(flush, ACK_EVERY_MS);
    } else if (frame.op === "error") {
      errors.add(1);
    }
  };
}

export function teardown() {
  console.log(`queue pipeline against ${BASE_URL}: see aviso_acked (rate) and the latency trends above`);
}
