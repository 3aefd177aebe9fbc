import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ensureMariadbInstalled,
  isRunning,
  type MariadbState,
  readState,
  startMariadb,
  stopMariadb,
} from "../../test/helpers/mariadb.ts";

const run = promisify(execFile);

/** The launcher's MariaDB: one server whose data stays in the data dir between runs. */
export interface LauncherMariadb {
  readonly state: MariadbState;
  /** mysql://aviso:<password>@127.0.0.1:<port>/<database> */
  readonly url: string;
}

const appUser = "aviso";
const database = "aviso";
/** Unix socket paths longer than this do not fit sockaddr_un (108 bytes with the terminator). */
const maxSocketPathLength = 100;

/**
 * Starts MariaDB on `port` with its data under `dir` (initialised on first
 * use), creates the app user and the database (init file), and resolves
 * once the app user can log in. The server is spawned detached (see test/helpers/mariadb.ts);
 * stop it with stopMariadb(state.stateFile).
 */
export async function startLauncherMariadb(options: {
  dir: string;
  port: number;
  password: string;
  logFile: string;
}): Promise<LauncherMariadb> {
  const { dir, port, password, logFile } = options;
  const { server, installDb } = await ensureMariadbInstalled();
  const dataDir = join(dir, "data");
  const tmpDir = join(dir, "tmp");
  await mkdir(tmpDir, { recursive: true });
  if (!existsSync(join(dataDir, "mysql"))) {
    await run(installDb, [
      "--no-defaults",
      `--datadir=${dataDir}`,
      "--user=root",
      "--auth-root-authentication-method=socket",
      "--skip-test-db",
      `--tmpdir=${tmpDir}`,
    ]).catch((error: unknown) => {
      throw new Error(`mariadb-install-db failed: ${String(error)}`);
    });
  }
  // Runs at every start; IF NOT EXISTS keeps it harmless on a re-used data dir.
  const initFile = join(dir, "init.sql");
  await writeFile(
    initFile,
    [
      `CREATE USER IF NOT EXISTS '${appUser}'@'localhost' IDENTIFIED BY '${password}';`,
      `CREATE USER IF NOT EXISTS '${appUser}'@'%' IDENTIFIED BY '${password}';`,
      `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;`,
      // Data privileges on its database only, as docs/operations.md advises for production.
      `GRANT ALL PRIVILEGES ON \`${database}\`.* TO '${appUser}'@'localhost';`,
      `GRANT ALL PRIVILEGES ON \`${database}\`.* TO '${appUser}'@'%';`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const stateFile = join(dir, "state.json");
  if (existsSync(stateFile)) {
    // A server an earlier, crashed launcher started but never recorded: stop it before re-using its data.
    const previous = await readState(stateFile).catch(() => undefined);
    if (previous !== undefined && isRunning(previous)) await stopMariadb(stateFile);
  }
  const state: MariadbState = {
    binary: server,
    args: [
      "--no-defaults",
      "--user=root",
      `--datadir=${dataDir}`,
      `--tmpdir=${tmpDir}`,
      `--socket=${socketPath(dir)}`,
      `--pid-file=${join(dir, "mysqld.pid")}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      "--skip-name-resolve",
      `--init-file=${initFile}`,
      "--character-set-server=utf8mb4",
      "--collation-server=utf8mb4_unicode_ci",
      "--max-connections=1000",
      // A primary as docs/operations.md and deploy/ describe it: a commit survives
      // a crash, and a replica can be attached (binlog, GTID) without a restart.
      "--innodb-flush-log-at-trx-commit=1",
      "--server-id=1",
      "--log-bin=aviso-bin",
      "--binlog-format=ROW",
      "--sync-binlog=1",
      "--expire-logs-days=2",
    ],
    pid: 0,
    port,
    socket: socketPath(dir),
    baseDir: dir,
    dataDir,
    logFile,
    user: appUser,
    password,
    stateFile,
    launcherPid: process.pid,
  };
  await writeFile(state.stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  await startMariadb(state.stateFile);
  const started = await readState(state.stateFile);
  const base = `mysql://${appUser}:${password}@127.0.0.1:${port}`;
  return { state: started, url: `${base}/${database}` };
}

function socketPath(dir: string): string {
  const local = join(dir, "mysqld.sock");
  if (local.length <= maxSocketPathLength) return local;
  const digest = createHash("sha256").update(dir).digest("hex").slice(0, 12);
  return join(tmpdir(), `aviso-cluster-${digest}.sock`);
}
