import { QueueEngine } from "../broker/queue/queue-engine.ts";
import { QueueMemory } from "../broker/queue/queue-memory.ts";
import type { DeadLetterCause } from "../broker/queue/queue-ports.ts";
import { StoredBytes } from "../broker/queue/stored-bytes.ts";
import { TopicEngine } from "../broker/topic/topic-engine.ts";
import type { Binding, QueueDefinition, QueueMessage, ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { Clock } from "../shared/clock.ts";
import type { GroupCommitter } from "../store/group-commit.ts";
import type { Store } from "../store/store.ts";
import { BindingPump } from "./binding-pump.ts";
import { deadLetterInput, deadLetterState } from "./dead-letter.ts";
import { createQueueWriter, createTopicWriter } from "./engine-writers.ts";
import type { ServingNodes } from "./serving-nodes.ts";

export interface EngineSettings {
  idempotencyWindowMs: number;
  maxBatchMessages: number;
  /** Recent topic messages kept in memory per topic. */
  topicMemoryMessages: number;
  /** Bytes of those messages kept at most per topic. */
  topicMemoryBytes: number;
  retentionIntervalMs: number;
  /** Bytes of un-acked queue messages one publisher may hold on this node; absent: no bound. */
  maxStoredBytesPerUser?: number;
  /** The node's budget for queue messages in memory (deliveryBytes); past it queues page. Absent: no bound. */
  queueMemoryBytes?: number;
  /** What every queue may hold in memory whatever the others hold. Absent: 0. */
  queueMemoryFloorBytes?: number;
}

export interface EngineHostDeps {
  store: Store;
  committer: GroupCommitter;
  clock: Clock;
  settings: EngineSettings;
  /** Where dead letters and durable-subscription feeds go; in a cluster these may be other nodes. */
  servingNodes(): ServingNodes;
  /** Told when a background job fails (logs). */
  onBackgroundError(what: string, error: unknown): void;
  onDropped?(queue: string, count: number, cause: DeadLetterCause): void;
  /**
   * Told about dead letters dropped because the dead-letter queue is gone (or
   * another queue took its name: "missing") or its source queue's creator may
   * no longer publish there ("denied") (metrics, logs).
   */
  onDeadLettersLost?(queue: string, count: number, why: "missing" | "denied"): void;
  /** Told when the store refused a write of ours because another node claimed the resource (logs). */
  onFenced?(kind: ResourceKind, name: string, epoch: number): void;
  /**
   * Whether this node may load (and so claim) a resource now, and whether a
   * loaded queue may deliver; a cluster node only while it holds the lease
   * and can still trust it by its clock. Standalone nodes serve everything.
   */
  mayOwn?(kind: ResourceKind, name: string): boolean;
  /** Whether a binding copying here may publish its next batch (BindingWatch.mayCopy); absent: always. */
  mayCopy?(pump: BindingPump): Promise<boolean>;
}

/**
 * Hosts the engines of the queues and topics this node serves. An engine is
 * loaded on first use: claim a new epoch in the store (fencing any earlier
 * serving node), read the un-acked state, restore, start durable-subscription copies.
 */
export class EngineHost {
  private readonly queues = new Map<string, Promise<QueueEngine>>();
  private readonly topics = new Map<string, Promise<TopicEngine>>();
  private readonly loadedQueues = new Map<string, QueueEngine>();
  /** Epoch of each loaded engine ("queue/name"): tells a failure of the current engine from a late one of a dropped engine. */
  private readonly loadedEpochs = new Map<string, number>();
  /** The last claim epoch whose fenced write was logged, per resource. */
  private readonly fencedEpochs = new Map<string, number>();
  private readonly pumps = new Map<string, BindingPump[]>();
  private closed: AvisoError | null = null;
  /** One ledger for every queue this node serves: the quota is per user and node, not per queue. */
  private readonly storedBytes: StoredBytes | undefined;
  /** One memory budget for every queue this node serves; past its share a queue pages its tail. */
  readonly queueMemory: QueueMemory;

  constructor(private readonly deps: EngineHostDeps) {
    const { maxStoredBytesPerUser: limit, queueMemoryBytes, queueMemoryFloorBytes } = deps.settings;
    this.storedBytes = limit === undefined ? undefined : new StoredBytes(limit);
    this.queueMemory = new QueueMemory(
      queueMemoryBytes ?? Number.POSITIVE_INFINITY,
      queueMemoryFloorBytes ?? 0,
    );
  }

  queue(name: string): Promise<QueueEngine> {
    return this.load(this.queues, name, () => this.loadQueue(name), "queue");
  }

  topic(name: string): Promise<TopicEngine> {
    return this.load(this.topics, name, () => this.loadTopic(name), "topic");
  }

  /** The engine if it is loaded here; never loads. */
  loadedQueue(name: string): QueueEngine | undefined {
    return this.loadedQueues.get(name);
  }

  get queueEngines(): IterableIterator<QueueEngine> {
    return this.loadedQueues.values();
  }

  /** The durable subscriptions copying on this node now (their queues are served here). */
  get copying(): BindingPump[] {
    return [...this.pumps.values()].flat().filter((pump) => !pump.stopped);
  }

  /** Topics served here (loaded or loading). */
  get topicNames(): string[] {
    return [...this.topics.keys()];
  }

  /** Stops serving a resource (deleted, or ownership moved); waiters and subscribers are told `reason`. */
  release(kind: ResourceKind, name: string, reason: AvisoError): void {
    const map = kind === "queue" ? this.queues : this.topics;
    const loading = map.get(name);
    if (loading === undefined) return;
    map.delete(name);
    this.loadedEpochs.delete(`${kind}/${name}`);
    if (kind === "queue") {
      this.loadedQueues.delete(name);
      for (const pump of this.pumps.get(name) ?? []) pump.stop();
      this.pumps.delete(name);
    }
    loading.then((engine) => engine.close(reason)).catch(() => {});
  }

  /**
   * A binding was created for a queue this node serves: start copying. Only an
   * active binding made for this very queue (by id) copies; a pump that ended
   * (its topic was deleted) gives way to a new binding of the same names.
   */
  async startBinding(topic: string, queue: string): Promise<void> {
    const engine = await this.queue(queue);
    const bindings = await this.deps.store.listBindings({ topic, queue });
    const pumps = (this.pumps.get(queue) ?? []).filter((pump) => !pump.stopped);
    for (const binding of bindings) {
      if (!isBindingOf(binding, engine.definition)) continue;
      if (pumps.some((pump) => pump.topic === binding.topic)) continue;
      const pump: BindingPump = new BindingPump(
        binding,
        engine,
        this.deps.servingNodes().topics,
        this.deps.clock,
        (error) => this.deps.onBackgroundError(`durable subscription ${topic} -> ${queue}`, error),
        () => this.stillBound(binding, engine.definition),
        () => this.deps.mayCopy?.(pump) ?? Promise.resolve(true),
      );
      pumps.push(pump);
      pump.start();
    }
    this.pumps.set(queue, pumps);
  }

  /** Whether the store still has this binding active, for this queue and the topic it was made on. */
  private async stillBound(binding: Binding, queue: QueueDefinition): Promise<boolean> {
    const [current] = await this.deps.store.listBindings({ topic: binding.topic, queue: binding.queue });
    return current !== undefined && isBindingOf(current, queue) && current.topicId === binding.topicId;
  }

  stopBinding(topic: string, queue: string): void {
    const pumps = this.pumps.get(queue) ?? [];
    for (const pump of pumps) if (pump.topic === topic) pump.stop();
    this.pumps.set(
      queue,
      pumps.filter((pump) => pump.topic !== topic),
    );
  }

  /** A write failed: the engine's memory may not match the store any more, so drop it; the next use reloads. */
  private writeFailed(kind: ResourceKind, name: string, epoch: number, error: AvisoError): void {
    const key = `${kind}/${name}`;
    // Every refused stale write is worth an operator's eye, once per claim (a batch fails many writes).
    if (error.reason === "FENCED" && this.fencedEpochs.get(key) !== epoch) {
      this.fencedEpochs.set(key, epoch);
      this.deps.onFenced?.(kind, name, epoch);
    }
    // Later failures of an engine already dropped (its batch was in flight) must not drop its successor.
    if (this.loadedEpochs.get(key) !== epoch) return;
    this.release(kind, name, releaseReason(kind, name, error));
  }

  close(reason: AvisoError): void {
    this.closed = reason;
    for (const name of [...this.queues.keys()]) this.release("queue", name, reason);
    for (const name of [...this.topics.keys()]) this.release("topic", name, reason);
  }

  private load<T>(
    map: Map<string, Promise<T>>,
    name: string,
    create: () => Promise<T>,
    kind: ResourceKind,
  ): Promise<T> {
    if (this.closed !== null) return Promise.reject(this.closed);
    let loading = map.get(name);
    if (loading === undefined) {
      if (this.deps.mayOwn !== undefined && !this.deps.mayOwn(kind, name)) {
        return Promise.reject(
          new AvisoError(
            "FENCED",
            `This node does not hold ${kind} "${name}"; retry on the node serving it.`,
          ),
        );
      }
      loading = create();
      map.set(name, loading);
      loading.catch(() => {
        if (map.get(name) === loading) map.delete(name);
      });
    }
    return loading;
  }

  private async loadQueue(name: string): Promise<QueueEngine> {
    const { store, committer, clock, settings } = this.deps;
    const definition = await store.getQueue(name);
    const claim = await store.claim("queue", name);
    const head = await store.queueHead(name);
    if (definition === undefined || claim === undefined || head === undefined) {
      throw new AvisoError("QUEUE_NOT_FOUND", `No queue is named "${name}".`);
    }
    // Counted after the claim: the store fences any earlier serving node's writes, so nothing changes it meanwhile.
    const stored = await store.countQueueMessages(name);
    const idempotency = await store.loadIdempotency("queue", name, clock.now());
    const engine = new QueueEngine(definition, head, {
      clock,
      epoch: claim.epoch,
      idempotencyWindowMs: settings.idempotencyWindowMs,
      writer: createQueueWriter(committer, name, claim.epoch, (error) =>
        this.writeFailed("queue", name, claim.epoch, error),
      ),
      deadLetter: (dead, cause) => this.deadLetter(definition, dead, cause),
      onDropped: (count, cause) => this.deps.onDropped?.(name, count, cause),
      ...(this.storedBytes === undefined ? {} : { storedBytes: this.storedBytes }),
      memory: this.queueMemory,
      // Reads only; a stale serving node's reads change nothing and its writes are fenced.
      reader: { read: (afterSeq, limit) => store.readQueueMessages(name, afterSeq, limit) },
      // Asked before each delivery pass: a lease that can no longer be trusted delivers nothing.
      ...(this.deps.mayOwn === undefined
        ? {}
        : { mayDeliver: () => this.deps.mayOwn?.("queue", name) !== false }),
    });
    // Only the queue's share of memory is read now; the rest stays paged until it is reached.
    await engine.restoreFromStore(stored, idempotency);
    this.loadedQueues.set(name, engine);
    this.loadedEpochs.set(`queue/${name}`, claim.epoch);
    void this.startPumpsFor(name);
    return engine;
  }

  private async startPumpsFor(queue: string): Promise<void> {
    try {
      const bindings = await this.deps.store.listBindings({ queue });
      for (const binding of bindings) await this.startBinding(binding.topic, queue);
    } catch (error) {
      this.deps.onBackgroundError(`durable subscriptions of ${queue}`, error);
    }
  }

  private async loadTopic(name: string): Promise<TopicEngine> {
    const { store, committer, clock, settings } = this.deps;
    const definition = await store.getTopic(name);
    const claim = await store.claim("topic", name);
    const head = await store.topicHead(name);
    if (definition === undefined || claim === undefined || head === undefined) {
      throw new AvisoError("TOPIC_NOT_FOUND", `No topic is named "${name}".`);
    }
    const durable = definition.durable;
    const engine = new TopicEngine(definition, head, {
      clock,
      writer: durable
        ? createTopicWriter(committer, name, claim.epoch, (error) =>
            this.writeFailed("topic", name, claim.epoch, error),
          )
        : null,
      reader: durable ? { read: (from, limit) => store.readTopic(name, from, limit) } : null,
      idempotencyWindowMs: settings.idempotencyWindowMs,
      memoryMessages: settings.topicMemoryMessages,
      memoryBytes: settings.topicMemoryBytes,
      maxBatchMessages: settings.maxBatchMessages,
      retentionIntervalMs: settings.retentionIntervalMs,
      // Only this topic's active bindings hold retention; an ended one (or one of an earlier topic of this name) does not.
      retentionFloor: async () => {
        const bindings = (await store.listBindings({ topic: name })).filter(
          (binding) => binding.state === "active" && binding.topicId === definition.id,
        );
        if (bindings.length === 0) return undefined;
        return Math.min(...bindings.map((binding) => binding.nextOffset));
      },
    });
    engine.restoreIdempotency(await store.loadIdempotency("topic", name, clock.now()));
    this.loadedEpochs.set(`topic/${name}`, claim.epoch);
    return engine;
  }

  /**
   * Moves dead letters to the dead-letter queue the source was defined with,
   * found by id, if the source's creator may still publish there; otherwise
   * they are dropped and reported (docs/security.md S3, S4).
   */
  private async deadLetter(
    source: QueueDefinition,
    messages: QueueMessage[],
    cause: DeadLetterCause,
  ): Promise<void> {
    const { name: queue, deadLetterQueue } = source;
    if (deadLetterQueue === null) return;
    const { store } = this.deps;
    const [target, grants] = await Promise.all([
      store.getQueue(deadLetterQueue),
      store.listGrants("queue", deadLetterQueue),
    ]);
    const state = deadLetterState(source, target === undefined ? undefined : { definition: target, grants });
    if (state !== "ok") {
      this.deps.onDeadLettersLost?.(queue, messages.length, state);
      return;
    }
    const queues = this.deps.servingNodes().queues;
    await Promise.all(
      messages.map((message) =>
        queues
          .publish(deadLetterQueue, [
            {
              ...deadLetterInput(message, queue, cause),
              // Contains ":", which a client's key never does once scoped (publisherIdempotency). By the
              // source's id: a queue re-created under its name numbers from 1 again, and its dead letters
              // must not be taken for repeats of the old queue's (S4).
              idempotencyKey: `dead-letter:${source.id}:${message.seq}`,
            },
          ])
          .catch((error: unknown) => {
            // A dead-letter queue deleted since the check above drops the message, as RabbitMQ does.
            if (error instanceof AvisoError && error.reason === "QUEUE_NOT_FOUND") {
              this.deps.onDeadLettersLost?.(queue, 1, "missing");
              return;
            }
            throw error;
          }),
      ),
    );
  }
}

/** A binding that copies into this queue: active, and made for this queue rather than an earlier one of its name. */
function isBindingOf(binding: Binding, queue: QueueDefinition): boolean {
  return binding.state === "active" && binding.queueId === queue.id;
}

/** Why an engine was dropped after a failed write, as its consumers and waiters are told. */
function releaseReason(kind: ResourceKind, name: string, error: AvisoError): AvisoError {
  if (error.reason === "QUEUE_NOT_FOUND" || error.reason === "TOPIC_NOT_FOUND") return error;
  if (error.reason === "FENCED")
    return new AvisoError("OWNER_UNAVAILABLE", `Ownership of ${kind} "${name}" moved; retry.`);
  return new AvisoError("STORE_UNAVAILABLE", `The store failed while writing ${kind} "${name}"; retry.`, {
    cause: error,
  });
}
