import type { DeadLetterCause, QueuePublishInput } from "../broker/queue/queue-ports.ts";
import type { Grant, QueueDefinition, QueueMessage } from "../broker/types.ts";
import { mayUse } from "./access.ts";

/**
 * A dead letter keeps its payload and headers and gains headers saying where it
 * came from and why (like RabbitMQ's x-death), so a consumer of the
 * dead-letter queue can decide what to do.
 */
export function deadLetterInput(
  message: QueueMessage,
  queue: string,
  cause: DeadLetterCause,
): QueuePublishInput {
  const headers = message.headers === null ? {} : (JSON.parse(message.headers) as Record<string, string>);
  headers["aviso-dead-letter-queue"] = queue;
  headers["aviso-dead-letter-reason"] = cause;
  headers["aviso-dead-letter-id"] = String(message.seq);
  headers["aviso-deliveries"] = String(message.deliveries);
  return { payload: message.payload, headers: JSON.stringify(headers), delayMs: 0 };
}

/**
 * Whether a queue's dead letters may go to `target`, the queue now holding
 * the dead-letter queue's name (undefined: none). Only the queue the
 * definition was made with counts (by id: a later queue that took the name is
 * another queue), and only while the source queue's creator may publish to it
 * (docs/security.md S3, S4).
 */
export function deadLetterState(
  source: Pick<QueueDefinition, "creator" | "deadLetterQueueId">,
  target: { definition: QueueDefinition; grants: readonly Grant[] } | undefined,
): "ok" | "missing" | "denied" {
  if (target === undefined || target.definition.id !== source.deadLetterQueueId) return "missing";
  return mayUse(source.creator, target, "publish") ? "ok" : "denied";
}
