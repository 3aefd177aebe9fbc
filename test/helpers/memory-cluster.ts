import type { ServingNodes } from "../../src/app/serving-nodes.ts";
import type { QueuePublishInput } from "../../src/broker/queue/queue-ports.ts";
import type { ResourceKind } from "../../src/broker/types.ts";
import { ClusterServingNodes } from "../../src/cluster/cluster-serving-nodes.ts";
import type { Coordinator, Member } from "../../src/cluster/coordinator.ts";
import { applyMembership } from "../../src/cluster/membership-change.ts";
import { MemoryEnsemble } from "../../src/cluster/memory/memory-coordinator.ts";
import { Ownership } from "../../src/cluster/ownership.ts";
import type { PeerClient } from "../../src/cluster/peer/peer-client.ts";
import { PeerPool } from "../../src/cluster/peer-pool.ts";
import { rendezvousServingNode } from "../../src/cluster/rendezvous.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import type { ManualClock } from "./manual-clock.ts";

/**
 * Nodes of a cluster in one process: the real routing (ClusterServingNodes) and
 * ownership (Ownership) on an in-memory coordinator ensemble, under a manual
 * clock. What stands in for the rest: each node's engines are a recorder
 * that, like EngineHost.mayOwn, refuses (FENCED) what the node holds no lease
 * for; the peer link calls the other node's serving owners directly and can
 * be told to fail; the group committer's flush is a gate the test opens.
 */

/** A failure of the next call over a link: the owner never got it, or it ran and the reply was lost. */
export type LinkFault = "unreachable" | "reply-lost";

/** What happened, in order, across the cluster. */
export type ClusterEvent =
  | { type: "ran"; node: string; op: string; name: string; at: number }
  | { type: "link"; from: string; to: string; op: string; at: number }
  | { type: "released"; node: string; kind: ResourceKind; name: string; reason: string }
  /** `holders`: who held which lease ("kind/name" → member id) when the flush began. */
  | { type: "flush"; node: string; holders: Record<string, string> };

export class TestNode {
  readonly coordinator: Coordinator;
  readonly ownership: Ownership;
  readonly servingNodes: ClusterServingNodes;
  /** Faults the next calls *to* this node meet on the link, first one first. */
  readonly linkFaults: LinkFault[] = [];
  /** Failures this node's engines answer the next calls with. */
  readonly engineFaults: AvisoError[] = [];
  /** The node's process is gone (kill -9): every call to it fails as unreachable. */
  dead = false;
  /** Set to hold flushes (and so handovers) until it resolves. */
  flushGate: Promise<void> = Promise.resolve();
  private published = 0;

  constructor(
    readonly id: string,
    private readonly cluster: MemoryCluster,
    acquireTimeoutMs: number,
    routeTimeoutMs: number,
  ) {
    const { clock, ensemble, events } = cluster;
    this.coordinator = ensemble.coordinator({ id, httpUrl: `http://${id}`, peerUrl: id });
    const coordinatorNow = () => this.coordinator;
    this.ownership = new Ownership(
      coordinatorNow,
      {
        release: (kind, name, reason) =>
          events.push({ type: "released", node: id, kind, name, reason: reason.reason }),
      },
      {
        flush: async () => {
          events.push({ type: "flush", node: id, holders: ensemble.holders() });
          await this.flushGate;
        },
      },
      clock,
      acquireTimeoutMs,
    );
    const peers = new PeerPool((member) => cluster.link(id, member));
    this.servingNodes = new ClusterServingNodes(
      coordinatorNow,
      this.ownership,
      this.engines(),
      peers,
      clock,
      {
        routeTimeoutMs,
      },
    );
    this.coordinator.onStatus((status) => {
      if (status.type !== "members") return;
      applyMembership(
        status.members,
        { peers, servingNodes: this.servingNodes, ownership: this.ownership },
        (error) => cluster.errors.push(error),
      );
    });
  }

  /** This node's engines: run only what the node holds the lease of, and record it. */
  private engines(): ServingNodes {
    const run = async <T>(op: string, kind: ResourceKind, name: string, result: () => T): Promise<T> => {
      if (!this.ownership.holds(kind, name))
        throw new AvisoError("FENCED", `${this.id} does not hold ${name}`);
      const fault = this.engineFaults.shift();
      if (fault !== undefined) throw fault;
      this.cluster.events.push({ type: "ran", node: this.id, op, name, at: this.cluster.clock.now() });
      return result();
    };
    const unmodelled = async (): Promise<never> => {
      throw new Error("not modelled by the memory cluster");
    };
    return {
      queues: {
        publish: (queue, inputs: QueuePublishInput[]) =>
          run("publish", "queue", queue, () => inputs.map(() => `${this.id}-${++this.published}`)),
        ack: (queue, receipts) => run("ack", "queue", queue, () => ({ acked: receipts.length, stale: [] })),
        receive: unmodelled,
        nack: unmodelled,
        consume: unmodelled,
        stats: unmodelled,
      },
      topics: { publish: unmodelled, head: unmodelled, feed: unmodelled },
      release: () => {},
      bindingCreated: unmodelled,
      bindingRemoved: unmodelled,
      close: async () => {},
    };
  }
}

/** The session timeout of the ensemble's members: how long each rides out a lost link. */
export const memorySessionTimeoutMs = 3_000;

export class MemoryCluster {
  readonly ensemble: MemoryEnsemble;
  readonly events: ClusterEvent[] = [];
  /** Failures of background handovers (there should be none). */
  readonly errors: unknown[] = [];
  private readonly nodes = new Map<string, TestNode>();

  constructor(
    readonly clock: ManualClock,
    private readonly timeouts = { acquireTimeoutMs: 10_000, routeTimeoutMs: 15_000 },
  ) {
    this.ensemble = new MemoryEnsemble(clock, memorySessionTimeoutMs);
  }

  /** Adds a node and starts its coordinator (it joins the ensemble). */
  async join(id: string): Promise<TestNode> {
    const node = new TestNode(id, this, this.timeouts.acquireTimeoutMs, this.timeouts.routeTimeoutMs);
    this.nodes.set(id, node);
    await node.coordinator.start();
    return node;
  }

  node(id: string): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** kill -9 of a node: its link to the ensemble drops for good and its peer port refuses every call. */
  kill(id: string): void {
    this.node(id).dead = true;
    this.ensemble.disconnect(id);
  }

  /** A queue name that rendezvous hashing gives to `owner` among `members`. */
  static queueOwnedBy(owner: string, members: readonly string[]): string {
    for (let index = 0; index < 1000; index++) {
      const name = `q${index}`;
      if (
        rendezvousServingNode(
          members.map((id) => ({ id })),
          "queue",
          name,
        )?.id === owner
      )
        return name;
    }
    throw new Error(`no queue owned by ${owner}`);
  }

  ran(op?: string): Array<Extract<ClusterEvent, { type: "ran" }>> {
    return this.events.flatMap((event) =>
      event.type === "ran" && (op === undefined || event.op === op) ? [event] : [],
    );
  }

  /** The link from node `from` to `member`: calls its serving owners, meeting the faults queued on it. */
  link(from: string, member: Member): PeerClient {
    const serving = () => this.node(member.id).servingNodes.servedHere();
    const call = async <T>(op: string, run: () => Promise<T>): Promise<T> => {
      this.events.push({ type: "link", from, to: member.id, op, at: this.clock.now() });
      const fault = this.node(member.id).dead ? "unreachable" : this.node(member.id).linkFaults.shift();
      if (fault === "unreachable") throw new AvisoError("OWNER_UNAVAILABLE", `${member.id} unreachable`);
      const result = await run();
      if (fault === "reply-lost") throw new AvisoError("OWNER_UNAVAILABLE", `link to ${member.id} broke`);
      return result;
    };
    const unmodelled = async (): Promise<never> => {
      throw new Error("not modelled by the memory cluster");
    };
    return {
      peerUrl: member.peerUrl,
      queues: {
        publish: (queue, inputs) => call("publish", () => serving().queues.publish(queue, inputs)),
        ack: (queue, receipts) => call("ack", () => serving().queues.ack(queue, receipts)),
        receive: unmodelled,
        nack: unmodelled,
        consume: unmodelled,
        stats: unmodelled,
      },
      topics: { publish: unmodelled, head: unmodelled, feed: unmodelled },
      notify: unmodelled,
      close: () => {},
    };
  }
}

/** One message to publish, with an idempotency key or without. */
export function message(body: string, idempotencyKey?: string): QueuePublishInput[] {
  const input: QueuePublishInput = { payload: JSON.stringify(body), headers: null, delayMs: 0 };
  return [idempotencyKey === undefined ? input : { ...input, idempotencyKey }];
}
