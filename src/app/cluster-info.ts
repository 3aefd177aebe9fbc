/** What a node tells operators about its cluster (GET /v1/cluster); built by the cluster runtime or, alone, by node.ts. */
export interface ClusterInfo {
  mode: "standalone" | "cluster";
  self: { id: string; httpUrl: string; peerUrl: string };
  members(): Array<{ id: string; httpUrl: string; peerUrl: string }>;
  owned(): { queues: string[]; topics: string[] };
}
