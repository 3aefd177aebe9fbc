/**
 * WebSocket pieces for load generators: connect with a bearer token, wait
 * for one reply, and read numeric / string fields straight out of a frame's
 * bytes — parsing 100k+ frames a second with JSON.parse would make the load
 * generator, not the broker, the thing being measured.
 */
import WebSocket from "ws";
import { withTimeout } from "./bounded.ts";

export type { WebSocket };

const CONNECT_TIMEOUT_MS = 15_000;

export async function connectWs(wsUrl: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(wsUrl, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
    handshakeTimeout: CONNECT_TIMEOUT_MS,
  });
  await withTimeout(
    "WebSocket connect",
    new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_request, response) =>
        reject(new Error(`upgrade refused: HTTP ${response.statusCode}`)),
      );
    }),
    CONNECT_TIMEOUT_MS,
  );
  return ws;
}

/**
 * Sends a request frame and resolves with the reply that echoes its id
 * (`ok`), rejecting on an `error` reply or after `timeoutMs`. Messages that
 * arrive meanwhile (or later) are passed to `onOther`, so none is lost.
 */
export function request(
  ws: WebSocket,
  frame: Record<string, unknown> & { id: string },
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  return withTimeout(
    `reply to ${String(frame.op)} ${frame.id}`,
    new Promise((resolve, reject) => {
      const onMessage = (data: Buffer) => {
        if (fieldString(data, "id") !== frame.id) return;
        ws.off("message", onMessage);
        const reply = JSON.parse(data.toString("utf8")) as Record<string, unknown>;
        if (reply.op === "ok") resolve(reply);
        else reject(new Error(`${String(frame.op)} failed: ${data.toString("utf8")}`));
      };
      ws.on("message", onMessage);
      ws.send(JSON.stringify(frame));
    }),
    timeoutMs,
  );
}

const ZERO = 48;
const NINE = 57;
const needles = new Map<string, Buffer>();

function needle(name: string): Buffer {
  let bytes = needles.get(name);
  if (bytes === undefined) {
    bytes = Buffer.from(`"${name}":`);
    needles.set(name, bytes);
  }
  return bytes;
}

/**
 * The non-negative integer after `"name":` in a frame, -1 if absent.
 * `fromEnd` searches from the end (for fields after the payload, e.g. publishedAt).
 */
export function fieldInt(frame: Buffer, name: string, fromEnd = false): number {
  const key = needle(name);
  const at = fromEnd ? frame.lastIndexOf(key) : frame.indexOf(key);
  if (at < 0) return -1;
  let value = 0;
  let digits = 0;
  for (let i = at + key.length; i < frame.length; i++) {
    const c = frame[i] as number;
    if (c < ZERO || c > NINE) break;
    value = value * 10 + (c - ZERO);
    digits++;
  }
  return digits === 0 ? -1 : value;
}

/** The string after `"name":"` (no escapes expected: ids, subs), undefined if absent or not a string. */
export function fieldString(frame: Buffer, name: string): string | undefined {
  const key = needle(name);
  const at = frame.indexOf(key);
  if (at < 0 || frame[at + key.length] !== 34) return undefined;
  const start = at + key.length + 1;
  const end = frame.indexOf(34, start);
  return end < 0 ? undefined : frame.toString("latin1", start, end);
}

/** True when the frame starts with `{"op":"<op>"`. */
export function isOp(frame: Buffer, op: Buffer): boolean {
  return frame.compare(op, 0, op.length, 0, op.length) === 0;
}

export const OP_MESSAGE = Buffer.from('{"op":"message"');
export const OP_OK = Buffer.from('{"op":"ok"');
export const OP_ERROR = Buffer.from('{"op":"error"');
