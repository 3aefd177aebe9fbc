import { AvisoError } from "../../errors/aviso-error.ts";
import type { Timer } from "../../shared/clock.ts";
import { IdempotencyCache } from "../idempotency-cache.ts";
import { idempotencyRecords, splitByIdempotencyKey } from "../idempotent-batch.ts";
import type { IdempotencyRecord, QueueDefinition, QueueMessage } from "../types.ts";
import { DeadLetterMover } from "./dead-letter-mover.ts";
import { DeliveryCounts } from "./delivery-counts.ts";
import { type PullLimits, PullWaiters } from "./pull-waiters.ts";
import { type ConsumerHost, ConsumerRing, PushConsumer } from "./push-consumer.ts";
import type { Entry } from "./queue-entry.ts";
import type {
  AckResult,
  ConsumerSink,
  DeadLetterCause,
  Delivery,
  PublishOptions,
  QueueConsumer,
  QueueEngineDeps,
  QueueEngineStats,
  QueuePublishInput,
  ReceiveRequest,
} from "./queue-ports.ts";
import { QueueTimeline } from "./queue-timeline.ts";
import { QueueWindow } from "./queue-window.ts";
import { ReadyMessages } from "./ready-messages.ts";
import { formatReceipt, parseMessageId, parseReceipt, queueTagOf } from "./receipt.ts";
import { QueueCharges } from "./stored-bytes.ts";

/** How long to wait before retrying a failed dead-letter move or removal. */
const RETRY_DELAY_MS = 1000;

/**
 * The serving node's live state of one queue: ready messages in commit order,
 * deliveries in flight with their ack deadlines, delayed messages, push
 * consumers with prefetch credit and long-polling pullers. Every state change
 * that matters after a crash is written through `deps.writer` before it is
 * acknowledged (publish) or after it happens (acks, redelivery counts), so
 * the worst a crash does is redeliver. Past its share of the node's queue
 * memory a queue pages its tail: committed messages stay in the store only
 * and are read back in seq order as room frees up (docs/architecture.md).
 */
export class QueueEngine implements ConsumerHost {
  private readonly entries = new Map<number, Entry>();
  private readonly ready = new ReadyMessages();
  private readonly timeline = new QueueTimeline();
  private readonly consumers = new ConsumerRing();
  private readonly waiters: PullWaiters;
  private readonly idempotency: IdempotencyCache<string>;
  private readonly deadLetters: DeadLetterMover;
  private readonly deliveryCounts: DeliveryCounts;
  private readonly charges: QueueCharges;
  private readonly window: QueueWindow;
  private nextSeq: number;
  private nextLeaseId = 1;
  private pendingAppends = 0;
  private wakeTimer: Timer | null = null;
  private wakeAt = Number.POSITIVE_INFINITY;
  private pumpScheduled = false;
  private closedReason: AvisoError | null = null;
  private readonly receiptTag: number;

  constructor(
    readonly definition: QueueDefinition,
    head: { nextSeq: number },
    private readonly deps: QueueEngineDeps,
  ) {
    this.nextSeq = head.nextSeq;
    this.idempotency = new IdempotencyCache(deps.clock);
    this.waiters = new PullWaiters(deps.clock);
    this.charges = new QueueCharges(deps.storedBytes);
    this.window = new QueueWindow(deps.memory, deps.reader, {
      admit: (msg, returned, bytes) => this.admit(msg, this.deps.clock.now(), returned, bytes),
      holds: (seq) => this.entries.has(seq),
      isClosed: () => this.closedReason !== null,
      changed: () => this.schedulePump(),
    });
    this.deliveryCounts = new DeliveryCounts(
      deps.clock,
      (entries) => void this.persistDeliveryCounts(entries),
      (entry) => entry.state === "inflight" && this.entries.get(entry.msg.seq) === entry,
    );
    this.deadLetters = new DeadLetterMover(
      (messages, cause) => deps.deadLetter(messages, cause),
      (messages) => {
        for (const message of messages) this.forget(message.seq);
        void this.deps.writer.remove(messages.map((message) => message.seq)).catch(() => {});
      },
      () => this.scheduleWake(this.deps.clock.now() + RETRY_DELAY_MS),
    );
    this.receiptTag = queueTagOf(definition.name);
  }

  get name(): string {
    return this.definition.name;
  }

  /** Loads un-acked messages found in the store when ownership is claimed (past the queue's share they stay paged). */
  restore(messages: readonly QueueMessage[], idempotency: readonly IdempotencyRecord[] = []): void {
    for (const msg of messages) {
      if (msg.seq >= this.nextSeq) this.nextSeq = msg.seq + 1;
      this.window.take(msg, msg.deliveries > 0);
    }
    this.restoreIdempotency(idempotency);
    this.schedulePump();
  }

  /**
   * At claim: the store holds `stored` un-acked messages of this queue; reads
   * the oldest of them through `deps.reader` until the queue's share of memory
   * is full, and leaves the rest paged.
   */
  async restoreFromStore(stored: number, idempotency: readonly IdempotencyRecord[] = []): Promise<void> {
    this.restoreIdempotency(idempotency);
    await this.window.restore(stored);
    this.schedulePump();
  }

  private restoreIdempotency(idempotency: readonly IdempotencyRecord[]): void {
    for (const record of idempotency) {
      this.idempotency.set(record.key, JSON.parse(record.result) as string, record.expiresAt);
    }
  }

  stats(): QueueEngineStats {
    let inFlight = 0;
    let delayed = 0;
    for (const entry of this.entries.values()) {
      if (entry.state === "inflight") inFlight += 1;
      else if (entry.state === "delayed") delayed += 1;
    }
    const ready = this.entries.size - inFlight - delayed;
    const paged = this.window.tail.count;
    return {
      depth: ready + delayed + paged,
      ready,
      delayed,
      inFlight,
      consumers: this.consumers.size,
      paged,
    };
  }

  /** How many more messages a publish may add before QUEUE_FULL (Infinity without maxLength). */
  room(): number {
    const { maxLength } = this.definition;
    if (maxLength === null) return Number.POSITIVE_INFINITY;
    return Math.max(0, maxLength - this.held());
  }

  /** Commits the messages, then makes them deliverable; resolves with their ids. */
  publish(inputs: readonly QueuePublishInput[], options: PublishOptions = {}): Promise<string[]> {
    this.assertOpen();
    const split = splitByIdempotencyKey(inputs, this.idempotency);
    const { fresh } = split;
    const { maxLength } = this.definition;
    if (maxLength !== null && this.held() + fresh.length > maxLength) {
      return Promise.reject(
        new AvisoError("QUEUE_FULL", `Queue "${this.name}" holds its maximum of ${maxLength} messages.`),
      );
    }
    if (fresh.length === 0 && options.cursor === undefined) return split.assemble(Promise.resolve([]));
    let charges: ReturnType<QueueCharges["reserve"]>;
    try {
      charges = this.charges.reserve(fresh);
    } catch (error) {
      return Promise.reject(error);
    }
    const now = this.deps.clock.now();
    const ttlMs = this.definition.messageTtlMs;
    const messages: QueueMessage[] = fresh.map((input) => {
      const availableAt = now + input.delayMs;
      return {
        seq: this.nextSeq++,
        payload: input.payload,
        headers: input.headers,
        publishedAt: now,
        availableAt,
        expiresAt: ttlMs === null ? null : availableAt + ttlMs,
        deliveries: 0,
      };
    });
    const ids = messages.map((msg) => String(msg.seq));
    const expiresAt = now + this.deps.idempotencyWindowMs;
    const idempotency = idempotencyRecords("queue", this.name, fresh, ids, expiresAt);
    this.pendingAppends += messages.length;
    const first = messages[0]?.seq ?? this.nextSeq;
    this.window.tail.appendStarted(first, this.nextSeq - 1);
    // Answered in the same step that takes the messages: a read of the tail in between must not see them as answered.
    const answered = () => {
      this.pendingAppends -= messages.length;
      this.window.tail.appendEnded(first);
    };
    const appended = this.deps.writer
      .append(messages, this.nextSeq, { idempotency, cursor: options.cursor })
      .then(
        () => {
          answered();
          for (const record of idempotency)
            this.idempotency.set(record.key, JSON.parse(record.result), expiresAt);
          if (this.closedReason !== null) {
            this.charges.cancel(charges);
            return ids;
          }
          messages.forEach((msg, index) => {
            this.window.take(msg, false);
            this.charges.hold(msg.seq, charges[index]);
          });
          this.schedulePump();
          return ids;
        },
        (error: unknown) => {
          answered();
          this.charges.cancel(charges);
          this.schedulePump();
          throw error;
        },
      );
    return split.assemble(appended);
  }

  /** Pull: leases up to `max` messages (and `maxBytes`), waiting up to `waitMs` for the first one. */
  receive(request: ReceiveRequest, signal?: AbortSignal): Promise<Delivery[]> {
    this.assertOpen();
    const limits: PullLimits = {
      max: request.max,
      maxBytes: request.maxBytes ?? Number.POSITIVE_INFINITY,
      ackTimeoutMs: request.ackTimeoutMs ?? this.definition.ackTimeoutMs,
    };
    if (signal?.aborted === true) return Promise.resolve([]);
    if (this.waiters.isEmpty) {
      const deliveries = this.deps.mayDeliver?.() === false ? [] : this.takeForPull(limits);
      if (deliveries.length > 0 || request.waitMs <= 0) return Promise.resolve(deliveries);
    }
    const waiting = this.waiters.wait(limits, request.waitMs, signal);
    this.schedulePump();
    return waiting;
  }

  /** Pull acks by receipt. Throws INVALID_RECEIPT (and changes nothing) if any receipt is malformed. */
  async ack(receipts: readonly string[]): Promise<AckResult> {
    this.assertOpen();
    const entries = this.entriesForReceipts(receipts);
    return this.settle(entries, (chosen) => this.finish(chosen));
  }

  async nack(receipts: readonly string[], delayMs: number): Promise<AckResult> {
    this.assertOpen();
    const entries = this.entriesForReceipts(receipts);
    return this.settle(entries, (chosen) => this.requeue(chosen, delayMs));
  }

  addConsumer(sink: ConsumerSink, prefetch: number): QueueConsumer {
    this.assertOpen();
    const consumer = new PushConsumer(this, sink, prefetch);
    this.consumers.add(consumer);
    this.schedulePump();
    return consumer;
  }

  /** Stops serving: waiters and consumers are told why; nothing is written. */
  close(reason: AvisoError): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.wakeTimer?.cancel();
    this.wakeTimer = null;
    this.deliveryCounts.stop();
    this.waiters.failAll(reason);
    for (const consumer of this.consumers.removeAll()) consumer.sink.closed(reason);
    this.charges.releaseAll();
    this.window.close();
  }

  // ---- used by PushConsumer ----

  /** @internal */
  ackPushed(consumer: PushConsumer, ids: readonly string[], settleOne: "ack" | number): Promise<AckResult> {
    this.assertOpen();
    const entries = ids.map((id): [string, Entry | undefined] => {
      const seq = parseMessageId(id);
      const entry = seq === undefined ? undefined : this.entries.get(seq);
      return [id, entry?.state === "inflight" && entry.holder === consumer ? entry : undefined];
    });
    return this.settle(entries, (chosen) =>
      settleOne === "ack" ? this.finish(chosen) : this.requeue(chosen, settleOne),
    );
  }

  /** @internal A consumer's transport drained. */
  resumeConsumer(): void {
    this.schedulePump();
  }

  /** @internal */
  removeConsumer(consumer: PushConsumer): void {
    this.consumers.remove(consumer);
    const changes: Entry[] = [];
    for (const seq of consumer.inFlight) {
      const entry = this.entries.get(seq);
      if (entry?.state === "inflight" && entry.holder === consumer) changes.push(entry);
    }
    consumer.inFlight.clear();
    for (const entry of changes) this.returnToQueue(entry, 0);
    this.persistDeliveryCounts(changes);
    this.schedulePump();
  }

  // ---- internals ----

  private assertOpen(): void {
    if (this.closedReason !== null) throw this.closedReason;
  }

  /** Messages the queue holds or is committing, in memory or paged (maxLength counts them all). */
  private held(): number {
    return this.entries.size + this.pendingAppends + this.window.tail.count;
  }

  private entriesForReceipts(receipts: readonly string[]): Array<[string, Entry | undefined]> {
    return receipts.map((receipt) => {
      const parts = parseReceipt(receipt);
      if (parts === undefined) {
        throw new AvisoError("INVALID_RECEIPT", `"${receipt.slice(0, 64)}" is not a receipt Aviso issued.`);
      }
      const entry = this.entries.get(parts.seq);
      const current =
        parts.epoch === this.deps.epoch &&
        parts.queueTag === this.receiptTag &&
        entry?.state === "inflight" &&
        entry.holder === null &&
        entry.leaseId === parts.leaseId;
      return [receipt, current ? entry : undefined];
    });
  }

  /**
   * Settles a request's deliveries together: one write for all of them (an
   * ack of 32 ids is one removal of 32 seqs, not 32 writes: bench/RESULTS.md
   * "One write per ack request").
   */
  private async settle(
    entries: ReadonlyArray<[string, Entry | undefined]>,
    apply: (chosen: Entry[]) => Promise<void> | undefined,
  ): Promise<AckResult> {
    const stale: string[] = [];
    const chosen: Entry[] = [];
    const settled = new Set<Entry>();
    for (const [name, entry] of entries) {
      // A delivery named twice in one request is settled once; the repeat is no longer in flight.
      if (entry === undefined || settled.has(entry)) {
        stale.push(name);
        continue;
      }
      settled.add(entry);
      chosen.push(entry);
    }
    const write = chosen.length === 0 ? undefined : apply(chosen);
    this.schedulePump();
    await write;
    return { acked: entries.length - stale.length, stale };
  }

  /** Acked: forget them now and delete them (a failed delete fails the write; the host drops and reloads us). */
  private finish(entries: readonly Entry[]): Promise<void> {
    const seqs: number[] = [];
    for (const entry of entries) {
      this.deliveryCounts.forget(entry);
      this.release(entry);
      this.forget(entry.msg.seq);
      entry.state = "leaving";
      seqs.push(entry.msg.seq);
    }
    return this.deps.writer.remove(seqs);
  }

  private requeue(entries: readonly Entry[], delayMs: number): Promise<void> | undefined {
    for (const entry of entries) {
      this.release(entry);
      this.returnToQueue(entry, delayMs);
    }
    return this.persistDeliveryCounts(entries);
  }

  private release(entry: Entry): void {
    entry.holder?.inFlight.delete(entry.msg.seq);
    entry.holder = null;
  }

  /** A delivery ended without an ack: back to ready (or delayed), or out if it was delivered too often. */
  private returnToQueue(entry: Entry, delayMs: number): void {
    entry.holder = null;
    const { maxDeliveries } = this.definition;
    if (maxDeliveries !== null && entry.msg.deliveries >= maxDeliveries) {
      this.leave(entry, "max_deliveries");
      return;
    }
    const now = this.deps.clock.now();
    entry.msg.availableAt = now + delayMs;
    if (delayMs > 0) this.delay(entry);
    else this.ready.add(entry, true);
  }

  /** The message joins the queue in memory: delayed until its time, else ready. Never twice. */
  private admit(msg: QueueMessage, now: number, returned: boolean, bytes: number): void {
    if (this.entries.has(msg.seq)) return;
    const entry: Entry = { msg, state: "ready", leaseId: 0, holder: null, bytes };
    this.entries.set(msg.seq, entry);
    this.window.added(bytes);
    if (msg.availableAt > now) this.delay(entry);
    else this.ready.add(entry, returned);
  }

  /** The message left the queue: untracked, its memory and its publisher's bytes released. */
  private forget(seq: number): void {
    const entry = this.entries.get(seq);
    this.entries.delete(seq);
    this.charges.release(seq);
    if (entry === undefined) return;
    // Heaps still point at the entry until its stale item surfaces (an ack deadline: ackTimeoutMs
    // later), so let go of the payload now: draining a backlog would otherwise keep the last
    // ackTimeoutMs worth of acked payloads alive (bench/RESULTS.md, "Backlog larger than memory").
    entry.msg = { ...entry.msg, payload: "", headers: null };
    // After close the queue's whole share was given back at once.
    if (this.closedReason === null) this.window.removed(entry.bytes);
  }

  private delay(entry: Entry): void {
    this.timeline.delay(entry);
    this.scheduleWake(entry.msg.availableAt);
  }

  private leave(entry: Entry, cause: DeadLetterCause): void {
    entry.state = "leaving";
    entry.holder = null;
    if (this.definition.deadLetterQueue === null) {
      this.forget(entry.msg.seq);
      void this.deps.writer.remove([entry.msg.seq]).catch(() => {});
      this.deps.onDropped?.(1, cause);
      return;
    }
    this.deadLetters.add(entry.msg, cause);
  }

  /** Delivery counts and delays are kept for maxDeliveries across restarts. */
  private persistDeliveryCounts(entries: readonly Entry[]): Promise<void> | undefined {
    for (const entry of entries) this.deliveryCounts.forget(entry);
    const changes = entries
      .filter((entry) => entry.state !== "leaving")
      .map((entry) => ({
        seq: entry.msg.seq,
        deliveries: entry.msg.deliveries,
        availableAt: entry.msg.availableAt,
      }));
    if (changes.length === 0) return undefined;
    return this.deps.writer.update(changes).catch(() => {});
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closedReason !== null) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Hands ready messages to waiting pullers first, then round-robin to consumers with credit. */
  private pump(): void {
    if (this.closedReason !== null) return;
    // A stale serving node hands out nothing from memory; its host drops the engine.
    if (this.deps.mayDeliver?.() === false) return;
    this.waiters.serve((limits) => this.takeForPull(limits));
    const batches = new Map<PushConsumer, Delivery[]>();
    while (this.consumers.size > 0) {
      const consumer = this.consumers.nextReady();
      if (consumer === undefined) break;
      const entry = this.popReady();
      if (entry === undefined) break;
      this.consumers.served();
      const delivery = this.lease(entry, consumer, this.definition.ackTimeoutMs);
      consumer.inFlight.add(entry.msg.seq);
      let batch = batches.get(consumer);
      if (batch === undefined) {
        batch = [];
        batches.set(consumer, batch);
      }
      batch.push(delivery);
    }
    for (const [consumer, deliveries] of batches) {
      // Asked again per consumer: a process frozen inside this loop (SIGSTOP, a VM stall) resumes
      // here, by then possibly a stale serving node whose successor already redelivered these
      // messages. Those not sent stay leased until their ack deadline; a stale engine is dropped.
      if (this.deps.mayDeliver?.() === false) break;
      consumer.sink.deliver(deliveries);
    }
    this.armNextWake();
    this.window.refill(() => this.scheduleWake(this.deps.clock.now() + RETRY_DELAY_MS));
  }

  /** Leases only what the page returns: a message that would overflow maxBytes stays ready. */
  private takeForPull({ max, maxBytes, ackTimeoutMs }: PullLimits): Delivery[] {
    const deliveries: Delivery[] = [];
    let bytes = 0;
    // entry.bytes is the message's deliveryBytes, measured once when it entered memory.
    const fits = (entry: Entry) => deliveries.length === 0 || bytes + entry.bytes <= maxBytes;
    while (deliveries.length < max) {
      const entry = this.popReady(fits);
      if (entry === undefined) break;
      bytes += entry.bytes;
      deliveries.push(this.lease(entry, null, ackTimeoutMs));
    }
    if (deliveries.length > 0) this.armNextWake();
    return deliveries;
  }

  /** Next deliverable message in seq order, expiring any whose TTL has passed. */
  private popReady(fits?: (entry: Entry) => boolean): Entry | undefined {
    return this.ready.take(this.deps.clock.now(), (entry) => this.leave(entry, "expired"), fits);
  }

  private lease(entry: Entry, holder: PushConsumer | null, ackTimeoutMs: number): Delivery {
    const leaseId = this.nextLeaseId++;
    const deadline = this.deps.clock.now() + ackTimeoutMs;
    entry.state = "inflight";
    entry.leaseId = leaseId;
    entry.holder = holder;
    entry.msg.deliveries += 1;
    this.timeline.leased(entry, deadline);
    this.deliveryCounts.delivered(entry);
    const { msg } = entry;
    return {
      id: String(msg.seq),
      payload: msg.payload,
      headers: msg.headers,
      publishedAt: msg.publishedAt,
      deliveries: msg.deliveries,
      receipt: formatReceipt({ epoch: this.deps.epoch, seq: msg.seq, leaseId, queueTag: this.receiptTag }),
    };
  }

  private scheduleWake(at: number): void {
    if (this.closedReason !== null || at >= this.wakeAt) return;
    this.wakeTimer?.cancel();
    this.wakeAt = at;
    this.wakeTimer = this.deps.clock.setTimer(at - this.deps.clock.now(), () => this.wake());
  }

  private armNextWake(): void {
    const candidates = [this.timeline.nextAt(), this.ready.nextExpiry()];
    let earliest = Number.POSITIVE_INFINITY;
    for (const at of candidates) if (at !== undefined && at < earliest) earliest = at;
    if (earliest < Number.POSITIVE_INFINITY) this.scheduleWake(earliest);
  }

  /** Timer: delays that are over, ack deadlines that passed, TTLs, and retries. */
  private wake(): void {
    this.wakeTimer = null;
    this.wakeAt = Number.POSITIVE_INFINITY;
    const now = this.deps.clock.now();
    for (const entry of this.timeline.takeAvailable(now)) this.ready.add(entry, true);
    const timedOut = this.timeline.takeTimedOut(now);
    for (const entry of timedOut) {
      this.release(entry);
      this.returnToQueue(entry, 0);
    }
    this.persistDeliveryCounts(timedOut);
    this.ready.expireHead(now, (entry) => this.leave(entry, "expired"));
    if (this.closedReason === null) void this.deadLetters.run();
    this.pump();
  }
}
