/**
 * The node's own view of a window, from its Prometheus /metrics before and
 * after: how many store transactions it committed, how big and how long they
 * were. This is what explains a throughput number (few big commits = batching
 * works; many small ones = it does not).
 */

/** Sums of every series of each metric name (labels folded together). */
export type MetricSums = Map<string, number>;

export async function scrapeMetrics(baseUrl: string): Promise<MetricSums> {
  const response = await fetch(`${baseUrl}/metrics`);
  const text = await response.text();
  const sums: MetricSums = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const value = Number(match[2]);
    if (!Number.isFinite(value)) continue;
    const name = match[1] as string;
    sums.set(name, (sums.get(name) ?? 0) + value);
  }
  return sums;
}

export interface CommitStats {
  commitsPerSec: number;
  avgCommitMs: number;
  avgOpsPerCommit: number;
  avgRowsPerCommit: number;
}

export function commitStats(before: MetricSums, after: MetricSums, seconds: number): CommitStats {
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const commits = delta("aviso_store_commit_seconds_count");
  return {
    commitsPerSec: commits / seconds,
    avgCommitMs: commits === 0 ? 0 : (delta("aviso_store_commit_seconds_sum") / commits) * 1000,
    avgOpsPerCommit: commits === 0 ? 0 : delta("aviso_store_batch_ops_sum") / commits,
    avgRowsPerCommit: commits === 0 ? 0 : delta("aviso_store_batch_messages_sum") / commits,
  };
}
