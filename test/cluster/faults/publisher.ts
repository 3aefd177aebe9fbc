import type { History, PublishAttempt, PublishedMessage, ResourceKind } from "./history.ts";
import { pause } from "./timing.ts";

export interface PublishTarget {
  kind: ResourceKind;
  name: string;
}

export interface PublisherOptions {
  name: string;
  token: string;
  /** URLs of the nodes running now. */
  live: () => string[];
  startIndex: number;
  /** Resources to publish to, in turn (one batch per request). */
  targets: readonly PublishTarget[];
  messages: number;
  batchSize: number;
  ratePerSec: number;
  /** No new batch starts after this (epoch ms); a batch already started is retried until `giveUpAt`. */
  stopAt: number;
  giveUpAt: number;
  /** True once the run is torn down: stop at once, even in the middle of retrying. */
  aborted: () => boolean;
  requestTimeoutMs: number;
  /** Makes idempotency keys unique per run. */
  runId: string;
  history: History;
}

const MAX_BACKOFF_MS = 500;

/**
 * One REST publisher. Sends its messages in paced batches, one request at a
 * time; each message carries its own idempotency key. On 503 or a network
 * failure it retries the SAME batch with the SAME keys on the next live node
 * (the broker answers the ids of the first commit); a message is
 * ACKNOWLEDGED once a 201 names its id or offset.
 */
export async function runPublisher(options: PublisherOptions): Promise<void> {
  const { history } = options;
  const startedAt = Date.now();
  let node = options.startIndex;
  for (let seq = 0, batch = 0; seq < options.messages; batch += 1) {
    const dueAt = startedAt + (seq / options.ratePerSec) * 1000;
    if (dueAt > Date.now()) await pause(dueAt - Date.now());
    if (Date.now() >= options.stopAt || options.aborted()) return;
    const target = options.targets[(batch + options.startIndex) % options.targets.length] as PublishTarget;
    const count = Math.min(options.batchSize, options.messages - seq);
    const messages: PublishedMessage[] = Array.from({ length: count }, (_, index) => ({
      publisher: options.name,
      seq: seq + index,
      kind: target.kind,
      resource: target.name,
      firstSentAt: Date.now(),
    }));
    history.messages.push(...messages);
    seq += count;
    for (let failures = 0; Date.now() < options.giveUpAt && !options.aborted(); failures += 1) {
      const urls = options.live();
      const url = urls[node % Math.max(1, urls.length)];
      if (url !== undefined && (await attempt(options, url, target, messages)).acknowledged) break;
      node += 1;
      await pause(Math.min(MAX_BACKOFF_MS, 25 * 2 ** Math.min(failures, 5)));
    }
  }
}

/** What one request needs to know. */
export type AttemptContext = Pick<
  PublisherOptions,
  "name" | "token" | "runId" | "requestTimeoutMs" | "history"
>;

/**
 * A single request outside the paced loop (a probe sent at a chosen moment),
 * recorded like the others; resolves with the attempt once it has ended.
 */
export async function publishOnce(
  context: AttemptContext,
  url: string,
  target: PublishTarget,
  seq: number,
): Promise<PublishAttempt> {
  const message: PublishedMessage = {
    publisher: context.name,
    seq,
    kind: target.kind,
    resource: target.name,
    firstSentAt: Date.now(),
  };
  context.history.messages.push(message);
  return (await attempt(context, url, target, [message])).record;
}

/** One request; `acknowledged` when it was answered 201. */
async function attempt(
  options: AttemptContext,
  url: string,
  target: PublishTarget,
  messages: PublishedMessage[],
): Promise<{ acknowledged: boolean; record: PublishAttempt }> {
  const path = `/v1/${target.kind === "queue" ? "queues" : "topics"}/${target.name}/messages`;
  const body = {
    messages: messages.map((message) => ({
      payload: { publisher: message.publisher, seq: message.seq },
      idempotencyKey: `${options.runId}:${message.publisher}:${message.seq}`,
      ...(target.kind === "topic" ? { key: `k.${message.publisher}` } : {}),
    })),
  };
  const record: PublishAttempt = {
    publisher: options.name,
    resource: target.name,
    kind: target.kind,
    url,
    messages: messages.length,
    sentAt: Date.now(),
    endedAt: 0,
    status: 0,
  };
  options.history.attempts.push(record);
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.requestTimeoutMs),
    });
    text = await response.text();
  } catch (error) {
    record.endedAt = Date.now();
    record.reason = failureLabel(error);
    return { acknowledged: false, record };
  }
  record.endedAt = Date.now();
  record.status = response.status;
  const answer = parseAnswer(text);
  if (response.status === 201) {
    const positions = target.kind === "queue" ? answer.ids : answer.offsets?.map(String);
    if (positions?.length !== messages.length) throw new Error(`bad 201 body: ${text}`);
    for (const [index, message] of messages.entries()) {
      message.ack = {
        at: record.endedAt,
        attemptSentAt: record.sentAt,
        position: positions[index] as string,
      };
    }
    return { acknowledged: true, record };
  }
  record.reason = answer.error?.reason ?? "no reason";
  // 5xx: the broker could not do it now (retry); anything else is the workload's mistake.
  if (response.status >= 500) return { acknowledged: false, record };
  throw new Error(`publish refused: ${response.status} ${text}`);
}

interface PublishAnswer {
  ids?: string[];
  offsets?: number[];
  error?: { reason?: string };
}

function parseAnswer(text: string): PublishAnswer {
  try {
    return JSON.parse(text) as PublishAnswer;
  } catch {
    return {};
  }
}

function failureLabel(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))
    return "timeout";
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined;
  return cause?.code ?? (error instanceof Error ? error.name : "error");
}
