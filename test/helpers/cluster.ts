import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChildNode, spawnNode } from "./aviso-node.ts";
import { startZooKeeper, type ZooKeeperEnsemble } from "./zookeeper.ts";

export interface ClusterOptions {
  nodes: number;
  /** A `mysql://` URL of an empty database (see createTestDatabase). */
  store: string;
  zkSessionTimeoutMs?: number;
  /** Extra AVISO_* settings for every node. */
  env?: Record<string, string>;
  /** Use this ZooKeeper instead of starting one (the caller stops it). */
  zooKeeper?: ZooKeeperEnsemble;
}

export interface TestCluster {
  readonly zooKeeper: ZooKeeperEnsemble;
  readonly store: string;
  /** Live node processes by index (undefined once killed or stopped). */
  readonly nodes: Array<ChildNode | undefined>;
  node(index: number): ChildNode;
  /** Starts node `index` (again) with its own data dir and node id. */
  start(index: number): Promise<ChildNode>;
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Any live node's URL, for clients that do not care which. */
  anyUrl(): string;
  stop(): Promise<void>;
}

/**
 * A real cluster for tests: one ZooKeeper, a shared MariaDB database, and N
 * nodes as child processes (`npm start`'s entry) with their own ports, data
 * dirs and node ids, so they can be killed with any signal.
 */
export async function startCluster(options: ClusterOptions): Promise<TestCluster> {
  const zooKeeper = options.zooKeeper ?? (await startZooKeeper());
  const ownZooKeeper = options.zooKeeper === undefined;
  const baseDir = await mkdtemp(join(tmpdir(), "aviso-cluster-"));
  const chroot = `/aviso-${randomBytes(4).toString("hex")}`;
  const shared: Record<string, string> = {
    AVISO_ZK: `${zooKeeper.connectString}${chroot}`,
    AVISO_ZK_SESSION_TIMEOUT_MS: String(options.zkSessionTimeoutMs ?? 2000),
    AVISO_CLUSTER_SECRET: randomBytes(24).toString("hex"),
    AVISO_TOKEN_SECRET: randomBytes(24).toString("hex"),
    AVISO_SHUTDOWN_TIMEOUT_MS: "5000",
    ...options.env,
  };
  const nodes: Array<ChildNode | undefined> = Array.from({ length: options.nodes }, () => undefined);

  async function start(index: number): Promise<ChildNode> {
    const node = await spawnNode({
      dataDir: join(baseDir, `node-${index}`),
      store: options.store,
      env: { ...shared, AVISO_NODE_ID: `node-${index}` },
    });
    nodes[index] = node;
    return node;
  }

  try {
    await Promise.all(nodes.map((_, index) => start(index)));
  } catch (error) {
    await Promise.all(nodes.map((node) => node?.kill("SIGKILL")));
    if (ownZooKeeper) await zooKeeper.stopAll();
    throw error;
  }

  return {
    zooKeeper,
    store: options.store,
    nodes,
    node(index) {
      const node = nodes[index];
      if (node === undefined) throw new Error(`node ${index} is not running`);
      return node;
    },
    start,
    async kill(index, signal = "SIGKILL") {
      const node = nodes[index];
      nodes[index] = undefined;
      await node?.kill(signal);
    },
    anyUrl() {
      const live = nodes.find((node) => node !== undefined);
      if (live === undefined) throw new Error("no node is running");
      return live.url;
    },
    async stop() {
      await Promise.all(nodes.map((node) => node?.kill("SIGTERM")));
      if (ownZooKeeper) await zooKeeper.stopAll();
      await rm(baseDir, { recursive: true, force: true });
    },
  };
}
