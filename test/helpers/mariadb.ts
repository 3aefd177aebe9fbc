/**
 * A real MariaDB server for integration tests: one per test run, started by
 * global-setup.ts on a free loopback port with its own temporary data
 * directory. Test files reach it through `inject("mariadb")` and may stop,
 * kill and restart it in place (same data, same port) with the helpers below:
 * the server's pid and command line live in a JSON state file, so any process
 * can take it down and bring it back.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { inject } from "vitest";

const run = promisify(execFile);

/** What tests receive through `inject("mariadb")`. */
export interface MariadbInfo {
  /** `mysql://aviso:<password>@127.0.0.1:<port>` — append `/<database>`. */
  mysqlUrlBase: string;
  /** Unix socket on which root logs in (unix_socket authentication, run as root). */
  mysqlRootSocket: string;
  port: number;
  /** Pid at start; after a restart the state file holds the current one. */
  pid: number;
  /** JSON MariadbState; read by restartMariadb/stopMariadb/startMariadb. */
  stateFile: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    mariadb: MariadbInfo;
  }
}

/** Everything needed to stop and re-spawn the server from any process. */
export interface MariadbState {
  binary: string;
  args: string[];
  pid: number;
  port: number;
  socket: string;
  baseDir: string;
  dataDir: string;
  logFile: string;
  user: string;
  password: string;
  stateFile: string;
  /** The process that launched it (the test runner); if it is gone, the server is a leftover. */
  launcherPid: number;
}

const appUser = "aviso";
const startTimeoutMs = 60_000;
const stopTimeoutMs = 30_000;

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/usr/bin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Finds mariadbd and mariadb-install-db, installing Debian's mariadb-server when we are root. */
export async function ensureMariadbInstalled(): Promise<{ server: string; installDb: string }> {
  const find = () => ({
    server: findExecutable("mariadbd") ?? findExecutable("mysqld"),
    installDb: findExecutable("mariadb-install-db") ?? findExecutable("mysql_install_db"),
  });
  let found = find();
  if (found.server === undefined || found.installDb === undefined) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        "Integration tests need a MariaDB server (mariadbd) and none is installed. " +
          "Install it with `apt-get install -y mariadb-server` (Debian/Ubuntu) and run the tests again.",
      );
    }
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    try {
      await run("apt-get", ["install", "-y", "mariadb-server"], { env, maxBuffer: 64 * 1024 * 1024 });
    } catch {
      // A fresh machine may have no package lists yet.
      await run("apt-get", ["update"], { env, maxBuffer: 64 * 1024 * 1024 });
      await run("apt-get", ["install", "-y", "mariadb-server"], { env, maxBuffer: 64 * 1024 * 1024 });
    }
    found = find();
  }
  if (found.server === undefined || found.installDb === undefined) {
    throw new Error(
      "apt-get installed mariadb-server but mariadbd / mariadb-install-db are still not on PATH",
    );
  }
  return { server: found.server, installDb: found.installDb };
}

/** A TCP port free on 127.0.0.1 right now (it may be taken before it is bound: retry on failure). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not find a free port"))));
    });
  });
}

/** True while `pid` is a live (not zombie) process running our server on our data directory. */
export function isRunning(state: Pick<MariadbState, "pid" | "dataDir">): boolean {
  try {
    const stat = readFileSync(`/proc/${state.pid}/stat`, "utf8");
    // Field 3 (after the parenthesised name) is the state; Z = exited, not yet reaped.
    const processState = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (processState === "Z" || processState === "X") return false;
    const cmdline = readFileSync(`/proc/${state.pid}/cmdline`, "utf8");
    return cmdline.includes(state.dataDir);
  } catch {
    return false;
  }
}

function logTail(state: MariadbState): string {
  try {
    return readFileSync(state.logFile, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

function spawnServer(state: MariadbState): ChildProcess {
  const log = openSync(state.logFile, "a");
  try {
    // Detached and unref'd: the server outlives whichever process (re)started
    // it; teardown stops it by the pid in the state file.
    const child = spawn(state.binary, state.args, { detached: true, stdio: ["ignore", log, log] });
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

/** Polls until the app user can log in over TCP; throws if the server dies or the deadline passes. */
export async function waitForMariadb(state: MariadbState, timeoutMs = startTimeoutMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!isRunning(state)) {
      throw new Error(`mariadbd (pid ${state.pid}) exited during start-up:\n${logTail(state)}`);
    }
    try {
      const connection = await mysql.createConnection({
        host: "127.0.0.1",
        port: state.port,
        user: state.user,
        password: state.password,
        connectTimeout: 1000,
      });
      await connection.query("SELECT 1");
      await connection.end();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(
    `mariadbd did not accept connections within ${timeoutMs} ms: ${String(lastError)}\n${logTail(state)}`,
  );
}

export async function writeState(state: MariadbState): Promise<void> {
  await writeFile(state.stateFile, JSON.stringify(state, null, 2));
}

export async function readState(stateFile: string): Promise<MariadbState> {
  return JSON.parse(await readFile(stateFile, "utf8")) as MariadbState;
}

const baseDirPrefix = "aviso-mariadb-";

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops servers that an earlier, killed test run left behind (its launcher
 * process is gone) and deletes their data. Only servers this harness started:
 * found by our state files, and stopped only if the pid still runs mariadbd
 * on that state's data directory.
 */
export async function reapLeftoverServers(): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(baseDirPrefix)) continue;
    const stateFile = join(tmpdir(), entry, "state.json");
    let state: MariadbState;
    try {
      state = await readState(stateFile);
    } catch {
      continue; // being created right now, or not ours
    }
    if (typeof state.launcherPid !== "number" || processExists(state.launcherPid)) continue;
    await destroyMariadb(stateFile);
  }
}

/** Variations on the default server (replication tests); every field defaults to what global-setup uses. */
export interface LaunchMariadbOptions {
  /** More mariadbd options, appended after the defaults (e.g. `--server-id=2`). */
  extraArgs?: readonly string[];
  /** Statements the init file runs first, at every start (e.g. `SET sql_log_bin = 0;`). */
  initPrologue?: readonly string[];
  /** Statements the init file runs last, at every start (e.g. a replication user). */
  initEpilogue?: readonly string[];
  /** What the app user may do, as in `GRANT <appPrivileges> ON *.*` (default `ALL PRIVILEGES`, with grant option). */
  appPrivileges?: string;
  /** The app user's password (default random); servers of one replication set share it. */
  password?: string;
  /** Runs on the fresh data directory before the first start (e.g. to hand it to the SST receiver). */
  prepareDataDir?: (dataDir: string) => Promise<void>;
}

/** Creates a data directory and starts a fresh server on a free port. Used by global-setup. */
export async function launchMariadb(options: LaunchMariadbOptions = {}): Promise<MariadbState> {
  const { server, installDb } = await ensureMariadbInstalled();
  const baseDir = await mkdtemp(join(tmpdir(), baseDirPrefix));
  const dataDir = join(baseDir, "data");
  // Its own tmpdir: concurrent servers (test projects, benches) sharing /tmp collide on temp-table names.
  const tmpDir = join(baseDir, "tmp");
  await mkdir(tmpDir, { recursive: true });
  try {
    await run(installDb, [
      "--no-defaults",
      `--datadir=${dataDir}`,
      "--user=root",
      "--auth-root-authentication-method=socket",
      "--skip-test-db",
      `--tmpdir=${tmpDir}`,
    ]);
  } catch (error) {
    await rm(baseDir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${String(error)}`);
  }
  await options.prepareDataDir?.(dataDir);
  const password = options.password ?? randomBytes(12).toString("hex");
  const grant =
    options.appPrivileges === undefined
      ? { privileges: "ALL PRIVILEGES", suffix: " WITH GRANT OPTION" }
      : { privileges: options.appPrivileges, suffix: "" };
  // Runs at every start (restarts included), hence IF NOT EXISTS.
  const initFile = join(baseDir, "init.sql");
  await writeFile(
    initFile,
    [
      ...(options.initPrologue ?? []),
      `CREATE USER IF NOT EXISTS '${appUser}'@'localhost' IDENTIFIED BY '${password}';`,
      `CREATE USER IF NOT EXISTS '${appUser}'@'%' IDENTIFIED BY '${password}';`,
      `GRANT ${grant.privileges} ON *.* TO '${appUser}'@'localhost'${grant.suffix};`,
      `GRANT ${grant.privileges} ON *.* TO '${appUser}'@'%'${grant.suffix};`,
      ...(options.initEpilogue ?? []),
      "",
    ].join("\n"),
  );
  let lastError: unknown;
  // The free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const socket = join(baseDir, "mysqld.sock");
    const state: MariadbState = {
      binary: server,
      args: [
        "--no-defaults",
        "--user=root",
        `--datadir=${dataDir}`,
        `--tmpdir=${tmpDir}`,
        `--socket=${socket}`,
        `--pid-file=${join(baseDir, "mysqld.pid")}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        `--init-file=${initFile}`,
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        // Real durability: the store's commit-before-ack guarantee is tested against it.
        "--innodb-flush-log-at-trx-commit=1",
        "--max-connections=1000",
        "--max-allowed-packet=64M",
        ...(options.extraArgs ?? []),
      ],
      pid: 0,
      port,
      socket,
      baseDir,
      dataDir,
      logFile: join(baseDir, "mariadbd.log"),
      user: appUser,
      password,
      stateFile: join(baseDir, "state.json"),
      launcherPid: process.pid,
    };
    const child = spawnServer(state);
    state.pid = child.pid ?? 0;
    await writeState(state);
    try {
      await waitForMariadb(state);
      return state;
    } catch (error) {
      lastError = error;
      if (isRunning(state)) process.kill(state.pid, "SIGKILL");
    }
  }
  await rm(baseDir, { recursive: true, force: true });
  throw lastError;
}

/**
 * Stops the server: SIGTERM = clean shutdown, SIGKILL = crash (InnoDB
 * recovers on the next start). Waits until the process is gone.
 */
export async function stopMariadb(
  stateFile: string,
  signal: "SIGTERM" | "SIGKILL" = "SIGTERM",
  timeoutMs = stopTimeoutMs,
): Promise<void> {
  const state = await readState(stateFile);
  if (!isRunning(state)) return;
  process.kill(state.pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (isRunning(state)) {
    if (Date.now() > deadline) {
      if (signal === "SIGKILL")
        throw new Error(`mariadbd (pid ${state.pid}) survived SIGKILL for ${timeoutMs} ms`);
      process.kill(state.pid, "SIGKILL");
      return stopMariadb(stateFile, "SIGKILL", timeoutMs);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts the server again with the same data directory, port and users; resolves once it accepts logins. */
export async function startMariadb(stateFile: string): Promise<void> {
  const state = await readState(stateFile);
  if (isRunning(state)) return;
  const child = spawnServer(state);
  state.pid = child.pid ?? 0;
  await writeState(state);
  await waitForMariadb(state);
}

/**
 * Stops then starts a server in place (same data, port and users); callable
 * from any test file. Defaults to the run's shared server: other files may be
 * using it, so restart it only from suites that run alone (e.g. the cluster
 * project, which has fileParallelism off).
 */
export async function restartMariadb(
  options: { signal?: "SIGTERM" | "SIGKILL"; stateFile?: string } = {},
): Promise<void> {
  const stateFile = options.stateFile ?? inject("mariadb").stateFile;
  await stopMariadb(stateFile, options.signal ?? "SIGTERM");
  await startMariadb(stateFile);
}

/** Stops the server and deletes its data. Used by global-setup's teardown. */
export async function destroyMariadb(stateFile: string): Promise<void> {
  if (!existsSync(stateFile)) return;
  const state = await readState(stateFile);
  await stopMariadb(stateFile, "SIGTERM");
  await rm(state.baseDir, { recursive: true, force: true });
}

function sanitize(prefix: string): string {
  return prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_")
    .slice(0, 40);
}

/** Creates an empty database with a unique name; returns its full mysql:// URL. */
export async function createTestDatabase(prefix: string): Promise<string> {
  return createDatabaseOn(inject("mariadb").mysqlUrlBase, prefix);
}

/** Creates an empty database named `<prefix>_<random>` on the server at `urlBase`; returns its URL. */
export async function createDatabaseOn(urlBase: string, prefix: string): Promise<string> {
  const name = `${sanitize(prefix)}_${randomBytes(5).toString("hex")}`;
  const connection = await mysql.createConnection(urlBase);
  try {
    await connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await connection.end();
  }
  return `${urlBase}/${name}`;
}

/** Drops a database made by createTestDatabase. */
export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const connection = await mysql.createConnection(inject("mariadb").mysqlUrlBase);
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await connection.end();
  }
}
