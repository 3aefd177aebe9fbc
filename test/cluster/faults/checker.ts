import {
  type FaultMark,
  type History,
  messageKey,
  type PublishedMessage,
  type QueueDeliveryRecord,
  type TopicDeliveryRecord,
} from "./history.ts";

/**
 * The history checker: judges a fault run's History against docs/architecture.md, "The contract".
 *
 * - every acknowledged publish is consumed at least once (queues: by the id
 *   its 201 named; topics: every subscriber sees its offset);
 * - nothing is consumed that was never published (no phantom), and no id or
 *   offset names two different messages (a stale owner writing over another);
 * - a message is stored once: a retried publish (same idempotency key) never
 *   gets a second id;
 * - the single-consumer queue delivers first deliveries in commit (id) order;
 *   redeliveries — deliveries > 1, or an id the consumer already had, since
 *   counts after a crash may be one short — may come later;
 * - a topic subscriber that resumes sees no gap: offsets contiguous from its
 *   first one, each at least once;
 * - queue duplicates are bounded: a delivery whose ack the node confirmed
 *   (its `ok` counted it, and that `ok` is sent only after the ack is
 *   committed) is never delivered again. A redelivery is allowed only for a
 *   delivery whose ack was not confirmed before it — the ack or the delivery
 *   was in flight at a fault, or the ack deadline passed — so the duplicates
 *   are at most the deliveries left unconfirmed, and an owner that forgot
 *   acks (a failover that lost them, an ack answered before its commit) fails.
 * Topic duplicates (a resumed stream re-sending an offset) are counted, not
 * failed; failover times are measured per fault.
 */

const SAMPLE = 10;

export interface Finding {
  count: number;
  /** The first few, readable. */
  sample: string[];
}

export interface FailoverTimes {
  label: string;
  at: string;
  resources: string[];
  /** Fault → first 201 for an affected resource, of a request sent after the fault. */
  firstPublishMs: number | null;
  /** Fault → first delivery of an affected resource that only a new owner can have made. */
  firstDeliveryMs: number | null;
  /** Longest spell after the fault without any 201 for an affected resource (publishers never pause). */
  publishStallMs: number | null;
  /** Longest spell after the fault without any delivery of an affected resource. */
  deliveryStallMs: number | null;
}

export interface FaultReport {
  name: string;
  ok: boolean;
  problems: string[];
  counts: {
    messages: number;
    acknowledged: number;
    acknowledgedQueue: number;
    acknowledgedTopic: number;
    unacknowledged: number;
    publishAttempts: number;
    queueDeliveries: number;
    /** Acks the nodes confirmed: what the duplicate bound stands on. */
    queueAcksConfirmed: number;
    uniqueQueueMessagesConsumed: number;
    topicDeliveries: number;
    topicSubscriberStreams: number;
  };
  /** Answers to publish attempts, e.g. {"201": 400, "503 OWNER_UNAVAILABLE": 3, "0 timeout": 1}. */
  attemptOutcomes: Record<string, number>;
  duplicates: { queueDeliveries: number; topicDeliveries: number };
  lost: Finding;
  phantoms: Finding;
  idConflicts: Finding;
  storedTwice: Finding;
  orderViolations: Finding;
  ackedRedelivered: Finding;
  topicGaps: Finding;
  failover: FailoverTimes[];
  notes: string[];
}

class FindingBuilder {
  count = 0;
  readonly sample: string[] = [];
  add(text: string): void {
    this.count += 1;
    if (this.sample.length < SAMPLE) this.sample.push(text);
  }
  done(): Finding {
    return { count: this.count, sample: this.sample };
  }
}

const at = (resource: string, position: string | number) => `${resource}\0${position}`;

export function checkHistory(name: string, history: History): FaultReport {
  const published = new Map(history.messages.map((message) => [messageKey(message), message]));
  const phantoms = new FindingBuilder();
  const idConflicts = new FindingBuilder();
  const acked = ackedByPosition(history.messages, idConflicts);

  const queue = checkQueues(history, published, acked, phantoms, idConflicts);
  const topic = checkTopics(history, published, acked, phantoms, idConflicts);
  const acknowledged = history.messages.filter((message) => message.ack !== undefined);

  const report: FaultReport = {
    name,
    ok: true,
    problems: [],
    counts: {
      messages: history.messages.length,
      acknowledged: acknowledged.length,
      acknowledgedQueue: acknowledged.filter((message) => message.kind === "queue").length,
      acknowledgedTopic: acknowledged.filter((message) => message.kind === "topic").length,
      unacknowledged: history.messages.length - acknowledged.length,
      publishAttempts: history.attempts.length,
      queueDeliveries: history.queueDeliveries.length,
      queueAcksConfirmed: history.queueAcks.length,
      uniqueQueueMessagesConsumed: queue.unique,
      topicDeliveries: history.topicDeliveries.length,
      topicSubscriberStreams: topic.streams,
    },
    attemptOutcomes: attemptOutcomes(history),
    duplicates: { queueDeliveries: queue.duplicates, topicDeliveries: topic.duplicates },
    lost: queue.lost,
    phantoms: phantoms.done(),
    idConflicts: idConflicts.done(),
    storedTwice: merge(queue.storedTwice, topic.storedTwice),
    orderViolations: queue.orderViolations,
    ackedRedelivered: queue.ackedRedelivered,
    topicGaps: topic.gaps,
    failover: history.faults.map((fault) => failoverTimes(fault, history, acked)),
    notes: history.notes.slice(0, 50),
  };
  const failures: Array<[string, Finding]> = [
    ["acknowledged messages never consumed", report.lost],
    ["phantom deliveries", report.phantoms],
    ["ids/offsets naming two messages", report.idConflicts],
    ["messages stored under two ids", report.storedTwice],
    ["order violations on the single-consumer queue", report.orderViolations],
    ["queue messages delivered again after their ack was confirmed", report.ackedRedelivered],
    ["topic gaps", report.topicGaps],
  ];
  for (const [what, finding] of failures) {
    if (finding.count > 0) report.problems.push(`${finding.count} ${what}: ${finding.sample.join("; ")}`);
  }
  report.ok = report.problems.length === 0;
  return report;
}

function merge(a: Finding, b: Finding): Finding {
  return { count: a.count + b.count, sample: [...a.sample, ...b.sample].slice(0, SAMPLE) };
}

/** Acknowledged messages by (resource, id|offset); two messages acknowledged at one position conflict. */
function ackedByPosition(
  messages: readonly PublishedMessage[],
  conflicts: FindingBuilder,
): Map<string, PublishedMessage> {
  const byPosition = new Map<string, PublishedMessage>();
  for (const message of messages) {
    if (message.ack === undefined) continue;
    const position = at(message.resource, message.ack.position);
    const earlier = byPosition.get(position);
    if (earlier !== undefined && messageKey(earlier) !== messageKey(message)) {
      conflicts.add(
        `${message.resource}@${message.ack.position} acknowledged for ${messageKey(earlier)} and ${messageKey(message)}`,
      );
    }
    byPosition.set(position, message);
  }
  return byPosition;
}

/** Phantom (never published there) or conflicting (the position was acknowledged for another message). */
function checkOrigin(
  delivery: { payload: { publisher: string; seq: number } },
  kind: "queue" | "topic",
  resource: string,
  position: string,
  published: Map<string, PublishedMessage>,
  acked: Map<string, PublishedMessage>,
  phantoms: FindingBuilder,
  conflicts: FindingBuilder,
): void {
  const key = messageKey(delivery.payload);
  const origin = published.get(key);
  if (origin === undefined || origin.kind !== kind || origin.resource !== resource) {
    phantoms.add(`${resource}@${position} carried ${key}, never published to ${resource}`);
    return;
  }
  const owner = acked.get(at(resource, position));
  if (owner !== undefined && messageKey(owner) !== key) {
    conflicts.add(`${resource}@${position} delivered ${key} but was acknowledged for ${messageKey(owner)}`);
  }
}

function checkQueues(
  history: History,
  published: Map<string, PublishedMessage>,
  acked: Map<string, PublishedMessage>,
  phantoms: FindingBuilder,
  conflicts: FindingBuilder,
) {
  const delivered = new Set<string>();
  const idsOf = new Map<string, Set<string>>();
  for (const delivery of history.queueDeliveries) {
    delivered.add(at(delivery.queue, delivery.id));
    checkOrigin(delivery, "queue", delivery.queue, delivery.id, published, acked, phantoms, conflicts);
    const key = messageKey(delivery.payload);
    const ids = idsOf.get(key) ?? new Set<string>();
    ids.add(delivery.id);
    idsOf.set(key, ids);
  }
  const lost = new FindingBuilder();
  for (const message of history.messages) {
    if (message.kind !== "queue" || message.ack === undefined) continue;
    if (!delivered.has(at(message.resource, message.ack.position))) {
      lost.add(`${message.resource}@${message.ack.position} (${messageKey(message)})`);
    }
  }
  const storedTwice = new FindingBuilder();
  for (const [key, ids] of idsOf) if (ids.size > 1) storedTwice.add(`${key} under ids ${[...ids].join(",")}`);
  return {
    unique: delivered.size,
    duplicates: history.queueDeliveries.length - delivered.size,
    lost: lost.done(),
    storedTwice: storedTwice.done(),
    orderViolations: checkOrder(history.queueDeliveries.filter((d) => d.queue === history.orderQueue)),
    ackedRedelivered: checkAckedNotRedelivered(history),
  };
}

/**
 * The bound on queue duplicates: once an ack is confirmed, the message is gone.
 * Strictly later only — a delivery in the same millisecond as the confirmation
 * cannot be ordered against it.
 */
function checkAckedNotRedelivered(history: History): Finding {
  const confirmedAt = new Map<string, number>();
  for (const ack of history.queueAcks) {
    const position = at(ack.queue, ack.id);
    confirmedAt.set(position, Math.min(confirmedAt.get(position) ?? Number.POSITIVE_INFINITY, ack.at));
  }
  const redelivered = new FindingBuilder();
  for (const delivery of history.queueDeliveries) {
    const acked = confirmedAt.get(at(delivery.queue, delivery.id));
    if (acked !== undefined && delivery.at > acked) {
      redelivered.add(
        `${delivery.queue}@${delivery.id} delivered to ${delivery.consumer} (delivery ${delivery.deliveries}) ${delivery.at - acked} ms after its ack was confirmed`,
      );
    }
  }
  return redelivered.done();
}

/** First deliveries come in id (= commit) order; redeliveries are exempt. */
function checkOrder(deliveries: readonly QueueDeliveryRecord[]): Finding {
  const violations = new FindingBuilder();
  const seen = new Set<string>();
  let highest = -1;
  for (const delivery of deliveries) {
    const redelivery = seen.has(delivery.id) || delivery.deliveries > 1;
    seen.add(delivery.id);
    if (redelivery) continue;
    const id = Number(delivery.id);
    if (id < highest)
      violations.add(`${delivery.queue}: id ${delivery.id} first delivered after id ${highest}`);
    highest = Math.max(highest, id);
  }
  return violations.done();
}

function checkTopics(
  history: History,
  published: Map<string, PublishedMessage>,
  acked: Map<string, PublishedMessage>,
  phantoms: FindingBuilder,
  conflicts: FindingBuilder,
) {
  const streams = new Map<string, { start: number; deliveries: TopicDeliveryRecord[] }>();
  const offsetsOf = new Map<string, Set<number>>();
  for (const stream of history.topicStreams) {
    streams.set(at(stream.subscriber, stream.topic), { start: stream.startOffset, deliveries: [] });
  }
  for (const delivery of history.topicDeliveries) {
    checkOrigin(
      delivery,
      "topic",
      delivery.topic,
      String(delivery.offset),
      published,
      acked,
      phantoms,
      conflicts,
    );
    const offsets = offsetsOf.get(messageKey(delivery.payload)) ?? new Set<number>();
    offsetsOf.set(messageKey(delivery.payload), offsets.add(delivery.offset));
    const key = at(delivery.subscriber, delivery.topic);
    const stream = streams.get(key) ?? { start: delivery.offset, deliveries: [] };
    stream.deliveries.push(delivery);
    streams.set(key, stream);
  }
  const gaps = new FindingBuilder();
  let duplicates = 0;
  for (const [key, { start, deliveries }] of streams) {
    const [subscriber, topic] = key.split("\0") as [string, string];
    let highest = start - 1;
    const seen = new Set<number>();
    for (const delivery of deliveries) {
      if (delivery.offset > highest + 1) {
        gaps.add(
          `${subscriber} on ${topic}: offset ${delivery.offset} came after ${highest} (missing ${highest + 1}…${delivery.offset - 1})`,
        );
      }
      if (seen.has(delivery.offset)) duplicates += 1;
      seen.add(delivery.offset);
      highest = Math.max(highest, delivery.offset);
    }
    // A jump above is a hole in the middle; what is missing after the last offset seen is the tail.
    for (const message of history.messages) {
      if (message.kind !== "topic" || message.resource !== topic || message.ack === undefined) continue;
      const offset = Number(message.ack.position);
      if (offset > highest && offset >= start) {
        gaps.add(`${subscriber} on ${topic}: acknowledged offset ${offset} never arrived`);
      }
    }
  }
  const storedTwice = new FindingBuilder();
  for (const [key, offsets] of offsetsOf) {
    if (offsets.size > 1) storedTwice.add(`${key} at offsets ${[...offsets].join(",")}`);
  }
  return { gaps: gaps.done(), duplicates, streams: streams.size, storedTwice: storedTwice.done() };
}

function attemptOutcomes(history: History): Record<string, number> {
  const outcomes: Record<string, number> = {};
  for (const attempt of history.attempts) {
    const label =
      attempt.reason === undefined ? String(attempt.status) : `${attempt.status} ${attempt.reason}`;
    outcomes[label] = (outcomes[label] ?? 0) + 1;
  }
  return outcomes;
}

/**
 * A delivery only the new owner can have made: of a message published (sent)
 * after the fault, or a redelivery. Deliveries of older messages right after
 * the fault may still be the old owner's last frames in flight, so they do
 * not count.
 */
function failoverTimes(
  fault: FaultMark,
  history: History,
  acked: Map<string, PublishedMessage>,
): FailoverTimes {
  const all = fault.queues.length === 0 && fault.topics.length === 0;
  const affected = (kind: "queue" | "topic", resource: string) =>
    all || (kind === "queue" ? fault.queues : fault.topics).includes(resource);
  const sentAfter = (message: PublishedMessage | undefined) =>
    message?.ack !== undefined && message.ack.attemptSentAt >= fault.at;

  let firstPublish: number | null = null;
  for (const message of history.messages) {
    if (!affected(message.kind, message.resource) || !sentAfter(message) || message.ack === undefined)
      continue;
    firstPublish = Math.min(firstPublish ?? Number.POSITIVE_INFINITY, message.ack.at - fault.at);
  }
  let firstDelivery: number | null = null;
  const earlier = new Set<string>();
  for (const delivery of history.queueDeliveries) {
    const position = at(delivery.queue, delivery.id);
    const redelivery = earlier.has(position) || delivery.deliveries > 1;
    earlier.add(position);
    if (delivery.at < fault.at || !affected("queue", delivery.queue)) continue;
    if (redelivery || sentAfter(acked.get(position))) {
      firstDelivery = Math.min(firstDelivery ?? Number.POSITIVE_INFINITY, delivery.at - fault.at);
    }
  }
  for (const delivery of history.topicDeliveries) {
    if (delivery.at < fault.at || !affected("topic", delivery.topic)) continue;
    if (sentAfter(acked.get(at(delivery.topic, delivery.offset)))) {
      firstDelivery = Math.min(firstDelivery ?? Number.POSITIVE_INFINITY, delivery.at - fault.at);
    }
  }
  const ackTimes = history.messages.flatMap((m) =>
    m.ack !== undefined && affected(m.kind, m.resource) ? [m.ack.at] : [],
  );
  const deliveryTimes = [
    ...history.queueDeliveries.filter((d) => affected("queue", d.queue)).map((d) => d.at),
    ...history.topicDeliveries.filter((d) => affected("topic", d.topic)).map((d) => d.at),
  ];
  return {
    label: fault.label,
    at: new Date(fault.at).toISOString(),
    resources: all ? ["(all)"] : [...fault.queues, ...fault.topics],
    firstPublishMs: firstPublish,
    firstDeliveryMs: firstDelivery,
    publishStallMs: longestStall(ackTimes, fault.at),
    deliveryStallMs: longestStall(deliveryTimes, fault.at),
  };
}

/** The longest quiet spell (no event at all) that ends after the fault: how long service stood still. */
function longestStall(times: number[], faultAt: number): number | null {
  const sorted = times.sort((a, b) => a - b);
  let longest: number | null = null;
  for (let index = 1; index < sorted.length; index += 1) {
    const [previous, next] = [sorted[index - 1] as number, sorted[index] as number];
    if (next < faultAt) continue;
    longest = Math.max(longest ?? 0, next - Math.max(previous, faultAt));
  }
  return longest;
}
