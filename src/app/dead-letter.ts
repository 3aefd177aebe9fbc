import type { DeadLetterCause, QueuePublishInput } from "../broker/queue/queue-ports.ts";
import type { QueueMessage } from "../broker/types.ts";

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
