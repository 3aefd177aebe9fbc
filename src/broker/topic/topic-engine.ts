import type { AvisoError } from "../../errors/aviso-error.ts";
import type { Timer } from "../../shared/clock.ts";
import { IdempotencyCache } from "../idempotency-cache.ts";
import { idempotencyRecords, splitByIdempotencyKey } from "../idempotent-batch.ts";
import type { IdempotencyRecord, TopicDefinition, TopicMessage } from "../types.ts";
import { RecentMessages } from "./recent-messages.ts";
import type { TopicEngineDeps, TopicFeed, TopicPublishInput } from "./topic-ports.ts";

interface PendingPublish {
  inputs: readonly TopicPublishInput[];
  resolve(offsets: number[]): void;
  reject(error: unknown): void;
}

/** Store pages read per retention pass when the age cut lies before the in-memory window. */
const RETENTION_SCAN_PAGES = 20;
const RETENTION_SCAN_PAGE = 500;

/**
 * The serving node's state of one topic: assigns offsets, commits batches in order,
 * keeps recent messages in memory, applies retention and tells listeners of
 * every committed batch. Offsets are assigned when a batch is written and one
 * append is in flight at a time, so a failed commit never leaves a hole: the
 * next batch reuses its offsets.
 */
export class TopicEngine implements TopicFeed {
  private readonly recent: RecentMessages;
  private readonly committedListeners = new Set<(messages: readonly TopicMessage[]) => void>();
  private readonly endedListeners = new Set<(reason: AvisoError) => void>();
  private readonly idempotency: IdempotencyCache<number>;
  private pending: PendingPublish[] = [];
  private writing = false;
  private committedNext: number;
  private retainedFrom: number;
  private lastPublishedAt = 0;
  private retentionTimer: Timer | null = null;
  /** Retention passes run one after another; a requested pass runs after the current one. */
  private retentionChain: Promise<void> = Promise.resolve();
  private closedReason: AvisoError | null = null;

  constructor(
    readonly definition: TopicDefinition,
    head: { nextOffset: number; firstOffset: number },
    private readonly deps: TopicEngineDeps,
  ) {
    this.committedNext = head.nextOffset;
    this.retainedFrom = head.firstOffset;
    const memoryLimit = definition.durable
      ? deps.memoryMessages
      : Math.min(deps.memoryMessages, definition.retention.maxMessages ?? deps.memoryMessages);
    this.recent = new RecentMessages(Math.max(1, memoryLimit), deps.memoryBytes);
    this.idempotency = new IdempotencyCache(deps.clock);
    this.scheduleRetention();
  }

  get name(): string {
    return this.definition.name;
  }

  nextOffset(): number {
    return this.committedNext;
  }

  firstOffset(): number {
    if (this.definition.durable) return this.retainedFrom;
    return this.recent.firstOffset ?? this.committedNext;
  }

  restoreIdempotency(records: readonly IdempotencyRecord[]): void {
    for (const record of records) {
      this.idempotency.set(record.key, JSON.parse(record.result) as number, record.expiresAt);
    }
  }

  /** Commits the messages (durable topics) and resolves with their offsets. */
  publish(inputs: readonly TopicPublishInput[]): Promise<number[]> {
    if (this.closedReason !== null) return Promise.reject(this.closedReason);
    const split = splitByIdempotencyKey(inputs, this.idempotency);
    if (split.fresh.length === 0) return split.assemble(Promise.resolve([]));
    const published = new Promise<number[]>((resolve, reject) => {
      this.pending.push({ inputs: split.fresh, resolve, reject });
    });
    if (!this.writing) {
      this.writing = true;
      // Let publishes of the same tick join this batch.
      queueMicrotask(() => void this.writeBatches());
    }
    return split.assemble(published);
  }

  async read(fromOffset: number, limit: number): Promise<TopicMessage[]> {
    const from = Math.max(fromOffset, this.firstOffset());
    const upTo = Math.min(limit, this.committedNext - from);
    if (upTo <= 0) return [];
    const inMemory = this.recent.readFrom(from, upTo);
    if (inMemory !== undefined) return inMemory;
    if (this.deps.reader === null) return [];
    const stored = await this.deps.reader.read(from, upTo);
    return stored.filter((message) => message.offset < this.committedNext);
  }

  onCommitted(listener: (messages: readonly TopicMessage[]) => void): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  onEnded(listener: (reason: AvisoError) => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  close(reason: AvisoError): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.retentionTimer?.cancel();
    for (const pending of this.pending.splice(0)) pending.reject(reason);
    for (const listener of this.endedListeners) listener(reason);
    this.committedListeners.clear();
    this.endedListeners.clear();
  }

  /** Drops what retention no longer keeps (count, then age), never past a durable subscription's cursor. */
  applyRetention(): Promise<void> {
    const run = this.retentionChain.then(() => this.trimToRetention());
    this.retentionChain = run.catch(() => {});
    return run;
  }

  private async trimToRetention(): Promise<void> {
    if (this.closedReason !== null) return;
    const cut = await this.retentionCut();
    if (cut <= this.firstOffset()) return;
    if (this.deps.writer !== null) await this.deps.writer.trim(cut);
    this.retainedFrom = Math.max(this.retainedFrom, cut);
    this.recent.trimBefore(cut);
  }

  private async writeBatches(): Promise<void> {
    while (this.pending.length > 0 && this.closedReason === null) {
      const batch = this.takeBatch();
      const now = Math.max(this.deps.clock.now(), this.lastPublishedAt);
      let offset = this.committedNext;
      const messages: TopicMessage[] = [];
      const offsetsPerPublish = batch.map((publish) =>
        publish.inputs.map((input) => {
          messages.push({
            offset,
            key: input.key,
            payload: input.payload,
            headers: input.headers,
            publishedAt: now,
          });
          return offset++;
        }),
      );
      const expiresAt = now + this.deps.idempotencyWindowMs;
      const idempotency = batch.flatMap((publish, i) =>
        idempotencyRecords("topic", this.name, publish.inputs, offsetsPerPublish[i] as number[], expiresAt),
      );
      try {
        if (this.deps.writer !== null) await this.deps.writer.append(messages, offset, idempotency);
      } catch (error) {
        for (const publish of batch) publish.reject(error);
        continue;
      }
      if (this.closedReason !== null) {
        batch.forEach((publish, i) => {
          publish.resolve(offsetsPerPublish[i] as number[]);
        });
        break;
      }
      this.committedNext = offset;
      this.lastPublishedAt = now;
      this.recent.append(messages);
      for (const listener of this.committedListeners) listener(messages);
      for (const record of idempotency) {
        this.idempotency.set(record.key, JSON.parse(record.result) as number, expiresAt);
      }
      batch.forEach((publish, i) => {
        publish.resolve(offsetsPerPublish[i] as number[]);
      });
      this.trimMemoryOnlyTopic();
    }
    this.writing = false;
  }

  private takeBatch(): PendingPublish[] {
    let count = 0;
    let taken = 0;
    while (taken < this.pending.length) {
      const size = (this.pending[taken] as PendingPublish).inputs.length;
      if (taken > 0 && count + size > this.deps.maxBatchMessages) break;
      count += size;
      taken += 1;
    }
    return this.pending.splice(0, taken);
  }

  /** A non-durable topic's count retention is its memory cap; age is handled by applyRetention. */
  private trimMemoryOnlyTopic(): void {
    if (this.definition.durable) return;
    const max = this.definition.retention.maxMessages;
    if (max !== null) this.recent.trimBefore(this.committedNext - max);
  }

  private async retentionCut(): Promise<number> {
    const { maxMessages, maxAgeMs } = this.definition.retention;
    let cut = this.firstOffset();
    if (maxMessages !== null) cut = Math.max(cut, this.committedNext - maxMessages);
    if (maxAgeMs !== null)
      cut = Math.max(cut, await this.firstOffsetYoungerThan(this.deps.clock.now() - maxAgeMs));
    const floor = await this.deps.retentionFloor?.();
    if (floor !== undefined) cut = Math.min(cut, floor);
    return cut;
  }

  private async firstOffsetYoungerThan(cutoff: number): Promise<number> {
    const oldestInMemory = this.recent.oldest();
    if (oldestInMemory !== undefined && oldestInMemory.offset <= this.firstOffset()) {
      return this.recent.firstPublishedAfter(cutoff) ?? this.committedNext;
    }
    let from = this.firstOffset();
    for (let page = 0; page < RETENTION_SCAN_PAGES && from < this.committedNext; page += 1) {
      const messages = await this.read(from, RETENTION_SCAN_PAGE);
      if (messages.length === 0) break;
      const young = messages.find((message) => message.publishedAt > cutoff);
      if (young !== undefined) return young.offset;
      from = (messages.at(-1) as TopicMessage).offset + 1;
    }
    // Everything scanned is older; trim what was scanned and continue next pass.
    return from;
  }

  private scheduleRetention(): void {
    if (this.closedReason !== null) return;
    this.retentionTimer = this.deps.clock.setTimer(this.deps.retentionIntervalMs, () => {
      this.applyRetention()
        .catch(() => {})
        .finally(() => this.scheduleRetention());
    });
  }
}
