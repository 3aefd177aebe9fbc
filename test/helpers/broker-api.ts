import { expect } from "vitest";
import { type Api, uniqueName } from "./api.ts";

/** Wire shapes of public API v1 as the REST tests read them. */
export interface QueueView {
  name: string;
  creator: string;
  /** Deprecated alias of `creator`. */
  owner: string;
  private: boolean;
  ackTimeoutMs: number;
  maxDeliveries: number | null;
  deadLetterQueue: string | null;
  messageTtlMs: number | null;
  maxLength: number | null;
  createdAt: number;
  depth: number;
  inFlight: number;
  consumers: number;
}

export interface Delivery {
  id: string;
  payload: unknown;
  headers?: Record<string, string>;
  publishedAt: number;
  deliveries: number;
  receipt: string;
}

export interface TopicView {
  name: string;
  creator: string;
  /** Deprecated alias of `creator`. */
  owner: string;
  private: boolean;
  durable: boolean;
  retention: { maxAgeMs: number | null; maxMessages: number | null };
  createdAt: number;
  nextOffset: number;
  firstOffset: number;
}

export interface TopicMessage {
  offset: number;
  key: string;
  payload: unknown;
  headers?: Record<string, string>;
  publishedAt: number;
}

export interface HistoryPage {
  messages: TopicMessage[];
  complete: boolean;
  firstOffset: number;
  nextOffset: number;
}

export interface AckResult {
  acked: number;
  stale: string[];
}

/** Creates a queue with a unique name (201 asserted); returns its view. */
export async function createQueue(api: Api, options: Record<string, unknown> = {}): Promise<QueueView> {
  const created = await api.post<QueueView>("/v1/queues", { name: uniqueName("q"), ...options });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

export async function createTopic(api: Api, options: Record<string, unknown> = {}): Promise<TopicView> {
  const created = await api.post<TopicView>("/v1/topics", { name: uniqueName("t"), ...options });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

/** Publishes to a queue (201 asserted); one message per payload unless given whole message objects. */
export async function publishToQueue(api: Api, queue: string, messages: unknown[]): Promise<string[]> {
  const body = messages.length === 1 ? messages[0] : { messages };
  const published = await api.post<{ ids: string[] }>(`/v1/queues/${queue}/messages`, body);
  expect(published.status, JSON.stringify(published.body)).toBe(201);
  return published.body.ids;
}

export async function publishToTopic(api: Api, topic: string, messages: unknown[]): Promise<number[]> {
  const body = messages.length === 1 ? messages[0] : { messages };
  const published = await api.post<{ offsets: number[] }>(`/v1/topics/${topic}/messages`, body);
  expect(published.status, JSON.stringify(published.body)).toBe(201);
  return published.body.offsets;
}

/** One REST receive (200 asserted). */
export async function receive(
  api: Api,
  queue: string,
  options: { max?: number; waitMs?: number; ackTimeoutMs?: number } = {},
): Promise<Delivery[]> {
  const received = await api.post<{ messages: Delivery[] }>(`/v1/queues/${queue}/receive`, options);
  expect(received.status, JSON.stringify(received.body)).toBe(200);
  return received.body.messages;
}

/** Receives until the queue answers empty; acks nothing. */
export async function drain(api: Api, queue: string, ackTimeoutMs?: number): Promise<Delivery[]> {
  const all: Delivery[] = [];
  for (;;) {
    const batch = await receive(api, queue, {
      max: 1000,
      ...(ackTimeoutMs === undefined ? {} : { ackTimeoutMs }),
    });
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

export async function ack(api: Api, queue: string, receipts: string[]): Promise<AckResult> {
  const acked = await api.post<AckResult>(`/v1/queues/${queue}/ack`, { receipts });
  expect(acked.status, JSON.stringify(acked.body)).toBe(200);
  return acked.body;
}

export async function getQueue(api: Api, queue: string): Promise<QueueView> {
  const got = await api.get<QueueView>(`/v1/queues/${queue}`);
  expect(got.status, JSON.stringify(got.body)).toBe(200);
  return got.body;
}

export async function getTopic(api: Api, topic: string): Promise<TopicView> {
  const got = await api.get<TopicView>(`/v1/topics/${topic}`);
  expect(got.status, JSON.stringify(got.body)).toBe(200);
  return got.body;
}

export async function history(api: Api, topic: string, query = ""): Promise<HistoryPage> {
  const page = await api.get<HistoryPage>(`/v1/topics/${topic}/messages${query}`);
  expect(page.status, JSON.stringify(page.body)).toBe(200);
  return page.body;
}

/** Ids are decimal sequence numbers as strings. */
export function idNumbers(ids: readonly string[]): number[] {
  return ids.map((id) => Number(id));
}
