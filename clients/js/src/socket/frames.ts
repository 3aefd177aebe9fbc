import { isRecord } from "../errors.ts";

/** Server → client frames of /v1/ws (docs/protocol.md). */

export type RequestId = number;

export interface OkFrame extends Record<string, unknown> {
  op: "ok";
  id?: RequestId | string;
}

export interface ErrorFrame {
  op: "error";
  id?: RequestId | string;
  sub?: string;
  code: string;
  reason: string;
  message: string;
  details?: Record<string, unknown>;
}

/** The server ended a subscription (its queue or topic was deleted); the `sub` is gone. */
export interface EndedFrame {
  op: "ended";
  sub: string;
  code: string;
  reason: string;
  message: string;
}

export interface QueueMessageFrame {
  op: "message";
  sub: string;
  queue: string;
  id: string;
  payload: unknown;
  headers?: Record<string, string>;
  publishedAt: number;
  deliveries: number;
}

export interface TopicMessageFrame {
  op: "message";
  sub: string;
  topic: string;
  offset: number;
  key: string;
  payload: unknown;
  headers?: Record<string, string>;
  publishedAt: number;
}

export interface ReplayedFrame {
  op: "replayed";
  sub: string;
  from: number;
  to: number;
  complete: boolean;
}

export type ServerFrame =
  | OkFrame
  | ErrorFrame
  | EndedFrame
  | QueueMessageFrame
  | TopicMessageFrame
  | ReplayedFrame
  | { op: "pong"; id?: RequestId | string };

/** Client → server request frames; the connection adds `id`. */
export type RequestFrame = Record<string, unknown> & { op: string };

/** Parses a text frame; null for anything that is not a JSON object with a string `op`. */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== "string") return null;
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  return isRecord(frame) && typeof frame.op === "string" ? (frame as unknown as ServerFrame) : null;
}

export function isQueueMessage(frame: QueueMessageFrame | TopicMessageFrame): frame is QueueMessageFrame {
  return "queue" in frame;
}
