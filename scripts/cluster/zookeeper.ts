import type { ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fourLetterWord } from "../../test/helpers/zookeeper.ts";
import { logTail, spawnLogged } from "./processes.ts";

/** A ZooKeeper server (standalone, or one of an ensemble) whose data stays in the launcher's data dir between runs. */
export interface LauncherZooKeeper {
  readonly port: number;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
}

const classPath = [
  "/usr/share/java/zookeeper.jar",
  "/usr/share/java/slf4j-log4j12.jar",
  "/usr/share/java/log4j-1.2.jar",
];
const tickTimeMs = 200;
const startTimeoutMs = 60_000;

/** A server's place in an ensemble: its id (1…n) and every server's "127.0.0.1:quorumPort:electionPort", by id. */
export interface EnsembleSeat {
  myId: number;
  peers: readonly string[];
}

/**
 * Writes zoo.cfg for `port` (ports may change between runs; the data stays)
 * and starts java; resolves once the server serves — as standalone, or for an
 * ensemble as leader or follower, which needs a quorum of its peers started.
 */
export async function startLauncherZooKeeper(options: {
  dir: string;
  port: number;
  logFile: string;
  /** Absent: a standalone server. */
  ensemble?: EnsembleSeat;
  /** Called with the java pid right after the spawn, before the wait (to record it). */
  onSpawned?: (pid: number) => Promise<void>;
}): Promise<LauncherZooKeeper> {
  const { dir, port, logFile, ensemble } = options;
  const dataDir = join(dir, "data");
  await mkdir(dataDir, { recursive: true });
  const quorum =
    ensemble === undefined
      ? []
      : [
          // Followers get initLimit ticks to join the leader; a cold JVM needs a few seconds.
          `initLimit=${Math.ceil(10_000 / tickTimeMs)}`,
          `syncLimit=${Math.ceil(2_000 / tickTimeMs)}`,
          ...ensemble.peers.map((peer, index) => `server.${index + 1}=${peer}`),
        ];
  if (ensemble !== undefined) await writeFile(join(dataDir, "myid"), `${ensemble.myId}\n`);
  await writeFile(
    join(dir, "zoo.cfg"),
    [
      `tickTime=${tickTimeMs}`,
      `dataDir=${dataDir}`,
      `clientPort=${port}`,
      "clientPortAddress=127.0.0.1",
      // Sessions from 2 ticks to a minute, so --session-timeout-ms can be short.
      `minSessionTimeout=${2 * tickTimeMs}`,
      "maxSessionTimeout=60000",
      "maxClientCnxns=0",
      // Otherwise the admin server takes :8080.
      "admin.enableServer=false",
      "4lw.commands.whitelist=ruok,srvr,mntr,stat",
      "autopurge.purgeInterval=1",
      ...quorum,
      "",
    ].join("\n"),
  );
  // Log to stdout, which spawnLogged appends to logFile: one file per process.
  await writeFile(
    join(dir, "log4j.properties"),
    [
      "log4j.rootLogger=INFO, CONSOLE",
      "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender",
      "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout",
      "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n",
      "",
    ].join("\n"),
  );
  const child = spawnLogged(
    "java",
    [
      "-Xmx256m",
      "-XX:TieredStopAtLevel=1",
      "-Djava.net.preferIPv4Stack=true",
      "-cp",
      [dir, ...classPath].join(":"),
      "org.apache.zookeeper.server.quorum.QuorumPeerMain",
      join(dir, "zoo.cfg"),
    ],
    { logFile },
  );
  const zooKeeper = { port, child, pid: child.pid as number, logFile };
  await options.onSpawned?.(zooKeeper.pid);
  await waitServing(zooKeeper);
  return zooKeeper;
}

async function waitServing(zooKeeper: LauncherZooKeeper): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (zooKeeper.child.exitCode !== null || zooKeeper.child.signalCode !== null) {
      throw new Error(`ZooKeeper exited during start:\n${logTail(zooKeeper.logFile)}`);
    }
    try {
      last = await fourLetterWord(zooKeeper.port, "srvr");
      if (/^Mode: (standalone|leader|follower)$/m.test(last)) return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(
    `ZooKeeper did not serve on port ${zooKeeper.port} within ${startTimeoutMs} ms (last: ${last}):\n${logTail(zooKeeper.logFile)}`,
  );
}
