import { AvisoError } from "../../errors/aviso-error.ts";
import type { Timer } from "../clock.ts";
import { Fifo } from "../fifo.ts";
import { IdempotencyCache } from "../idempotency-cache.ts";
import { splitByIdempotencyKey } from "../idempotent-batch.ts";
import { MinHeap } from "../min-heap.ts";
import type { IdempotencyRecord, QueueDefinition, QueueMessage } from "../types.ts";
import type {
  AckResult,
  ConsumerSink,
  DeadLetterCause,
  Delivery,
  PublishOptions,
  QueueConsumer,
  QueueEngineDeps,
  QueuePublishInput,
  QueueStats,
  ReceiveRequest,
} from "./queue-ports.ts";
import { formatReceipt, parseMessageId, parseReceipt, queueTagOf } from "./receipt.ts";

type EntryState = "ready" | "delayed" | "inflight" | "leaving";

interface Entry {
  msg: QueueMessage;
  state: EntryState;
  /** Current lease while in flight; bumps on every delivery so old receipts go stale. */
  leaseId: number;
  holder: PushConsumer | null;
}

interface Waiter {
  max: number;
  ackTimeoutMs: number;
  /** Set once answered (messages, timeout, abort or close); a done waiter is skipped. */
  done: boolean;
  finish(deliveries: Delivery[]): void;
  fail(error: AvisoError): void;
}

/** How long to wait before retrying a failed dead-letter move or removal. */
const RETRY_DELAY_MS = 1000;
/**
 * Delivery counts are written this long after a delivery, and not at all when
 * the ack came first (the usual case), so counting costs no write per message;
 * after a crash only a delivery made in the last moment before it counts once less.
 */
const DELIVERY_COUNT_SAVE_MS = 250;

/**
 * The owner's live state of one queue: ready messages in commit order,
 * deliveries in flight with their ack deadlines, delayed messages, push
 * consumers with prefetch credit and long-polling pullers. Every state change
 * that matters after a crash is written through `deps.writer` before it is
 * acknowledged (publish) or after it happens (acks, redelivery counts), so
 * the worst a crash does is redeliver.
 */
export class QueueEngine {
  private readonly entries = new Map<number, Entry>();
  /** Ready messages never delivered, in seq order. */
  private readonly fresh = new Fifo<Entry>();
  /** Ready messages that came back (nack, timeout, delay over), by seq so they go first. */
  private readonly returned = new MinHeap<Entry>((entry) => entry.msg.seq);
  private readonly delayed = new MinHeap<Entry>((entry) => entry.msg.availableAt);
  private readonly deadlines = new MinHeap<{ entry: Entry; leaseId: number; deadline: number }>(
    (item) => item.deadline,
  );
  private readonly consumers: PushConsumer[] = [];
  private readonly waiters = new Fifo<Waiter>();
  private readonly idempotency: IdempotencyCache<string>;
  private readonly leaving: Array<{ entry: Entry; cause: DeadLetterCause }> = [];
  private readonly removalsToRetry = new Set<number>();
  /** In-flight deliveries whose count is not in the store yet. */
  private readonly unsavedCounts = new Set<Entry>();
  private countSaveTimer: Timer | null = null;
  private nextSeq: number;
  private nextLeaseId = 1;
  private pendingAppends = 0;
  private roundRobin = 0;
  private wakeTimer: Timer | null = null;
  private wakeAt = Number.POSITIVE_INFINITY;
  private pumpScheduled = false;
  private movingDeadLetters = false;
  private closedReason: AvisoError | null = null;
  private readonly receiptTag: number;

  constructor(
    readonly definition: QueueDefinition,
    head: { nextSeq: number },
    private readonly deps: QueueEngineDeps,
  ) {
    this.nextSeq = head.nextSeq;
    this.idempotency = new IdempotencyCache(deps.clock);
    this.receiptTag = queueTagOf(definition.name);
  }

  get name(): string {
    return this.definition.name;
  }

  /** Loads un-acked messages found in the store when ownership is claimed. */
  restore(messages: readonly QueueMessage[], idempotency: readonly IdempotencyRecord[] = []): void {
    const now = this.deps.clock.now();
    for (const msg of messages) {
      if (msg.seq >= this.nextSeq) this.nextSeq = msg.seq + 1;
      const entry: Entry = { msg, state: "ready", leaseId: 0, holder: null };
      this.entries.set(msg.seq, entry);
      if (msg.availableAt > now) this.delay(entry);
      else this.makeReady(entry, msg.deliveries > 0);
    }
    for (const record of idempotency) {
      this.idempotency.set(record.key, JSON.parse(record.result) as string, record.expiresAt);
    }
    this.schedulePump();
  }

  stats(): QueueStats {
    let inFlight = 0;
    let delayed = 0;
    for (const entry of this.entries.values()) {
      if (entry.state === "inflight") inFlight += 1;
      else if (entry.state === "delayed") delayed += 1;
    }
    const ready = this.entries.size - inFlight - delayed;
    return { depth: ready + delayed, ready, delayed, inFlight, consumers: this.consumers.length };
  }

  /** Commits the messages, then makes them deliverable; resolves with their ids. */
  publish(inputs: readonly QueuePublishInput[], options: PublishOptions = {}): Promise<string[]> {
    this.assertOpen();
    const split = splitByIdempotencyKey(inputs, this.idempotency);
    const { fresh } = split;
    const { maxLength } = this.definition;
    if (maxLength !== null && this.entries.size + this.pendingAppends + fresh.length > maxLength) {
      return Promise.reject(
        new AvisoError("QUEUE_FULL", `Queue "${this.name}" holds its maximum of ${maxLength} messages.`),
      );
    }
    if (fresh.length === 0 && options.cursor === undefined) return split.assemble(Promise.resolve([]));
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
    const idempotency: IdempotencyRecord[] = [];
    fresh.forEach((input, i) => {
      if (input.idempotencyKey === undefined) return;
      idempotency.push({
        kind: "queue",
        resource: this.name,
        key: input.idempotencyKey,
        result: JSON.stringify(ids[i]),
        expiresAt,
      });
    });
    this.pendingAppends += messages.length;
    const appended = this.deps.writer
      .append(messages, this.nextSeq, { idempotency, cursor: options.cursor })
      .finally(() => {
        this.pendingAppends -= messages.length;
      })
      .then(() => {
        for (const record of idempotency)
          this.idempotency.set(record.key, JSON.parse(record.result), expiresAt);
        if (this.closedReason !== null) return ids;
        for (const msg of messages) {
          const entry: Entry = { msg, state: "ready", leaseId: 0, holder: null };
          this.entries.set(msg.seq, entry);
          if (msg.availableAt > now) this.delay(entry);
          else this.fresh.push(entry);
        }
        this.schedulePump();
        return ids;
      });
    return split.assemble(appended);
  }

  /** Pull: leases up to `max` messages, waiting up to `waitMs` for the first one. */
  receive(request: ReceiveRequest, signal?: AbortSignal): Promise<Delivery[]> {
    this.assertOpen();
    const ackTimeoutMs = request.ackTimeoutMs ?? this.definition.ackTimeoutMs;
    if (signal?.aborted === true) return Promise.resolve([]);
    this.dropAnsweredWaiters();
    if (this.waiters.size === 0) {
      const deliveries = this.takeForPull(request.max, ackTimeoutMs);
      if (deliveries.length > 0 || request.waitMs <= 0) return Promise.resolve(deliveries);
    }
    return new Promise<Delivery[]>((resolve, reject) => {
      const onAbort = (): void => waiter.finish([]);
      const settle = (): void => {
        waiter.done = true;
        timer.cancel();
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        max: request.max,
        ackTimeoutMs,
        done: false,
        finish(deliveries) {
          if (waiter.done) return;
          settle();
          resolve(deliveries);
        },
        fail(error) {
          if (waiter.done) return;
          settle();
          reject(error);
        },
      };
      const timer = this.deps.clock.setTimer(request.waitMs, () => waiter.finish([]));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.schedulePump();
    });
  }

  /** Pull acks by receipt. Throws INVALID_RECEIPT (and changes nothing) if any receipt is malformed. */
  async ack(receipts: readonly string[]): Promise<AckResult> {
    this.assertOpen();
    const entries = this.entriesForReceipts(receipts);
    return this.settle(entries, (entry) => this.finish(entry));
  }

  async nack(receipts: readonly string[], delayMs: number): Promise<AckResult> {
    this.assertOpen();
    const entries = this.entriesForReceipts(receipts);
    return this.settle(entries, (entry) => this.requeue(entry, delayMs));
  }

  addConsumer(sink: ConsumerSink, prefetch: number): QueueConsumer {
    this.assertOpen();
    const consumer = new PushConsumer(this, sink, prefetch);
    this.consumers.push(consumer);
    this.schedulePump();
    return consumer;
  }

  /** Stops serving: waiters and consumers are told why; nothing is written. */
  close(reason: AvisoError): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.wakeTimer?.cancel();
    this.wakeTimer = null;
    this.countSaveTimer?.cancel();
    for (let waiter = this.waiters.shift(); waiter !== undefined; waiter = this.waiters.shift()) {
      waiter.fail(reason);
    }
    for (const consumer of this.consumers.splice(0)) consumer.sink.closed(reason);
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
    return this.settle(entries, (entry) =>
      settleOne === "ack" ? this.finish(entry) : this.requeue(entry, settleOne),
    );
  }

  /** @internal A consumer's transport drained. */
  resumeConsumer(): void {
    this.schedulePump();
  }

  /** @internal */
  removeConsumer(consumer: PushConsumer): void {
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
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

  private async settle(
    entries: ReadonlyArray<[string, Entry | undefined]>,
    apply: (entry: Entry) => Promise<void> | undefined,
  ): Promise<AckResult> {
    const stale: string[] = [];
    const writes: Array<Promise<void>> = [];
    const settled = new Set<Entry>();
    for (const [name, entry] of entries) {
      // A delivery named twice in one request is settled once; the repeat is no longer in flight.
      if (entry === undefined || settled.has(entry)) {
        stale.push(name);
        continue;
      }
      settled.add(entry);
      const write = apply(entry);
      if (write !== undefined) writes.push(write);
    }
    this.schedulePump();
    await Promise.all(writes);
    return { acked: entries.length - stale.length, stale };
  }

  /** Acked: forget it now, delete it from the store (retried if the store is down). */
  private finish(entry: Entry): Promise<void> {
    this.unsavedCounts.delete(entry);
    this.release(entry);
    this.entries.delete(entry.msg.seq);
    entry.state = "leaving";
    return this.persistRemovals([entry.msg.seq]);
  }

  private requeue(entry: Entry, delayMs: number): Promise<void> | undefined {
    this.release(entry);
    this.returnToQueue(entry, delayMs);
    return this.persistDeliveryCounts([entry]);
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
    else this.makeReady(entry, true);
  }

  private makeReady(entry: Entry, returned: boolean): void {
    entry.state = "ready";
    if (returned) this.returned.push(entry);
    else this.fresh.push(entry);
  }

  private delay(entry: Entry): void {
    entry.state = "delayed";
    this.delayed.push(entry);
    this.scheduleWake(entry.msg.availableAt);
  }

  private leave(entry: Entry, cause: DeadLetterCause): void {
    entry.state = "leaving";
    entry.holder = null;
    if (this.definition.deadLetterQueue === null) {
      this.entries.delete(entry.msg.seq);
      void this.persistRemovals([entry.msg.seq]).catch(() => {});
      this.deps.onDropped?.(1, cause);
      return;
    }
    this.leaving.push({ entry, cause });
    void this.moveDeadLetters();
  }

  private async moveDeadLetters(): Promise<void> {
    if (this.movingDeadLetters || this.leaving.length === 0 || this.closedReason !== null) return;
    this.movingDeadLetters = true;
    const cause = this.leaving[0]?.cause ?? "expired";
    const batch = this.leaving.filter((item) => item.cause === cause).slice(0, 500);
    const moving = new Set(batch);
    try {
      await this.deps.deadLetter(
        batch.map((item) => item.entry.msg),
        cause,
      );
      for (let i = this.leaving.length - 1; i >= 0; i -= 1) {
        if (moving.has(this.leaving[i] as (typeof this.leaving)[number])) this.leaving.splice(i, 1);
      }
      const seqs = batch.map((item) => item.entry.msg.seq);
      for (const seq of seqs) this.entries.delete(seq);
      await this.persistRemovals(seqs).catch(() => {});
    } catch {
      this.scheduleWake(this.deps.clock.now() + RETRY_DELAY_MS);
      return;
    } finally {
      this.movingDeadLetters = false;
    }
    void this.moveDeadLetters();
  }

  private persistRemovals(seqs: number[]): Promise<void> {
    const all = this.removalsToRetry.size === 0 ? seqs : [...this.removalsToRetry, ...seqs];
    this.removalsToRetry.clear();
    return this.deps.writer.remove(all).catch((error: unknown) => {
      if (this.closedReason === null) {
        for (const seq of all) this.removalsToRetry.add(seq);
        this.scheduleWake(this.deps.clock.now() + RETRY_DELAY_MS);
      }
      throw error;
    });
  }

  /** Counts of deliveries still in flight, so a crash does not reset them (maxDeliveries, `deliveries`). */
  private saveDeliveryCounts(): void {
    this.countSaveTimer = null;
    const inFlight = [...this.unsavedCounts].filter(
      (entry) => entry.state === "inflight" && this.entries.get(entry.msg.seq) === entry,
    );
    this.unsavedCounts.clear();
    void this.persistDeliveryCounts(inFlight);
  }

  /** Delivery counts and delays are kept for maxDeliveries across restarts. */
  private persistDeliveryCounts(entries: readonly Entry[]): Promise<void> | undefined {
    for (const entry of entries) this.unsavedCounts.delete(entry);
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
    this.dropAnsweredWaiters();
    for (let waiter = this.waiters.peek(); waiter !== undefined; waiter = this.waiters.peek()) {
      const deliveries = this.takeForPull(waiter.max, waiter.ackTimeoutMs);
      if (deliveries.length === 0) break;
      this.waiters.shift();
      waiter.finish(deliveries);
      this.dropAnsweredWaiters();
    }
    const batches = new Map<PushConsumer, Delivery[]>();
    while (this.consumers.length > 0) {
      const consumer = this.nextConsumerWithCredit();
      if (consumer === undefined) break;
      const entry = this.popReady();
      if (entry === undefined) break;
      const delivery = this.lease(entry, consumer, this.definition.ackTimeoutMs);
      consumer.inFlight.add(entry.msg.seq);
      let batch = batches.get(consumer);
      if (batch === undefined) {
        batch = [];
        batches.set(consumer, batch);
      }
      batch.push(delivery);
    }
    for (const [consumer, deliveries] of batches) consumer.sink.deliver(deliveries);
    this.armNextWake();
  }

  private dropAnsweredWaiters(): void {
    while (this.waiters.peek()?.done === true) this.waiters.shift();
  }

  private nextConsumerWithCredit(): PushConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i += 1) {
      const consumer = this.consumers[(this.roundRobin + i) % count] as PushConsumer;
      if (consumer.inFlight.size < consumer.prefetch && consumer.sink.writable?.() !== false) {
        this.roundRobin = (this.roundRobin + i + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }

  private takeForPull(max: number, ackTimeoutMs: number): Delivery[] {
    const deliveries: Delivery[] = [];
    while (deliveries.length < max) {
      const entry = this.popReady();
      if (entry === undefined) break;
      deliveries.push(this.lease(entry, null, ackTimeoutMs));
    }
    if (deliveries.length > 0) this.armNextWake();
    return deliveries;
  }

  /** Next deliverable message in seq order, expiring any whose TTL has passed. */
  private popReady(): Entry | undefined {
    const now = this.deps.clock.now();
    for (;;) {
      const returned = this.returned.peek();
      const fresh = this.fresh.peek();
      const fromReturned =
        returned !== undefined && (fresh === undefined || returned.msg.seq < fresh.msg.seq);
      const entry = fromReturned ? this.returned.pop() : this.fresh.shift();
      if (entry === undefined) return undefined;
      if (entry.state !== "ready") continue;
      if (entry.msg.expiresAt !== null && entry.msg.expiresAt <= now) {
        this.leave(entry, "expired");
        continue;
      }
      return entry;
    }
  }

  private lease(entry: Entry, holder: PushConsumer | null, ackTimeoutMs: number): Delivery {
    const leaseId = this.nextLeaseId++;
    const deadline = this.deps.clock.now() + ackTimeoutMs;
    entry.state = "inflight";
    entry.leaseId = leaseId;
    entry.holder = holder;
    entry.msg.deliveries += 1;
    this.deadlines.push({ entry, leaseId, deadline });
    this.unsavedCounts.add(entry);
    this.countSaveTimer ??= this.deps.clock.setTimer(DELIVERY_COUNT_SAVE_MS, () => this.saveDeliveryCounts());
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
    const candidates = [
      this.delayed.peek()?.msg.availableAt,
      this.deadlines.peek()?.deadline,
      this.fresh.peek()?.msg.expiresAt ?? undefined,
    ];
    let earliest = Number.POSITIVE_INFINITY;
    for (const at of candidates) if (at !== undefined && at < earliest) earliest = at;
    if (earliest < Number.POSITIVE_INFINITY) this.scheduleWake(earliest);
  }

  /** Timer: delays that are over, ack deadlines that passed, TTLs, and retries. */
  private wake(): void {
    this.wakeTimer = null;
    this.wakeAt = Number.POSITIVE_INFINITY;
    const now = this.deps.clock.now();
    for (let entry = this.delayed.peek(); entry !== undefined; entry = this.delayed.peek()) {
      if (entry.state === "delayed" && entry.msg.availableAt > now) break;
      this.delayed.pop();
      if (entry.state === "delayed") this.makeReady(entry, true);
    }
    const timedOut: Entry[] = [];
    for (let item = this.deadlines.peek(); item !== undefined; item = this.deadlines.peek()) {
      const current = item.entry.state === "inflight" && item.entry.leaseId === item.leaseId;
      if (current && item.deadline > now) break;
      this.deadlines.pop();
      if (current) {
        this.release(item.entry);
        this.returnToQueue(item.entry, 0);
        timedOut.push(item.entry);
      }
    }
    this.persistDeliveryCounts(timedOut);
    this.expireFreshHead(now);
    if (this.removalsToRetry.size > 0) void this.persistRemovals([]).catch(() => {});
    void this.moveDeadLetters();
    this.pump();
  }

  /** TTL is the same for every message of a queue, so fresh messages expire in queue order. */
  private expireFreshHead(now: number): void {
    for (let entry = this.fresh.peek(); entry !== undefined; entry = this.fresh.peek()) {
      if (entry.state === "ready" && (entry.msg.expiresAt === null || entry.msg.expiresAt > now)) return;
      this.fresh.shift();
      if (entry.state === "ready") this.leave(entry, "expired");
    }
  }
}

/** A push consumer registered with a QueueEngine. */
class PushConsumer implements QueueConsumer {
  readonly inFlight = new Set<number>();
  private closed = false;

  constructor(
    private readonly engine: QueueEngine,
    readonly sink: ConsumerSink,
    readonly prefetch: number,
  ) {}

  ack(ids: readonly string[]): Promise<AckResult> {
    return this.engine.ackPushed(this, ids, "ack");
  }

  nack(ids: readonly string[], delayMs: number): Promise<AckResult> {
    return this.engine.ackPushed(this, ids, delayMs);
  }

  resume(): void {
    if (!this.closed) this.engine.resumeConsumer();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.engine.removeConsumer(this);
  }
}
