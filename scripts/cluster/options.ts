import { resolve } from "node:path";
import { parseArgs } from "node:util";

/** What `npm run cluster -- …` was asked for, validated. */
export interface LauncherOptions {
  nodes: number;
  /** HTTP port of node-1; node-N listens on basePort + N - 1. */
  basePort: number;
  /** Peer (gRPC) port of node-1; default basePort + 1000. */
  peerBasePort: number;
  /** ZooKeeper servers: 1 (standalone) or a 3-server ensemble. */
  zooKeeperServers: 1 | 3;
  /** Client port of ZooKeeper server 1 (server N: zkPort + N - 1); 0 = any free ports. */
  zkPort: number;
  /** 0 = any free port. */
  mysqlPort: number;
  /** A 3-node MariaDB Galera cluster (throwaway data) instead of one MariaDB. */
  galera: boolean;
  /** Absolute. */
  dataDir: string;
  sessionTimeoutMs: number;
  fresh: boolean;
}

export const usage = `Usage: npm run cluster -- [options]

Starts ZooKeeper, MariaDB and a cluster of Aviso nodes on 127.0.0.1, and
stops them all on Ctrl-C (a second Ctrl-C forces).

  --nodes <n>               nodes to start (default 3)
  --base-port <port>        HTTP port of node-1; node-N gets base + N - 1 (default 8181)
  --peer-base-port <port>   peer (gRPC) port of node-1 (default base-port + 1000)
  --zookeeper-servers <n>   1 (a standalone ZooKeeper, default) or 3 (an ensemble
                            of three servers: any one may be killed, the leader too)
  --zk-port <port>          ZooKeeper client port; with 3 servers, server N gets
                            port + N - 1 (default: any free ports)
  --mysql-port <port>       MariaDB port (default: any free port)
  --galera                  a 3-node MariaDB Galera cluster instead of one MariaDB
                            (free ports; its data is deleted on stop): any one
                            database node may be killed or paused
  --data-dir <dir>          ZooKeeper, MariaDB and node data, secrets and logs (default ./.aviso-cluster)
  --session-timeout-ms <ms> ZooKeeper session timeout of the nodes (default 3000)
  --fresh                   delete the data dir first (default: keep data between runs)
  -h, --help                this text

Extra AVISO_* variables in the environment are passed to every node
(e.g. AVISO_LOG_LEVEL=debug npm run cluster).
`;

/** Parses argv; throws an Error listing every problem. Returns undefined for --help. */
export function parseLauncherOptions(argv: readonly string[]): LauncherOptions | undefined {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      nodes: { type: "string", default: "3" },
      "base-port": { type: "string", default: "8181" },
      "peer-base-port": { type: "string" },
      "zookeeper-servers": { type: "string", default: "1" },
      "zk-port": { type: "string", default: "0" },
      "mysql-port": { type: "string", default: "0" },
      galera: { type: "boolean", default: false },
      "data-dir": { type: "string", default: "./.aviso-cluster" },
      "session-timeout-ms": { type: "string", default: "3000" },
      fresh: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const problems: string[] = [];
  const integer = (flag: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`--${flag} must be an integer from ${min} to ${max} (got "${text}")`);
      return min;
    }
    return value;
  };
  const nodes = integer("nodes", values.nodes, 1, 20);
  const basePort = integer("base-port", values["base-port"], 1, 65535 - nodes + 1);
  const peerBasePort = integer(
    "peer-base-port",
    values["peer-base-port"] ?? String(basePort + 1000),
    1,
    65535 - nodes + 1,
  );
  const zooKeeperServers = values["zookeeper-servers"] === "3" ? 3 : 1;
  if (!["1", "3"].includes(values["zookeeper-servers"]))
    problems.push(`--zookeeper-servers must be 1 or 3 (got "${values["zookeeper-servers"]}")`);
  const options: LauncherOptions = {
    nodes,
    zooKeeperServers,
    basePort,
    peerBasePort,
    zkPort: integer("zk-port", values["zk-port"], 0, 65535 - zooKeeperServers + 1),
    mysqlPort: integer("mysql-port", values["mysql-port"], 0, 65535),
    galera: values.galera,
    dataDir: resolve(values["data-dir"]),
    // ZooKeeper (tickTime 200 ms) accepts sessions from 400 ms to 60 s.
    sessionTimeoutMs: integer("session-timeout-ms", values["session-timeout-ms"], 400, 60_000),
    fresh: values.fresh,
  };
  if (options.galera && options.mysqlPort !== 0)
    problems.push("--mysql-port does not go with --galera: the three Galera nodes take free ports");
  const httpPorts = nodePorts(options.basePort, nodes);
  if (nodePorts(options.peerBasePort, nodes).some((port) => httpPorts.includes(port)))
    problems.push("the HTTP and peer port ranges overlap: choose another --peer-base-port");
  if (
    options.zkPort !== 0 &&
    nodePorts(options.zkPort, zooKeeperServers).some(
      (port) => httpPorts.includes(port) || nodePorts(options.peerBasePort, nodes).includes(port),
    )
  )
    problems.push("the ZooKeeper client ports overlap the nodes' ports: choose another --zk-port");
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return options;
}

/** [base, base + 1, …] for `count` nodes. */
export function nodePorts(base: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => base + index);
}
