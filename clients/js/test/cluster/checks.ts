/** What the failover tests measure and check once a stream is over. */
import type { AvisoClient } from "../../src/index.ts";
import type { PublishStream } from "./harness.ts";

/** What every test message carries: its place in the publish stream. */
export interface Payload {
  seq: number;
}

/** Acknowledged publishes whose answer came after `since`. */
export function ackedAfter<R>(stream: PublishStream<R>, since: number): number {
  return [...stream.acked.values()].filter((published) => published.ackedAt > since).length;
}

/**
 * How publishing went through a kill: the longest pause between
 * acknowledgements from the kill on, and when it ended (answers already
 * on their way when the node died still arrive right after the kill).
 */
export function publishPause<R>(
  stream: PublishStream<R>,
  killedAt: number,
): { pauseMs: number; resumedMs: number } {
  const times = [killedAt, ...[...stream.acked.values()].map((p) => p.ackedAt).filter((at) => at > killedAt)];
  times.sort((a, b) => a - b);
  let pauseMs = 0;
  let resumedMs = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = (times[i] as number) - (times[i - 1] as number);
    if (gap > pauseMs) {
      pauseMs = gap;
      resumedMs = (times[i] as number) - killedAt;
    }
  }
  return { pauseMs, resumedMs };
}

/** Leases every message of `queue` (without acking) until `expected` came, or the deadline. */
export async function drainQueue(
  client: AvisoClient,
  queue: string,
  expected: number,
): Promise<Array<{ id: string; seq: number }>> {
  const stored: Array<{ id: string; seq: number }> = [];
  const deadline = Date.now() + 20_000;
  while (stored.length < expected && Date.now() < deadline) {
    const batch = await client.queues.receive<Payload>(queue, {
      max: 1000,
      waitMs: 1000,
      ackTimeoutMs: 120_000,
    });
    stored.push(...batch.map((message) => ({ id: message.id, seq: message.payload.seq })));
  }
  return stored;
}

/** Every retained message of a topic, oldest first. */
export async function readHistory(
  client: AvisoClient,
  topic: string,
): Promise<Array<{ offset: number; seq: number }>> {
  const messages: Array<{ offset: number; seq: number }> = [];
  for (let from = 0; ; ) {
    const page = await client.topics.history(topic, { from, limit: 1000 });
    messages.push(
      ...page.messages.map((message) => ({ offset: message.offset, seq: (message.payload as Payload).seq })),
    );
    const last = page.messages.at(-1);
    // nextOffset is the topic's: read on until the page that reaches it.
    if (last === undefined || last.offset + 1 >= page.nextOffset) return messages;
    from = last.offset + 1;
  }
}

/** seq → how many times it occurs. */
export function countsOf(seqs: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const seq of seqs) counts.set(seq, (counts.get(seq) ?? 0) + 1);
  return counts;
}

/** 0..total-1, each once. */
export function once(total: number): Map<number, number> {
  return new Map(Array.from({ length: total }, (_, seq) => [seq, 1]));
}
