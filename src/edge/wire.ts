import type { Delivery } from "../broker/queue/queue-ports.ts";
import type { TopicMessage } from "../broker/types.ts";

/**
 * JSON text of messages, built by splicing the stored payload and headers
 * (already JSON) instead of parsing and re-serialising them. Used by REST
 * replies and WebSocket frames alike.
 */

/** `"id":…,"payload":…,…` — the fields of a queue delivery, without braces. */
export function deliveryFields(delivery: Delivery): string {
  const headers = delivery.headers === null ? "" : `,"headers":${delivery.headers}`;
  return (
    `"id":"${delivery.id}","payload":${delivery.payload}${headers}` +
    `,"publishedAt":${delivery.publishedAt},"deliveries":${delivery.deliveries}`
  );
}

export function deliveryJson(delivery: Delivery): string {
  return `{${deliveryFields(delivery)},"receipt":"${delivery.receipt}"}`;
}

/** `"offset":…,"key":…,"payload":…` — the fields of a topic message, without braces. */
export function topicMessageFields(message: TopicMessage): string {
  const headers = message.headers === null ? "" : `,"headers":${message.headers}`;
  return (
    `"offset":${message.offset},"key":${JSON.stringify(message.key)},"payload":${message.payload}${headers}` +
    `,"publishedAt":${message.publishedAt}`
  );
}

export function topicMessageJson(message: TopicMessage): string {
  return `{${topicMessageFields(message)}}`;
}

export function jsonArray(items: readonly string[]): string {
  return `[${items.join(",")}]`;
}
