import type { Pool, RowDataPacket } from "mysql2/promise";
import { AvisoError } from "../../errors/aviso-error.ts";
import { latestVersion, loadMigrations, schemaTooNewError, splitStatements } from "../migration-files.ts";

const migrationsDirectory = new URL("./migrations/", import.meta.url);
const lockName = "aviso_migrate";
const lockTimeoutSeconds = 60;

/**
 * Applies pending migrations while holding a server-wide named lock, so nodes
 * starting together migrate once. GET_LOCK belongs to a session, so all of it
 * runs on one dedicated connection. MySQL DDL commits implicitly; each
 * migration is written to be re-runnable and is recorded only after it ran.
 */
export async function migrateMysql(pool: Pool, database: string): Promise<void> {
  const migrations = await loadMigrations(migrationsDirectory);
  const known = latestVersion(migrations);
  const connection = await pool.getConnection();
  let locked = false;
  try {
    const [lockRows] = await connection.query<RowDataPacket[]>("SELECT GET_LOCK(?, ?) AS locked", [
      lockName,
      lockTimeoutSeconds,
    ]);
    if (lockRows[0]?.locked !== 1) {
      throw new AvisoError(
        "STORE_UNAVAILABLE",
        `Another process held the '${lockName}' lock for ${lockTimeoutSeconds} s; migration did not run`,
      );
    }
    locked = true;
    await connection.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE=InnoDB",
    );
    const [versionRows] = await connection.query<RowDataPacket[]>(
      "SELECT MAX(version) AS version FROM schema_migrations",
    );
    const current = Number(versionRows[0]?.version ?? 0);
    if (current > known) throw schemaTooNewError(current, known, `MySQL database ${database}`);
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      for (const statement of splitStatements(migration.sql)) await connection.query(statement);
      // GET_LOCK is per server: on Galera two brokers migrating through different nodes both get
      // here (every migration is idempotent), and the second record of a version must not fail.
      await connection.query(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?) ON DUPLICATE KEY UPDATE version = version",
        [migration.version, Date.now()],
      );
    }
  } finally {
    if (locked) await connection.query("SELECT RELEASE_LOCK(?)", [lockName]).catch(() => undefined);
    connection.release();
  }
}
