/**
 * A 3-node MariaDB Galera cluster on loopback for tests of Aviso on a
 * synchronous multi-primary store. Every node is a launchMariadb server (own
 * temp data directory, free client port, state file, so the stop / kill /
 * start helpers of mariadb.ts work on it) with the wsrep options below: its
 * own group-communication port, IST port and rsync SST port. The first node
 * bootstraps the cluster (`--wsrep-new-cluster`, dropped from its state file
 * once it runs, so a restart rejoins instead of splitting off); the others
 * join it one at a time by rsync SST.
 *
 * Failure detection is tuned (see galeraDetectionOptions): a node that
 * stops answering is evicted in about 2 s instead of Galera's default 5–15 s.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import mysql, { type Connection, type RowDataPacket } from "mysql2/promise";
import {
  destroyMariadb,
  freePort,
  isRunning,
  launchMariadb,
  type MariadbState,
  readState,
  startMariadb,
  stopMariadb,
  writeState,
} from "./mariadb.ts";

const run = promisify(execFile);
const galeraLibrary = "/usr/lib/galera/libgalera_smm.so";
const adminUser = "aviso_admin";
const syncTimeoutMs = 90_000;

/**
 * Galera failure detection (gcomm/EVS), tuned for a fast eviction: a peer
 * silent for evs.suspect_timeout is suspected, and once every live member
 * suspects it, the rest install a new view without it. The install round
 * must finish within evs.install_timeout, and evs.inactive_timeout is the
 * hard limit (declared dead even without consensus). Keepalives and the
 * inactivity check run 5× per suspect period. Defaults: keepalive PT1S,
 * check PT0.5S, suspect PT5S, inactive PT15S.
 * Measured (bench/galera-detection.ts, 2-core machine at load 15): a kill -9
 * is evicted after 2.1–3.1 s. With inactive and install at PT2S (or the
 * install timeout left to its default, which followed inactive down) the
 * install round timed out under that load, the survivors split into
 * non-primary singletons and took ~30 s to re-form a primary component:
 * keep them generous; only suspect_timeout sets the detection time.
 */
export const galeraDetectionOptions: Readonly<Record<string, string>> = {
  "evs.keepalive_period": "PT0.2S",
  "evs.inactive_check_period": "PT0.2S",
  "evs.suspect_timeout": "PT1S",
  "evs.inactive_timeout": "PT4S",
  "evs.install_timeout": "PT4S",
};

export interface GaleraNode {
  readonly index: number;
  /** The node's client port (SQL). */
  readonly port: number;
  /** Group communication (gcomm) port. */
  readonly wsrepPort: number;
  readonly stateFile: string;
}

export interface GaleraCluster {
  readonly nodes: readonly GaleraNode[];
  /** `mysql://aviso:<pw>@127.0.0.1:<p0>,127.0.0.1:<p1>,127.0.0.1:<p2>` — append `/<database>`. */
  readonly urlBase: string;
  /** The same, for one node only. */
  nodeUrlBase(index: number): string;
  /** An admin connection to one node (the caller ends it). */
  admin(index: number): Promise<Connection>;
  /** kill -9 of a node; resolves once it is gone. */
  kill(index: number): Promise<void>;
  /** SIGSTOP / SIGCONT: the node freezes with its sockets open, as a hung machine would. */
  pause(index: number): Promise<void>;
  resume(index: number): Promise<void>;
  /** Starts a stopped node again (it rejoins by IST, or SST when it must) and waits until it is synced. */
  start(index: number): Promise<void>;
  /** Resolves once `index` is Synced in a primary component of `size` nodes. */
  waitSynced(index: number, size: number, timeoutMs?: number): Promise<void>;
  /** Stops every node and deletes their data. */
  destroy(): Promise<void>;
}

/**
 * The rsync SST receiver is an rsync daemon the joining node spawns; started
 * by root (as the harness runs mariadbd) it drops to `nobody`, so the data
 * directory must be nobody's to receive a state transfer. mariadbd, as root,
 * still reads and writes everything in it.
 */
async function handToSstReceiver(dataDir: string): Promise<void> {
  if (process.getuid?.() === 0) await run("chown", ["-R", "nobody:nogroup", dataDir]);
}

interface NodePorts {
  wsrep: number;
  ist: number;
  sst: number;
}

function wsrepArgs(index: number, own: NodePorts, all: readonly NodePorts[]): string[] {
  const provider = {
    "gmcast.listen_addr": `tcp://127.0.0.1:${own.wsrep}`,
    "ist.recv_addr": `127.0.0.1:${own.ist}`,
    // A small cache: the tests' clusters live for minutes.
    "gcache.size": "32M",
    ...galeraDetectionOptions,
  };
  return [
    "--wsrep-on=ON",
    `--wsrep-provider=${galeraLibrary}`,
    `--wsrep-cluster-address=gcomm://${all.map((p) => `127.0.0.1:${p.wsrep}`).join(",")}`,
    "--wsrep-cluster-name=aviso-test",
    `--wsrep-node-name=galera-${index}`,
    `--wsrep-node-address=127.0.0.1:${own.wsrep}`,
    `--wsrep-node-incoming-address=127.0.0.1`,
    "--wsrep-sst-method=rsync",
    `--wsrep-sst-receive-address=127.0.0.1:${own.sst}`,
    `--wsrep-provider-options=${Object.entries(provider)
      .map(([key, value]) => `${key}=${value}`)
      .join(";")}`,
    "--wsrep-slave-threads=2",
    // Galera's requirements: row events, InnoDB, interleaved auto-increment locks.
    "--binlog-format=ROW",
    "--default-storage-engine=InnoDB",
    "--innodb-autoinc-lock-mode=2",
    // Smaller files to copy by SST: the tests' data is small.
    "--innodb-log-file-size=16M",
  ];
}

/** Galera's library and rsync (for SST), installed from Debian's packages when missing and we are root. */
async function ensureGaleraInstalled(): Promise<void> {
  const missing = () => !existsSync(galeraLibrary) || !existsSync("/usr/bin/rsync");
  if (!missing()) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Galera tests need ${galeraLibrary} and rsync. Install them with \`apt-get install -y galera-4 rsync\` and run the tests again.`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["install", "-y", "galera-4", "rsync"], { env, maxBuffer: 64 * 1024 * 1024 });
  if (missing()) throw new Error("apt-get installed galera-4 and rsync but they are still missing");
}

/**
 * Starts three nodes: the first bootstraps, the others join by SST one at a
 * time. `password` is the app account's (`aviso`, default random).
 */
export async function startGalera(options: { password?: string } = {}): Promise<GaleraCluster> {
  await ensureGaleraInstalled();
  const password = options.password ?? randomBytes(12).toString("hex");
  const ports: NodePorts[] = [];
  for (let i = 0; i < 3; i++)
    ports.push({ wsrep: await freePort(), ist: await freePort(), sst: await freePort() });
  const shared = {
    password,
    initEpilogue: [
      `CREATE USER IF NOT EXISTS '${adminUser}'@'localhost' IDENTIFIED BY '${password}';`,
      `CREATE USER IF NOT EXISTS '${adminUser}'@'%' IDENTIFIED BY '${password}';`,
      `GRANT ALL PRIVILEGES ON *.* TO '${adminUser}'@'localhost' WITH GRANT OPTION;`,
      `GRANT ALL PRIVILEGES ON *.* TO '${adminUser}'@'%' WITH GRANT OPTION;`,
    ],
  };
  const states: MariadbState[] = [];
  const cluster = () => galeraCluster(states, ports, password);
  try {
    for (const [index, own] of ports.entries()) {
      const args = wsrepArgs(index, own, ports);
      const state = await launchMariadb({
        ...shared,
        prepareDataDir: handToSstReceiver,
        extraArgs: index === 0 ? [...args, "--wsrep-new-cluster"] : args,
      });
      states.push(state);
      if (index === 0) {
        // A restart of the first node must rejoin, not bootstrap a second cluster.
        state.args = state.args.filter((arg) => arg !== "--wsrep-new-cluster");
        await writeState(state);
      }
      await cluster().waitSynced(index, index + 1);
    }
    return cluster();
  } catch (error) {
    await cluster().destroy();
    throw error;
  }
}

function galeraCluster(states: MariadbState[], ports: NodePorts[], password: string): GaleraCluster {
  const state = (index: number): MariadbState => {
    const found = states[index];
    if (found === undefined) throw new Error(`no Galera node ${index}`);
    return found;
  };
  const admin = (index: number) =>
    mysql.createConnection({
      host: "127.0.0.1",
      port: state(index).port,
      user: adminUser,
      password,
      connectTimeout: 2000,
    });
  const base = (list: readonly MariadbState[]) =>
    `mysql://${list[0]?.user}:${password}@${list.map((s) => `127.0.0.1:${s.port}`).join(",")}`;
  const signal = async (index: number, name: "SIGSTOP" | "SIGCONT") => {
    const current = await readState(state(index).stateFile);
    if (isRunning(current)) process.kill(current.pid, name);
  };
  const cluster: GaleraCluster = {
    nodes: states.map((s, index) => ({
      index,
      port: s.port,
      wsrepPort: ports[index]?.wsrep ?? 0,
      stateFile: s.stateFile,
    })),
    urlBase: base(states),
    nodeUrlBase: (index) => base([state(index)]),
    admin,
    kill: (index) => stopMariadb(state(index).stateFile, "SIGKILL"),
    pause: (index) => signal(index, "SIGSTOP"),
    resume: (index) => signal(index, "SIGCONT"),
    async start(index) {
      // A node that missed too much rejoins by SST, which rsyncs into its data directory.
      await handToSstReceiver(state(index).dataDir);
      await startMariadb(state(index).stateFile);
      await cluster.waitSynced(index, states.length);
    },
    async waitSynced(index, size, timeoutMs = syncTimeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last = "not asked yet";
      while (Date.now() < deadline) {
        try {
          const connection = await admin(index);
          try {
            const [rows] = await connection.query<RowDataPacket[]>(
              "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_cluster_status', 'wsrep_ready')",
            );
            const value = (name: string) => String(rows.find((r) => r.Variable_name === name)?.Value ?? "");
            last = `${value("wsrep_local_state_comment")} ${value("wsrep_cluster_status")} size ${value("wsrep_cluster_size")} ready ${value("wsrep_ready")}`;
            if (
              value("wsrep_local_state_comment") === "Synced" &&
              value("wsrep_cluster_status") === "Primary" &&
              value("wsrep_ready") === "ON" &&
              Number(value("wsrep_cluster_size")) === size
            )
              return;
          } finally {
            await connection.end().catch(() => connection.destroy());
          }
        } catch (error) {
          last = String(error);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(
        `Galera node ${index} not synced in a cluster of ${size} within ${timeoutMs} ms: ${last}`,
      );
    },
    async destroy() {
      // A paused node ignores SIGTERM until resumed.
      await Promise.all(states.map((_, index) => signal(index, "SIGCONT").catch(() => undefined)));
      await Promise.all(states.map((s) => destroyMariadb(s.stateFile)));
    },
  };
  return cluster;
}
