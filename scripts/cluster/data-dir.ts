import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isAlive, type LaunchedProcess, stopPid } from "./processes.ts";

/**
 * The launcher's data directory. Everything lives here so a second run
 * finds the same MariaDB data, ZooKeeper data, secrets (tokens stay valid)
 * and node ids:
 *
 *   launcher.json   pid of the launcher and of every process it started
 *   secrets.json    token secret, cluster secret, MariaDB app password (0600)
 *   zookeeper/      zoo.cfg and data/
 *   mariadb/        state.json (test/helpers/mariadb.ts format), data/, socket
 *   nodes/node-N/   each node's AVISO_DATA_DIR
 *   logs/           zookeeper.log, mariadb.log, node-N.log
 */
export interface DataDir {
  readonly root: string;
  readonly logs: string;
  readonly zooKeeper: string;
  readonly mariadb: string;
  node(id: string): string;
  log(name: string): string;
}

export interface Secrets {
  tokenSecret: string;
  clusterSecret: string;
  mysqlPassword: string;
}

interface LauncherRecord {
  launcherPid: number;
  processes: LaunchedProcess[];
}

const recordFile = "launcher.json";
const secretsFile = "secrets.json";
/** Files only this launcher writes: a directory holding one of them may be wiped by --fresh. */
const markers = [recordFile, secretsFile];
const leftoverGraceMs = 15_000;

export function dataDirLayout(root: string): DataDir {
  return {
    root,
    logs: join(root, "logs"),
    zooKeeper: join(root, "zookeeper"),
    mariadb: join(root, "mariadb"),
    node: (id) => join(root, "nodes", id),
    log: (name) => join(root, "logs", `${name}.log`),
  };
}

/**
 * Makes the directory ours for this run: refuses if another launcher is
 * using it, stops processes an earlier (killed) launcher left behind, wipes
 * it with `fresh`, and records this launcher's pid.
 */
export async function claimDataDir(dir: DataDir, fresh: boolean, say: (line: string) => void): Promise<void> {
  const previous = await readRecord(dir);
  if (previous !== undefined) {
    if (previous.launcherPid !== process.pid && isAlive(previous.launcherPid, "cluster.ts")) {
      throw new Error(
        `another launcher (pid ${previous.launcherPid}) is using ${dir.root}; stop it or pass another --data-dir`,
      );
    }
    // Newest first: nodes leave while ZooKeeper and MariaDB still answer.
    for (const leftover of [...previous.processes].reverse()) {
      if (!isAlive(leftover.pid, dir.root)) continue;
      say(`stopping ${leftover.name} (pid ${leftover.pid}) left running by an earlier launcher`);
      await stopPid(leftover.pid, leftoverGraceMs);
    }
  }
  if (fresh && existsSync(dir.root)) {
    const entries = await readdir(dir.root);
    if (entries.length > 0 && !markers.some((marker) => entries.includes(marker))) {
      throw new Error(
        `${dir.root} does not look like a launcher data dir; refusing to delete it for --fresh`,
      );
    }
    await rm(dir.root, { recursive: true, force: true });
  }
  await mkdir(dir.logs, { recursive: true });
  await writeRecord(dir, { launcherPid: process.pid, processes: [] });
}

/** Adds (or replaces, by name) a started process in launcher.json, so a later run can clean up after a crash. */
export async function recordProcess(dir: DataDir, launched: LaunchedProcess): Promise<void> {
  const record = (await readRecord(dir)) ?? { launcherPid: process.pid, processes: [] };
  record.processes = [...record.processes.filter((p) => p.name !== launched.name), launched];
  await writeRecord(dir, record);
}

/** The run's secrets: read from secrets.json, or generated once and kept there (mode 0600). */
export async function loadSecrets(dir: DataDir): Promise<Secrets> {
  const path = join(dir.root, secretsFile);
  if (existsSync(path)) {
    const saved = JSON.parse(await readFile(path, "utf8")) as Partial<Secrets>;
    if (
      typeof saved.tokenSecret === "string" &&
      typeof saved.clusterSecret === "string" &&
      typeof saved.mysqlPassword === "string"
    ) {
      return {
        tokenSecret: saved.tokenSecret,
        clusterSecret: saved.clusterSecret,
        mysqlPassword: saved.mysqlPassword,
      };
    }
    throw new Error(`${path} is incomplete; delete it (and the MariaDB data) or run with --fresh`);
  }
  const secrets: Secrets = {
    tokenSecret: randomBytes(32).toString("hex"),
    clusterSecret: randomBytes(32).toString("hex"),
    mysqlPassword: randomBytes(16).toString("hex"),
  };
  await writeFile(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

async function readRecord(dir: DataDir): Promise<LauncherRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir.root, recordFile), "utf8")) as LauncherRecord;
  } catch {
    return undefined;
  }
}

async function writeRecord(dir: DataDir, record: LauncherRecord): Promise<void> {
  await writeFile(join(dir.root, recordFile), `${JSON.stringify(record, null, 2)}\n`);
}
