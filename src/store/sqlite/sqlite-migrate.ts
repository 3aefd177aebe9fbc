import type { Database } from "better-sqlite3";
import { latestVersion, loadMigrations, schemaTooNewError } from "../migration-files.ts";

const migrationsDirectory = new URL("./migrations/", import.meta.url);

/**
 * Applies pending migrations under BEGIN EXCLUSIVE, which also keeps a second
 * process on the same file out until we are done. SQLite DDL is
 * transactional, so a failed migration leaves the schema as it was.
 */
export async function migrateSqlite(db: Database): Promise<void> {
  const migrations = await loadMigrations(migrationsDirectory);
  const known = latestVersion(migrations);
  db.exec("BEGIN EXCLUSIVE");
  try {
    db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)",
    );
    const current =
      db.prepare<[], number | null>("SELECT MAX(version) FROM schema_migrations").pluck().get() ?? 0;
    if (current > known) throw schemaTooNewError(current, known, `SQLite database ${db.name}`);
    const record = db.prepare<[number, number]>(
      "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
    );
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      record.run(migration.version, Date.now());
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
