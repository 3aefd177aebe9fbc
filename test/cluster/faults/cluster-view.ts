import { randomBytes } from "node:crypto";
import { rendezvousServingNode } from "../../../src/cluster/rendezvous.ts";
import type { TestCluster } from "../../helpers/cluster.ts";
import { waitUntil } from "./timing.ts";
import type { WorkloadPlan } from "./workload.ts";

/** What GET /v1/cluster says about one node. */
export interface ClusterView {
  self: { id: string };
  members: Array<{ id: string }>;
  owned: { queues: string[]; topics: string[] };
}

export const nodeId = (index: number) => `node-${index}`;

/** URLs of the node processes running now (a paused one included: clients cannot tell). */
export function liveUrls(cluster: TestCluster): () => string[] {
  return () => cluster.nodes.flatMap((node) => (node === undefined ? [] : [node.url]));
}

export async function clusterView(url: string, token: string, timeoutMs = 3000): Promise<ClusterView> {
  const response = await fetch(`${url}/v1/cluster`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status !== 200) throw new Error(`GET /v1/cluster answered ${response.status}`);
  return (await response.json()) as ClusterView;
}

/** What GET /v1/queues/{name}/lookup on `url` says serves the queue. */
export async function lookupQueue(
  url: string,
  token: string,
  queue: string,
): Promise<{ node: string; httpUrl: string }> {
  const response = await fetch(`${url}/v1/queues/${queue}/lookup`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(3000),
  });
  if (response.status !== 200) throw new Error(`GET /v1/queues/${queue}/lookup answered ${response.status}`);
  return (await response.json()) as { node: string; httpUrl: string };
}

/** Waits until node `index` is ready and sees exactly `members` (ids) as the cluster. */
export async function waitMembers(
  cluster: TestCluster,
  index: number,
  token: string,
  members: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  const url = cluster.node(index).url;
  const want = [...members].sort().join(",");
  await waitUntil(
    `${nodeId(index)} to be ready with members ${want}`,
    async () => {
      const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (ready.status !== 200) return false;
      const view = await clusterView(url, token);
      return (
        view.members
          .map((member) => member.id)
          .sort()
          .join(",") === want
      );
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/** Waits until node `index` holds the leases of the given resources (it takes them on first use). */
export async function waitOwned(
  cluster: TestCluster,
  index: number,
  token: string,
  resources: { queues: readonly string[]; topics: readonly string[] },
  timeoutMs = 30_000,
): Promise<ClusterView["owned"]> {
  return waitUntil(
    `${nodeId(index)} to own ${[...resources.queues, ...resources.topics].join(", ")}`,
    async () => {
      const { owned } = await clusterView(cluster.node(index).url, token);
      const holds =
        resources.queues.every((queue) => owned.queues.includes(queue)) &&
        resources.topics.every((topic) => owned.topics.includes(topic));
      return holds ? owned : false;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

export interface PlanOwners {
  /** Member ids of the cluster the plan is for. */
  members: readonly string[];
  /** Owner (member id) of each work queue, one queue per entry. */
  queues: readonly string[];
  orderQueue: string;
  topics: readonly string[];
  /** With one more member (a node that joins), these must move to it. */
  joiner?: { id: string; takes: Array<"orderQueue" | "topic0"> };
}

/**
 * Resource names whose rendezvous owners are the ones asked for, so every
 * run spreads its resources over the nodes the same way (ownership is a pure
 * function of the member ids and the name).
 */
export function planResources(servingNodes: PlanOwners): WorkloadPlan {
  const run = randomBytes(3).toString("hex");
  const members = servingNodes.members.map((id) => ({ id }));
  const joined = servingNodes.joiner === undefined ? members : [...members, { id: servingNodes.joiner.id }];
  let counter = 0;
  const pick = (prefix: string, kind: "queue" | "topic", owner: string, movesToJoiner: boolean) => {
    for (;;) {
      const name = `${prefix}-${run}-${counter++}`;
      if (rendezvousServingNode(members, kind, name)?.id !== owner) continue;
      const ownerAfterJoin = rendezvousServingNode(joined, kind, name)?.id;
      if (movesToJoiner !== (ownerAfterJoin !== owner)) continue;
      return name;
    }
  };
  const takes = servingNodes.joiner?.takes ?? [];
  return {
    queues: servingNodes.queues.map((owner) => pick("fq", "queue", owner, false)),
    orderQueue: pick("fo", "queue", servingNodes.orderQueue, takes.includes("orderQueue")),
    topics: servingNodes.topics.map((owner, index) =>
      pick("ft", "topic", owner, index === 0 && takes.includes("topic0")),
    ),
  };
}

/** A fresh queue name whose rendezvous owner among `memberIds` is `owner`. */
export function queueOwnedBy(memberIds: readonly string[], owner: string, prefix: string): string {
  const members = memberIds.map((id) => ({ id }));
  const run = randomBytes(3).toString("hex");
  for (let attempt = 0; ; attempt += 1) {
    const name = `${prefix}-${run}-${attempt}`;
    if (rendezvousServingNode(members, "queue", name)?.id === owner) return name;
  }
}
