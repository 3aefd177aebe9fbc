import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isRunning, type MariadbState } from "../../test/helpers/mariadb.ts";
import { claimDataDir, type DataDir, dataDirLayout, loadSecrets, recordProcess } from "./data-dir.ts";
import { type LauncherGalera, startLauncherGalera } from "./galera.ts";
import { startLauncherMariadb } from "./mariadb.ts";
import {
  asThrowawayUser,
  hasExited,
  type LauncherNode,
  spawnClusterNode,
  waitMembership,
  waitNodeReady,
} from "./nodes.ts";
import { type LauncherOptions, nodePorts } from "./options.ts";
import { checkPortsFree, freePorts, probePort } from "./ports.ts";
import { ensurePrerequisites } from "./prerequisites.ts";
import { isAlive, signalPid, stopPid, waitGone } from "./processes.ts";
import { exitDescription, processLine, readyText, say, warn } from "./report.ts";
import { type LauncherZooKeeper, startLauncherZooKeeper } from "./zookeeper.ts";

/** Nodes, MariaDB and ZooKeeper get this long to be up and see each other. */
const startTimeoutMs = 120_000;
const zooKeeperStopGraceMs = 10_000;
const mariadbStopGraceMs = 30_000;
const mariadbWatchIntervalMs = 1_000;
const forcedExitWaitMs = 5_000;
const zkChroot = "/aviso";

class StopRequested extends Error {}

/**
 * Runs a local cluster: ZooKeeper, MariaDB and N nodes on 127.0.0.1, until
 * a signal. First SIGINT/SIGTERM: nodes get SIGTERM (they hand over and
 * exit), then ZooKeeper, then MariaDB; a second one SIGKILLs everything.
 */
export class Launcher {
  private readonly dir: DataDir;
  private readonly zooKeepers: LauncherZooKeeper[] = [];
  /** By server, recorded as each java process is spawned (before it serves). */
  private readonly zooKeeperPids: number[] = [];
  /** MariaDB's state file, or the Galera nodes' (their current pids live there). */
  private mariadbStateFiles: string[] = [];
  private galera: LauncherGalera | undefined;
  private readonly nodes: LauncherNode[] = [];
  private ready = false;
  private stopRequested = false;
  private resolveStop: () => void = () => {};
  private readonly stopRequest = new Promise<void>((resolve) => {
    this.resolveStop = resolve;
  });
  private mariadbWatch: NodeJS.Timeout | undefined;

  constructor(private readonly options: LauncherOptions) {
    this.dir = dataDirLayout(options.dataDir);
  }

  /** Wire to SIGINT and SIGTERM. */
  onSignal(signal: NodeJS.Signals): void {
    if (!this.stopRequested) {
      this.stopRequested = true;
      say(`${signal}: stopping the cluster … (${signal} again to force)`);
      this.resolveStop();
      return;
    }
    warn(`${signal} again: killing every process with SIGKILL`);
    const killed = this.killAll();
    void Promise.all(killed.map((pid) => waitGone(pid, forcedExitWaitMs))).then(() => process.exit(130));
  }

  /** Last resort (a forced stop, the launcher crashing): SIGKILL everything it started; returns the pids. */
  killAll(): number[] {
    const pids = this.nodes.map((node) => node.pid);
    pids.push(...this.zooKeeperPids.filter((pid) => pid !== 0));
    for (const mariadb of this.mariadbStates()) if (isRunning(mariadb)) pids.push(mariadb.pid);
    for (const pid of pids) signalPid(pid, "SIGKILL");
    return pids;
  }

  /** Starts everything, waits for a signal, stops everything; resolves the exit code. */
  async run(): Promise<number> {
    const startup = this.start().then(
      () => null,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    const outcome = await Promise.race([startup, this.stopRequest.then(() => "stop" as const)]);
    if (outcome === "stop") {
      // Stopping what runs makes the start's waits fail fast; then stop what it started meanwhile.
      const first = await this.stopAll();
      await startup;
      return first && (await this.stopAll()) ? 0 : 1;
    }
    if (outcome !== null) {
      if (!(outcome instanceof StopRequested)) warn(`the cluster did not start: ${outcome.message}`);
      const clean = await this.stopAll();
      return this.stopRequested && clean ? 0 : 1;
    }
    await this.stopRequest;
    return (await this.stopAll()) ? 0 : 1;
  }

  private async start(): Promise<void> {
    const startedAt = Date.now();
    const { options, dir } = this;
    await ensurePrerequisites(say);
    await claimDataDir(dir, options.fresh, say);
    say(`data dir   ${dir.root} (kept between runs; --fresh starts over)`);
    const httpPorts = nodePorts(options.basePort, options.nodes);
    const peerPorts = nodePorts(options.peerBasePort, options.nodes);
    await checkPortsFree([
      ...httpPorts.map((port, index) => ({ port, what: `node-${index + 1} HTTP` })),
      ...peerPorts.map((port, index) => ({ port, what: `node-${index + 1} peer` })),
      ...(options.zkPort === 0
        ? []
        : nodePorts(options.zkPort, options.zooKeeperServers).map((port, index) => ({
            port,
            what: `ZooKeeper ${index + 1}`,
          }))),
      ...(options.mysqlPort === 0 || options.galera ? [] : [{ port: options.mysqlPort, what: "MariaDB" }]),
    ]);
    const secrets = await loadSecrets(dir);
    const taken = [...httpPorts, ...peerPorts];
    const zkPorts =
      options.zkPort === 0
        ? await freePorts(options.zooKeeperServers, taken)
        : nodePorts(options.zkPort, options.zooKeeperServers);
    let mysqlPort = options.mysqlPort === 0 ? await probePort(0) : options.mysqlPort;
    while (zkPorts.includes(mysqlPort)) mysqlPort = await probePort(0);

    this.checkStop();
    const zk = `${await this.startZooKeeper(zkPorts, [...taken, mysqlPort])}${zkChroot}`;

    this.checkStop();
    const store = options.galera
      ? await this.startGalera(secrets.mysqlPassword)
      : await this.startMariadb(mysqlPort, secrets.mysqlPassword);

    this.checkStop();
    const shared = {
      store,
      zk,
      zkSessionTimeoutMs: options.sessionTimeoutMs,
      clusterSecret: secrets.clusterSecret,
      tokenSecret: secrets.tokenSecret,
    };
    for (const [index, port] of httpPorts.entries()) {
      const id = `node-${index + 1}`;
      const node = await spawnClusterNode({
        id,
        port,
        peerPort: peerPorts[index] as number,
        dataDir: dir.node(id),
        logFile: dir.log(id),
        shared,
      });
      this.nodes.push(node);
      await recordProcess(dir, { name: id, pid: node.pid, logFile: node.logFile });
      say(processLine(id, `${node.url}  peer 127.0.0.1:${node.peerPort}`, node.pid, node.logFile));
    }
    const deadlineAtMs = Date.now() + startTimeoutMs;
    await Promise.all(this.nodes.map((node) => waitNodeReady(node, deadlineAtMs)));
    // A node id re-used after a crash may wait out its old ZooKeeper session first.
    await asThrowawayUser(this.nodes[0]?.url ?? "", (token) =>
      waitMembership(this.nodes, token, deadlineAtMs + 2 * options.sessionTimeoutMs),
    );
    this.checkStop();
    this.ready = true;
    this.watchForDeaths();
    say(
      readyText({
        nodes: this.nodes.length,
        startupMs: Date.now() - startedAt,
        firstUrl: this.nodes[0]?.url ?? "",
        secondUrl: (this.nodes[1] ?? this.nodes[0])?.url ?? "",
      }),
    );
  }

  private checkStop(): void {
    if (this.stopRequested) throw new StopRequested("stop requested during start");
  }

  private async startMariadb(port: number, password: string): Promise<string> {
    const { dir } = this;
    this.mariadbStateFiles = [join(dir.mariadb, "state.json")];
    const mariadb = await startLauncherMariadb({
      dir: dir.mariadb,
      port,
      password,
      logFile: dir.log("mariadb"),
    });
    await recordProcess(dir, { name: "mariadb", pid: mariadb.state.pid, logFile: mariadb.state.logFile });
    say(processLine("mariadb", mariadb.url, mariadb.state.pid, mariadb.state.logFile));
    return mariadb.url;
  }

  /** Three Galera nodes; every node of Aviso gets all three addresses, in the same order. */
  private async startGalera(password: string): Promise<string> {
    say("galera     starting 3 MariaDB Galera nodes (bootstrap, then two joins by SST: about a minute) …");
    const galera = await startLauncherGalera(password);
    this.galera = galera;
    this.mariadbStateFiles = galera.nodes.map((node) => node.stateFile);
    for (const [index, node] of galera.nodes.entries()) {
      await recordProcess(this.dir, { name: `galera-${index}`, pid: node.pid, logFile: node.logFile });
      say(processLine(`galera-${index}`, `127.0.0.1:${node.port}`, node.pid, node.logFile));
    }
    say(`${"mariadb".padEnd(10)} ${galera.url}  (every node's AVISO_STORE)`);
    return galera.url;
  }

  /** After start: say so when a process dies on its own. */
  private watchForDeaths(): void {
    const report = (name: string, pid: number, description: string, logFile: string) => {
      if (this.ready && !this.stopRequested) warn(`${name} (pid ${pid}) ${description}; log ${logFile}`);
    };
    for (const node of this.nodes) {
      void node.exited.then(({ code, signal }) =>
        report(node.id, node.pid, exitDescription(code, signal), node.logFile),
      );
    }
    for (const [index, zooKeeper] of this.zooKeepers.entries()) {
      zooKeeper.child.once("exit", (code, signal) =>
        report(this.zooKeeperName(index), zooKeeper.pid, exitDescription(code, signal), zooKeeper.logFile),
      );
    }
    // MariaDB is detached and unref'd by its helper, so it is polled rather than awaited.
    const watched = new Map(this.mariadbStates().map((state, index) => [index, state]));
    const name = (index: number) => (this.galera === undefined ? "mariadb" : `galera-${index}`);
    this.mariadbWatch = setInterval(() => {
      for (const [index, mariadb] of watched) {
        if (isRunning(mariadb)) continue;
        watched.delete(index);
        report(name(index), mariadb.pid, "exited", mariadb.logFile);
      }
      if (watched.size === 0) clearInterval(this.mariadbWatch);
    }, mariadbWatchIntervalMs);
  }

  /** Nodes (SIGTERM, in parallel), then ZooKeeper, then MariaDB. Resolves true if all went without SIGKILL. */
  private async stopAll(): Promise<boolean> {
    clearInterval(this.mariadbWatch);
    const nodeGraceMs = 2 * shutdownTimeoutMs() + 5_000;
    const running = this.nodes.filter((node) => !hasExited(node));
    if (running.length > 0) say(`stopping ${running.map((node) => node.id).join(", ")} (SIGTERM) …`);
    const nodeResults = await Promise.all(
      running.map(async (node) => {
        const onItsOwn = await stopPid(node.pid, nodeGraceMs);
        const { code, signal } = await node.exited;
        // A node still loading its modules has no handler yet and simply dies of the SIGTERM.
        const clean = code === 0 || signal === "SIGTERM";
        if (!onItsOwn) warn(`${node.id} did not stop within ${nodeGraceMs} ms and was killed`);
        else if (!clean)
          warn(`${node.id} ${exitDescription(code, signal)} while stopping; log ${node.logFile}`);
        return onItsOwn && clean;
      }),
    );
    let clean = nodeResults.every(Boolean);
    let stoppedAny = running.length > 0;
    const zooKeeperPids = this.zooKeeperPids.filter((pid) => isAlive(pid));
    if (zooKeeperPids.length > 0) {
      say("stopping zookeeper …");
      stoppedAny = true;
      const stopped = await Promise.all(zooKeeperPids.map((pid) => stopPid(pid, zooKeeperStopGraceMs)));
      clean = stopped.every(Boolean) && clean;
    }
    if (this.galera !== undefined) {
      say("stopping galera (and deleting its data) …");
      stoppedAny = true;
      await this.galera.cluster.destroy();
      this.galera = undefined;
    }
    const mariadbs = this.mariadbStates().filter((state) => isRunning(state));
    if (mariadbs.length > 0) {
      say("stopping mariadb …");
      stoppedAny = true;
      const stopped = await Promise.all(mariadbs.map((state) => stopPid(state.pid, mariadbStopGraceMs)));
      clean = stopped.every(Boolean) && clean;
    }
    if (!clean) warn("stopped, but not all cleanly (see above).");
    else if (stoppedAny) say("stopped.");
    return clean;
  }

  /**
   * Starts one standalone ZooKeeper, or an ensemble of three (all at once: each
   * serves only once a quorum has formed). Prints each server and returns the
   * connect string. A standalone keeps its data in zookeeper/, an ensemble in
   * zookeeper/server-N/, so switching between them loses nothing.
   */
  private async startZooKeeper(clientPorts: readonly number[], taken: readonly number[]): Promise<string> {
    const { dir } = this;
    const count = clientPorts.length;
    const quorumPorts = count === 1 ? [] : await freePorts(2 * count, [...taken, ...clientPorts]);
    const peers = clientPorts.map(
      (_, index) => `127.0.0.1:${quorumPorts[2 * index]}:${quorumPorts[2 * index + 1]}`,
    );
    const started = await Promise.all(
      clientPorts.map((port, index) => {
        const name = this.zooKeeperName(index);
        return startLauncherZooKeeper({
          dir: count === 1 ? dir.zooKeeper : join(dir.zooKeeper, `server-${index + 1}`),
          port,
          logFile: dir.log(name),
          ensemble: count === 1 ? undefined : { myId: index + 1, peers },
          onSpawned: (pid) => {
            this.zooKeeperPids[index] = pid;
            return recordProcess(dir, { name, pid, logFile: dir.log(name) });
          },
        });
      }),
    );
    this.zooKeepers.push(...started);
    const connect = clientPorts.map((port) => `127.0.0.1:${port}`).join(",");
    for (const [index, zooKeeper] of started.entries()) {
      const address = count === 1 ? `${connect}${zkChroot}` : `127.0.0.1:${zooKeeper.port}`;
      say(processLine(this.zooKeeperName(index), address, zooKeeper.pid, zooKeeper.logFile));
    }
    if (count > 1)
      say(`${"zookeeper".padEnd(10)} ${connect}${zkChroot}  (the ensemble: every node's AVISO_ZK)`);
    return connect;
  }

  private zooKeeperName(index: number): string {
    return this.options.zooKeeperServers === 1 ? "zookeeper" : `zookeeper-${index + 1}`;
  }

  /** MariaDB's current pid lives in its state file (its helper writes it when it spawns the server). */
  private mariadbStates(): MariadbState[] {
    return this.mariadbStateFiles.flatMap((file) => {
      if (!existsSync(file)) return [];
      try {
        return [JSON.parse(readFileSync(file, "utf8")) as MariadbState];
      } catch {
        return [];
      }
    });
  }
}

/** The nodes' shutdownTimeoutMs, if the environment sets one (they inherit it). */
function shutdownTimeoutMs(): number {
  const fromEnv = Number(process.env.AVISO_SHUTDOWN_TIMEOUT_MS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 10_000;
}
