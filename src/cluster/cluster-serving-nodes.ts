import type { ServedQueues, ServedTopics, ServingNodes } from "../app/serving-nodes.ts";
import type { TopicFeed } from "../broker/topic/topic-ports.ts";
import type { ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { Clock } from "../shared/clock.ts";
import type { Coordinator } from "./coordinator.ts";
import { followFrom } from "./follow-from.ts";
import type { Ownership } from "./ownership.ts";
import type { PeerClient } from "./peer/peer-client.ts";
import type { PeerEvent } from "./peer/peer-types.ts";
import type { PeerPool } from "./peer-pool.ts";
import { ResilientFeed } from "./resilient-feed.ts";

/** A call is retried on another route while ownership settles, up to this long (covers a session timeout). */
export interface RoutingOptions {
  routeTimeoutMs: number;
}

type Target = { local: true; servingNodes: ServingNodes } | { local: false; link: PeerClient };

const RETRY_DELAY_MS = 50;

/**
 * ServingNodes for a cluster node: each call goes to the node serving the resource — this
 * node (after taking the lease) or a peer over gRPC. While ownership moves
 * (a node died, joined or left), failures the error registry marks
 * `reroute` are retried: those that certainly took no effect (`retry: "always"`, e.g.
 * FENCED: "not the serving node") always, those that may have (`"if-idempotent"`,
 * e.g. a link that broke mid-call) only when repeating is harmless (acks,
 * reads, keyed publishes) — otherwise the client gets 503 and decides.
 */
export class ClusterServingNodes implements ServingNodes {
  /** Calls waiting to retry; woken early when membership changes (the new route may be ready at once). */
  private readonly membershipWaiters = new Set<() => void>();
  /** Set by close(): calls in flight give up instead of retrying against a node that is leaving. */
  private closing = false;
  readonly queues: ServedQueues;
  readonly topics: ServedTopics;

  constructor(
    /** The coordinator once the node has joined; throws NOT_READY before. */
    private readonly coordinatorNow: () => Coordinator,
    private readonly ownership: Ownership,
    /** This node's engines (`createLocalServingNodes`), reached only for resources it owns. */
    private readonly local: ServingNodes,
    private readonly peers: PeerPool,
    private readonly clock: Clock,
    private readonly options: RoutingOptions,
  ) {
    this.queues = {
      publish: (queue, inputs) =>
        this.call(
          "queue",
          queue,
          inputs.every((input) => input.idempotencyKey !== undefined),
          (target) => (target.local ? target.servingNodes.queues : target.link.queues).publish(queue, inputs),
        ),
      receive: (queue, request, signal) =>
        this.call("queue", queue, true, (target) =>
          (target.local ? target.servingNodes.queues : target.link.queues).receive(queue, request, signal),
        ),
      ack: (queue, receipts) =>
        this.call("queue", queue, true, (target) =>
          (target.local ? target.servingNodes.queues : target.link.queues).ack(queue, receipts),
        ),
      nack: (queue, receipts, delayMs) =>
        this.call("queue", queue, true, (target) =>
          (target.local ? target.servingNodes.queues : target.link.queues).nack(queue, receipts, delayMs),
        ),
      consume: (queue, sink, prefetch) =>
        this.call("queue", queue, true, (target) =>
          (target.local ? target.servingNodes.queues : target.link.queues).consume(queue, sink, prefetch),
        ),
      stats: (queue) =>
        this.call("queue", queue, true, (target) =>
          (target.local ? target.servingNodes.queues : target.link.queues).stats(queue),
        ),
    };
    this.topics = {
      publish: (topic, inputs) =>
        this.call(
          "topic",
          topic,
          inputs.every((input) => input.idempotencyKey !== undefined),
          (target) => (target.local ? target.servingNodes.topics : target.link.topics).publish(topic, inputs),
        ),
      head: (topic) =>
        this.call("topic", topic, true, (target) =>
          (target.local ? target.servingNodes.topics : target.link.topics).head(topic),
        ),
      feed: (topic) => ResilientFeed.start(topic, (fromOffset) => this.openFeed(topic, fromOffset)),
    };
  }

  /** The member list changed: retry waiting calls now rather than at the end of their backoff. */
  membershipChanged(): void {
    for (const wake of [...this.membershipWaiters]) wake();
  }

  /** What peers may ask of this node: only resources it owns (else FENCED, and the caller re-routes). */
  servedHere(): ServingNodes {
    const owned = async <T>(kind: ResourceKind, name: string, run: () => Promise<T>): Promise<T> => {
      await this.ownership.ensureOwned(kind, name);
      return run();
    };
    const { queues, topics } = this.local;
    return {
      queues: {
        publish: (queue, inputs) => owned("queue", queue, () => queues.publish(queue, inputs)),
        receive: (queue, request, signal) =>
          owned("queue", queue, () => queues.receive(queue, request, signal)),
        ack: (queue, receipts) => owned("queue", queue, () => queues.ack(queue, receipts)),
        nack: (queue, receipts, delayMs) =>
          owned("queue", queue, () => queues.nack(queue, receipts, delayMs)),
        consume: (queue, sink, prefetch) =>
          owned("queue", queue, () => queues.consume(queue, sink, prefetch)),
        stats: (queue) => owned("queue", queue, () => queues.stats(queue)),
      },
      topics: {
        publish: (topic, inputs) => owned("topic", topic, () => topics.publish(topic, inputs)),
        head: (topic) => owned("topic", topic, () => topics.head(topic)),
        feed: (topic) => owned("topic", topic, () => topics.feed(topic)),
      },
      release: (kind, name, reason) => this.local.release(kind, name, reason),
      bindingCreated: (topic, queue) => this.bindingChanged(topic, queue, true),
      bindingRemoved: (topic, queue) => this.bindingChanged(topic, queue, false),
      close: async () => {},
    };
  }

  /** A deleted resource: the node serving it (wherever it is) drops its engine and tells its subscribers. */
  release(kind: ResourceKind, name: string, reason: AvisoError): void {
    this.local.release(kind, name, reason);
    void this.broadcast({ type: "release", kind, name, reason });
  }

  bindingCreated(topic: string, queue: string): Promise<void> {
    return this.bindingChanged(topic, queue, true);
  }

  bindingRemoved(topic: string, queue: string): Promise<void> {
    return this.bindingChanged(topic, queue, false);
  }

  async close(reason: AvisoError): Promise<void> {
    this.closing = true;
    await this.ownership.close();
    await this.local.close(reason);
    this.peers.close();
  }

  broadcast(event: PeerEvent): Promise<void> {
    return this.peers.broadcast(this.coordinatorNow().members(), this.coordinatorNow().self.id, event);
  }

  /** The node serving the queue starts or stops copying; routed like any call. */
  private async bindingChanged(topic: string, queue: string, created: boolean): Promise<void> {
    await this.call("queue", queue, true, async (target) => {
      if (target.local) {
        if (created) await this.local.bindingCreated(topic, queue);
        else await this.local.bindingRemoved(topic, queue);
        return;
      }
      await target.link.notify({ type: created ? "bindingCreated" : "bindingRemoved", topic, queue });
    });
  }

  private async openFeed(topic: string, fromOffset: number | undefined): Promise<TopicFeed> {
    return this.call("topic", topic, true, async (target) => {
      if (!target.local) return target.link.topics.feed(topic, fromOffset);
      const engine = await target.servingNodes.topics.feed(topic);
      return fromOffset === undefined ? engine : followFrom(engine, fromOffset);
    });
  }

  private async target(kind: ResourceKind, name: string): Promise<Target> {
    const serving = this.coordinatorNow().servingNodeOf(kind, name);
    if (serving.id !== this.coordinatorNow().self.id) return { local: false, link: this.peers.get(serving) };
    await this.ownership.ensureOwned(kind, name);
    return { local: true, servingNodes: this.local };
  }

  private async call<T>(
    kind: ResourceKind,
    name: string,
    retryIfUnsure: boolean,
    run: (target: Target) => Promise<T>,
  ): Promise<T> {
    const deadline = this.clock.now() + this.options.routeTimeoutMs;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await run(await this.target(kind, name));
      } catch (thrown) {
        const error = AvisoError.from(thrown);
        // The registry says whether a new route may mend the failure and whether the call may have run.
        const retry =
          !this.closing &&
          error.reroutable &&
          (error.retry === "always" || (retryIfUnsure && error.retry === "if-idempotent"));
        if (!retry || this.clock.now() >= deadline) {
          // FENCED ("not the serving node") is the cluster's own word; clients hear that ownership is moving.
          throw error.reason === "FENCED"
            ? new AvisoError("OWNER_UNAVAILABLE", `The serving node of ${kind} "${name}" is changing; retry.`)
            : error;
        }
        await this.backoff(Math.min(1000, RETRY_DELAY_MS * 2 ** attempt));
      }
    }
  }

  private backoff(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        timer.cancel();
        this.membershipWaiters.delete(wake);
        resolve();
      };
      const timer = this.clock.setTimer(delayMs, wake);
      this.membershipWaiters.add(wake);
    });
  }
}
