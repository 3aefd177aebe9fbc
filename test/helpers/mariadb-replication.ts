/**
 * A MariaDB primary with a semi-synchronous GTID replica, for tests of what
 * Aviso does when its database fails over. Both servers come from
 * launchMariadb (own temp dirs, free loopback ports, state files) with the
 * replication options below; root-level work (replication, promotion) goes
 * through an admin user, while the app user the brokers use has plain data
 * privileges — so, unlike an ALL PRIVILEGES user, it is refused by
 * `read_only` like a production account would be.
 */
import { randomBytes } from "node:crypto";
import mysql, { type Connection, type RowDataPacket } from "mysql2/promise";
import { destroyMariadb, launchMariadb, type MariadbState, stopMariadb } from "./mariadb.ts";

/** What the broker's account may do: enough to migrate and use the schema, and not READ_ONLY ADMIN. */
export const appPrivileges = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER";
const adminUser = "aviso_admin";

/** Options of both servers: GTIDs in strict mode, row events, a binlog flushed per commit. */
const commonArgs = [
  "--log-bin=mariadb-bin",
  "--binlog-format=ROW",
  "--gtid-strict-mode=1",
  "--sync-binlog=1",
];

export function primaryArgs(semiSyncTimeoutMs: number): string[] {
  return [
    "--server-id=1",
    ...commonArgs,
    "--rpl-semi-sync-master-enabled=1",
    `--rpl-semi-sync-master-timeout=${semiSyncTimeoutMs}`,
    // Commit in the engine only after the replica acknowledged: no client ever sees a row the replica lacks.
    "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
  ];
}

export const replicaArgs: readonly string[] = [
  "--server-id=2",
  ...commonArgs,
  // Its binlog holds what it applied too, so it can serve replicas of its own once promoted.
  "--log-slave-updates=1",
  "--relay-log=relay-bin",
  "--read-only=1",
  "--rpl-semi-sync-slave-enabled=1",
];

export interface SemiSyncStatus {
  /** Rpl_semi_sync_master_status: ON while commits wait for the replica. */
  on: boolean;
  /** Commits the replica acknowledged / that went out without an acknowledgement. */
  yesTx: number;
  noTx: number;
  clients: number;
}

export interface ReplicatedMariadb {
  readonly primary: MariadbState;
  readonly replica: MariadbState;
  /** `mysql://aviso:<pw>@127.0.0.1:<primary>,127.0.0.1:<replica>` — append `/<database>`. */
  readonly urlBase: string;
  /** Single-host bases for the app user. */
  readonly primaryUrlBase: string;
  readonly replicaUrlBase: string;
  /** An admin connection to one server (the caller ends it). */
  admin(server: "primary" | "replica"): Promise<Connection>;
  /** Resolves once the replica runs both threads and has applied everything the primary logged. */
  waitForReplica(timeoutMs?: number): Promise<void>;
  semiSyncStatus(): Promise<SemiSyncStatus>;
  /** kill -9 of the primary, by the pid in its state file; resolves once it is gone. */
  killPrimary(): Promise<void>;
  /** Makes the replica a writable primary; resolves with how long that took. */
  promoteReplica(timeoutMs?: number): Promise<{ promotionMs: number }>;
  /** Stops both servers and deletes their data. */
  destroy(): Promise<void>;
}

/** Starts a primary and a replica attached to it, and waits until the replica is running. */
export async function startReplicatedMariadb(
  options: { semiSyncTimeoutMs?: number } = {},
): Promise<ReplicatedMariadb> {
  const password = randomBytes(12).toString("hex");
  const shared = {
    password,
    appPrivileges,
    // Users are per server: keep them out of the binlog so GTID sequences hold replicated writes only.
    initPrologue: ["SET SESSION sql_log_bin = 0;"],
    initEpilogue: [
      `CREATE USER IF NOT EXISTS '${adminUser}'@'localhost' IDENTIFIED BY '${password}';`,
      `CREATE USER IF NOT EXISTS '${adminUser}'@'%' IDENTIFIED BY '${password}';`,
      `GRANT ALL PRIVILEGES ON *.* TO '${adminUser}'@'localhost' WITH GRANT OPTION;`,
      `GRANT ALL PRIVILEGES ON *.* TO '${adminUser}'@'%' WITH GRANT OPTION;`,
    ],
  };
  const launched = await Promise.allSettled([
    launchMariadb({ ...shared, extraArgs: primaryArgs(options.semiSyncTimeoutMs ?? 5000) }),
    launchMariadb({ ...shared, extraArgs: replicaArgs }),
  ]);
  const [primary, replica] = launched.map((result) =>
    result.status === "fulfilled" ? result.value : undefined,
  );
  if (primary === undefined || replica === undefined) {
    await Promise.all([primary, replica].map((server) => server && destroyMariadb(server.stateFile)));
    const failure = launched.find((result) => result.status === "rejected");
    throw failure?.reason ?? new Error("a MariaDB server did not start");
  }
  const set = replicatedSet(primary, replica, password);
  try {
    const connection = await set.admin("replica");
    try {
      await connection.query(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, " +
          "MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos",
        [primary.port, adminUser, password],
      );
      await connection.query("START SLAVE");
    } finally {
      await connection.end();
    }
    await set.waitForReplica();
    return set;
  } catch (error) {
    await set.destroy();
    throw error;
  }
}

function replicatedSet(primary: MariadbState, replica: MariadbState, password: string): ReplicatedMariadb {
  const base = (server: MariadbState) => `mysql://${server.user}:${password}@127.0.0.1:${server.port}`;
  const admin = (server: "primary" | "replica") =>
    mysql.createConnection({
      host: "127.0.0.1",
      port: (server === "primary" ? primary : replica).port,
      user: adminUser,
      password,
      connectTimeout: 2000,
    });
  return {
    primary,
    replica,
    urlBase: `mysql://${primary.user}:${password}@127.0.0.1:${primary.port},127.0.0.1:${replica.port}`,
    primaryUrlBase: base(primary),
    replicaUrlBase: base(replica),
    admin,
    async waitForReplica(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const source = await admin("primary");
      const target = await admin("replica");
      try {
        for (;;) {
          const status = await slaveStatus(target);
          const [posRows] = await source.query<RowDataPacket[]>("SELECT @@global.gtid_binlog_pos AS pos");
          const primaryPos = String(posRows[0]?.pos ?? "");
          const [appliedRows] = await target.query<RowDataPacket[]>("SELECT @@global.gtid_slave_pos AS pos");
          const appliedPos = String(appliedRows[0]?.pos ?? "");
          if (status.ioRunning && status.sqlRunning && appliedPos === primaryPos) return;
          if (status.lastError !== "") throw new Error(`replica stopped: ${status.lastError}`);
          if (Date.now() > deadline) {
            throw new Error(
              `replica not caught up within ${timeoutMs} ms: io=${status.ioRunning} sql=${status.sqlRunning} ` +
                `primary=${primaryPos} replica=${appliedPos}`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        await Promise.all([source.end(), target.end()]);
      }
    },
    async semiSyncStatus() {
      const connection = await admin("primary");
      try {
        const [rows] = await connection.query<RowDataPacket[]>(
          "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'",
        );
        const value = (name: string) =>
          String(rows.find((row) => row.Variable_name === `Rpl_semi_sync_master_${name}`)?.Value ?? "");
        return {
          on: value("status") === "ON",
          yesTx: Number(value("yes_tx")),
          noTx: Number(value("no_tx")),
          clients: Number(value("clients")),
        };
      } finally {
        await connection.end();
      }
    },
    async killPrimary() {
      await stopMariadb(primary.stateFile, "SIGKILL");
    },
    async promoteReplica(timeoutMs = 30_000) {
      const started = Date.now();
      const connection = await admin("replica");
      try {
        // Apply everything already received before cutting the replica loose: with semi-sync an
        // acknowledged commit may sit in the relay log unapplied, and RESET SLAVE ALL deletes relay logs.
        await connection.query("STOP SLAVE IO_THREAD");
        const received = (await slaveStatus(connection)).ioPos;
        const [waited] = await connection.query<RowDataPacket[]>("SELECT MASTER_GTID_WAIT(?, ?) AS result", [
          received,
          timeoutMs / 1000,
        ]);
        if (Number(waited[0]?.result) !== 0) {
          throw new Error(`replica did not apply its relay log (up to ${received}) within ${timeoutMs} ms`);
        }
        await connection.query("STOP SLAVE");
        await connection.query("RESET SLAVE ALL");
        await connection.query("SET GLOBAL read_only = 0");
      } finally {
        await connection.end();
      }
      return { promotionMs: Date.now() - started };
    },
    async destroy() {
      await Promise.all([destroyMariadb(primary.stateFile), destroyMariadb(replica.stateFile)]);
    },
  };
}

interface SlaveStatus {
  ioRunning: boolean;
  sqlRunning: boolean;
  /** Gtid_IO_Pos: the last GTID received into the relay log. */
  ioPos: string;
  lastError: string;
}

async function slaveStatus(connection: Connection): Promise<SlaveStatus> {
  const [rows] = await connection.query<RowDataPacket[]>("SHOW SLAVE STATUS");
  const row = rows[0];
  if (row === undefined) return { ioRunning: false, sqlRunning: false, ioPos: "", lastError: "" };
  return {
    ioRunning: row.Slave_IO_Running === "Yes",
    sqlRunning: row.Slave_SQL_Running === "Yes",
    ioPos: String(row.Gtid_IO_Pos ?? ""),
    lastError:
      String(row.Last_SQL_Error ?? "") ||
      (row.Slave_IO_Running === "No" ? String(row.Last_IO_Error ?? "") : ""),
  };
}
