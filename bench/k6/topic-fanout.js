// Topic fan-out for k6 (k6 >= 1.0; on older k6 import from k6/experimental/websockets):
// SUBSCRIBERS WebSocket subscribers on one topic (SOCKETS_PER_VU per VU), one publisher at RATE msgs/s.
//
//   k6 run -e AVISO_URL=http://127.0.0.1:8080 -e SUBSCRIBERS=1000 -e RATE=200 bench/k6/topic-fanout.js
//
// Env: AVISO_URL, AVISO_USER/AVISO_PASSWORD, TOPIC (default: new), SUBSCRIBERS=1000, SOCKETS_PER_VU=10,
// RATE=200 (msgs/s), PAYLOAD_BYTES=64, DURATION_S=30, DURABLE=true.
// Metrics: aviso_deliveries (rate = deliveries/s), aviso_delivery_latency (publishedAt → received;
// same clock only when k6 runs on the broker's host), aviso_gaps (offsets a socket missed),
// aviso_published, aviso_errors.
import { Counter, Trend } from "k6/metrics";
import { WebSocket } from "k6/websockets";
import { create, DURATION_S, intEnv, login, payloadOfBytes, WS_URL, wsParams } from "./common.js";

const SUBSCRIBERS = intEnv("SUBSCRIBERS", 1000);
const SOCKETS_PER_VU = intEnv("SOCKETS_PER_VU", 10);
const RATE = intEnv("RATE", 200);
const PAYLOAD = payloadOfBytes(intEnv("PAYLOAD_BYTES", 64));
const CONNECT_S = Math.max(5, Math.ceil(SUBSCRIBERS / 500));

const deliveries = new Counter("aviso_deliveries");
const gaps = new Counter("aviso_gaps");
const published = new Counter("aviso_published");
const errors = new Counter("aviso_errors");
const deliveryLatency = new Trend("aviso_delivery_latency", true);

export const options = {
  scenarios: {
    subscribers: {
      executor: "per-vu-iterations",
      vus: Math.ceil(SUBSCRIBERS / SOCKETS_PER_VU),
      iterations: 1,
      maxDuration: `${DURATION_S + CONNECT_S + 30}s`,
      exec: "subscribers",
    },
    publisher: {
      executor: "per-vu-iterations",
      vus: 1,
      iterations: 1,
      maxDuration: `${DURATION_S + CONNECT_S + 30}s`,
      exec: "publisher",
      startTime: `${CONNECT_S}s`, // after the subscribers are connected
    },
  },
  // The project's aims (bench/RESULTS.md): p99 < 50 ms, nothing lost.
  thresholds: { aviso_delivery_latency: ["p(99)<50"], aviso_gaps: ["count==0"], aviso_errors: ["count==0"] },
};

export function setup() {
  const token = login();
  const topic = __ENV.TOPIC || `k6-t-${Date.now().toString(36)}`;
  create("topics", { name: topic, durable: (__ENV.DURABLE || "true") === "true" }, token);
  return { token, topic };
}

export function subscribers({ token, topic }) {
  const first = (__VU - 1) * SOCKETS_PER_VU;
  const count = Math.min(SOCKETS_PER_VU, SUBSCRIBERS - first);
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(WS_URL, null, wsParams(token));
    let last = -1;
    ws.onopen = () => {
      ws.send(JSON.stringify({ op: "subscribe", id: `s${first + i}`, topic }));
      setTimeout(() => ws.close(), (CONNECT_S + DURATION_S + 3) * 1000);
    };
    ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.op === "message") {
        deliveries.add(1);
        deliveryLatency.add(Date.now() - frame.publishedAt);
        if (last >= 0 && frame.offset > last + 1) gaps.add(frame.offset - last - 1);
        last = frame.offset;
      } else if (frame.op === "error") {
        errors.add(1);
      }
    };
  }
}

export function publisher({ token, topic }) {
  const ws = new WebSocket(WS_URL, null, wsParams(token));
  const prefix = `{"op":"publish","topic":${JSON.stringify(topic)},"payload":${PAYLOAD},"id":`;
  let sent = 0;
  let started = 0;
  let ticker = null;
  ws.onopen = () => {
    started = Date.now();
    // Every 10 ms send what the rate says is due.
    ticker = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      while (sent < due) {
        sent += 1;
        ws.send(`${prefix}${sent}}`);
      }
    }, 10);
    setTimeout(() => {
      clearInterval(ticker);
      setTimeout(() => ws.close(), 1000); // let the last oks arrive
    }, DURATION_S * 1000);
  };
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.op === "ok") published.add(1);
    else if (frame.op === "error") errors.add(1);
  };
}
