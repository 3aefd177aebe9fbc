/**
 * Real ZooKeeper servers for tests and local clusters: one standalone server
 * or a 3-server ensemble on free loopback ports, each with its own temporary
 * data directory, started as child `java` processes and stopped by pid.
 *
 * No test-framework imports: used from test files, from a vitest
 * globalSetup and from plain scripts (`npm run cluster`).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const zooKeeperJar = "/usr/share/java/zookeeper.jar";
const classPathJars = [zooKeeperJar, "/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"];
const startTimeoutMs = 60_000;
const stopTimeoutMs = 10_000;
const fourLetterTimeoutMs = 1_000;
const pollIntervalMs = 100;

export interface ZooKeeperOptions {
  servers?: 1 | 3;
  /** ZooKeeper's tick; sessions may be as short as 2 ticks. */
  tickTimeMs?: number;
}

export interface ZooKeeperServerInfo {
  /** Client port on 127.0.0.1. */
  readonly port: number;
  /** Pid of the current java process; 0 while stopped or killed. */
  readonly pid: number;
  readonly dataDir: string;
}

export type ZooKeeperMode = "standalone" | "leader" | "follower";

export interface ZooKeeperEnsemble {
  /** "127.0.0.1:p1[,127.0.0.1:p2,…]"; append "/chroot" as needed. */
  readonly connectString: string;
  readonly servers: readonly ZooKeeperServerInfo[];
  /** Gracefully stops one server (SIGTERM, SIGKILL after a deadline), or every server when index is omitted; data stays. */
  stop(index?: number): Promise<void>;
  /** SIGKILL one server and wait until it is gone; its data stays for restart(). */
  kill(index: number): Promise<void>;
  /** Starts a stopped or killed server again with the same port and data; resolves when it serves. */
  restart(index: number): Promise<void>;
  /** SIGSTOP: the server keeps its sockets open but answers nothing (a hung or partitioned server). */
  pause(index: number): void;
  /** SIGCONT after pause(). */
  resume(index: number): void;
  /** The server's role, from the `srvr` command; undefined if it does not serve. */
  mode(index: number): Promise<ZooKeeperMode | undefined>;
  /** Stops every server and deletes the temporary directories. */
  stopAll(): Promise<void>;
}

interface ServerState {
  port: number;
  pid: number;
  dataDir: string;
  dir: string;
  process: ChildProcess | undefined;
  exited: Promise<void>;
}

/** Starts ZooKeeper and resolves once every server serves (and the ensemble has a leader). */
export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperEnsemble> {
  const serverCount = options.servers ?? 1;
  const tickTimeMs = options.tickTimeMs ?? 200;
  await ensureZooKeeperInstalled();
  const baseDir = await mkdtemp(join(tmpdir(), "aviso-zk-"));
  const ports = await freePorts(serverCount * 3);
  const states: ServerState[] = [];
  for (let index = 0; index < serverCount; index++) {
    const dir = join(baseDir, `server-${index + 1}`);
    const dataDir = join(dir, "data");
    await mkdir(dataDir, { recursive: true });
    states.push({
      port: ports[index * 3] ?? 0,
      pid: 0,
      dataDir,
      dir,
      process: undefined,
      exited: Promise.resolve(),
    });
  }
  const quorumLines =
    serverCount === 1
      ? []
      : states.map(
          (_, index) => `server.${index + 1}=127.0.0.1:${ports[index * 3 + 1]}:${ports[index * 3 + 2]}`,
        );
  for (const [index, state] of states.entries()) {
    await writeServerFiles(state, index + 1, tickTimeMs, quorumLines);
  }

  // A crashed test run must not leave java processes behind.
  const killOnExit = () => {
    for (const state of states) if (state.pid !== 0) tryKill(state.pid, "SIGKILL");
  };
  process.once("exit", killOnExit);

  const checkIndex = (index: number): ServerState => {
    const state = states[index];
    if (state === undefined) throw new Error(`no ZooKeeper server #${index} (have ${states.length})`);
    return state;
  };
  const waitServing = async (indexes: number[]) => {
    const deadlineAtMs = Date.now() + startTimeoutMs;
    await Promise.all(indexes.map((index) => waitForMode(checkIndex(index), deadlineAtMs)));
  };

  try {
    for (const state of states) launch(state);
    await waitServing(states.map((_, index) => index));
  } catch (error) {
    await Promise.all(states.map((state) => stopServer(state, "SIGKILL")));
    process.removeListener("exit", killOnExit);
    await rm(baseDir, { recursive: true, force: true });
    throw error;
  }

  const ensemble: ZooKeeperEnsemble = {
    connectString: states.map((state) => `127.0.0.1:${state.port}`).join(","),
    servers: states.map((state) => ({
      get port() {
        return state.port;
      },
      get pid() {
        return state.pid;
      },
      get dataDir() {
        return state.dataDir;
      },
    })),
    async stop(index?: number) {
      const targets = index === undefined ? states : [checkIndex(index)];
      await Promise.all(targets.map((state) => stopServer(state, "SIGTERM")));
    },
    async kill(index: number) {
      await stopServer(checkIndex(index), "SIGKILL");
    },
    async restart(index: number) {
      const state = checkIndex(index);
      await stopServer(state, "SIGTERM");
      launch(state);
      await waitServing([index]);
    },
    pause(index: number) {
      const state = checkIndex(index);
      if (state.pid !== 0) process.kill(state.pid, "SIGSTOP");
    },
    resume(index: number) {
      const state = checkIndex(index);
      if (state.pid !== 0) process.kill(state.pid, "SIGCONT");
    },
    async mode(index: number) {
      return modeOf(await fourLetterWord(checkIndex(index).port, "srvr").catch(() => ""));
    },
    async stopAll() {
      await Promise.all(states.map((state) => stopServer(state, "SIGTERM")));
      process.removeListener("exit", killOnExit);
      await rm(baseDir, { recursive: true, force: true });
    },
  };
  return ensemble;
}

/** Sends a four-letter command ("ruok", "srvr", "mntr", …) and returns the whole reply. */
export function fourLetterWord(
  port: number,
  command: string,
  timeoutMs = fourLetterTimeoutMs,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`ZooKeeper on port ${port} did not answer "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.end(command));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

/** Finds Debian's ZooKeeper, installing it with apt-get when we are root. */
export async function ensureZooKeeperInstalled(): Promise<void> {
  if (existsSync(zooKeeperJar)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${zooKeeperJar} is missing; install it with: sudo apt-get install -y zookeeper`);
  }
  await run("apt-get", ["install", "-y", "zookeeper"], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    timeout: 300_000,
  });
  if (!existsSync(zooKeeperJar)) {
    throw new Error(`apt-get install zookeeper finished but ${zooKeeperJar} is still missing`);
  }
}

async function writeServerFiles(
  state: ServerState,
  id: number,
  tickTimeMs: number,
  quorumLines: string[],
): Promise<void> {
  const config = [
    `tickTime=${tickTimeMs}`,
    // Followers get initLimit ticks to join the leader; a cold JVM needs a few seconds.
    `initLimit=${Math.ceil(10_000 / tickTimeMs)}`,
    `syncLimit=${Math.ceil(2_000 / tickTimeMs)}`,
    `dataDir=${state.dataDir}`,
    `clientPort=${state.port}`,
    "clientPortAddress=127.0.0.1",
    // Sessions between 2 ticks and a minute, so tests can ask for short ones.
    `minSessionTimeout=${2 * tickTimeMs}`,
    "maxSessionTimeout=60000",
    "maxClientCnxns=0",
    "admin.enableServer=false",
    "4lw.commands.whitelist=*",
    ...quorumLines,
    "",
  ].join("\n");
  await writeFile(join(state.dir, "zoo.cfg"), config);
  await writeFile(join(state.dataDir, "myid"), `${id}\n`);
  const log4j = [
    "log4j.rootLogger=INFO, FILE",
    "log4j.appender.FILE=org.apache.log4j.FileAppender",
    `log4j.appender.FILE.File=${join(state.dir, "zookeeper.log")}`,
    "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout",
    "log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n",
    "",
  ].join("\n");
  await writeFile(join(state.dir, "log4j.properties"), log4j);
}

function launch(state: ServerState): void {
  const outFd = openSync(join(state.dir, "stdout.log"), "a");
  const child = spawn(
    "java",
    [
      "-Xmx256m",
      // C1 only: the JVM starts noticeably faster, which is what tests wait on.
      "-XX:TieredStopAtLevel=1",
      "-Djava.net.preferIPv4Stack=true",
      "-cp",
      [state.dir, ...classPathJars].join(":"),
      "org.apache.zookeeper.server.quorum.QuorumPeerMain",
      join(state.dir, "zoo.cfg"),
    ],
    { stdio: ["ignore", outFd, outFd] },
  );
  closeSync(outFd);
  if (child.pid === undefined) throw new Error("could not start java for ZooKeeper");
  state.process = child;
  state.pid = child.pid;
  state.exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      if (state.process === child) {
        state.process = undefined;
        state.pid = 0;
      }
      resolve();
    });
  });
}

async function stopServer(state: ServerState, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  const pid = state.pid;
  if (state.process === undefined || pid === 0) return;
  // A paused server ignores SIGTERM until continued.
  tryKill(pid, "SIGCONT");
  tryKill(pid, signal);
  const timer = setTimeout(() => tryKill(pid, "SIGKILL"), stopTimeoutMs);
  await state.exited;
  clearTimeout(timer);
}

async function waitForMode(state: ServerState, deadlineAtMs: number): Promise<void> {
  let last = "";
  while (Date.now() < deadlineAtMs) {
    if (state.process === undefined) {
      throw new Error(`ZooKeeper on port ${state.port} exited during start; see ${state.dir}/zookeeper.log`);
    }
    try {
      last = await fourLetterWord(state.port, "ruok");
      if (last === "imok" && modeOf(await fourLetterWord(state.port, "srvr")) !== undefined) return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
  throw new Error(
    `ZooKeeper on port ${state.port} not serving within ${startTimeoutMs} ms (last answer: ${last}); see ${state.dir}/zookeeper.log`,
  );
}

function modeOf(srvrReply: string): ZooKeeperMode | undefined {
  const match = /^Mode: (standalone|leader|follower)$/m.exec(srvrReply);
  return match?.[1] as ZooKeeperMode | undefined;
}

/** Distinct free loopback ports, all bound at once so none is handed out twice. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let index = 0; index < count; index++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
      });
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("could not bind a free port");
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
