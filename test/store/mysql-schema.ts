import mysql from "mysql2/promise";
import { loadMigrations, splitStatements } from "../../src/store/migration-files.ts";

/**
 * A database migrated as far as `version` and no further, as a node of that
 * version left it, and a connection to it (multiple statements allowed), for
 * tests that write rows the way that version did and then migrate the rest.
 */
export async function databaseAtSchema(databaseUrl: string, version: number): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({ uri: databaseUrl, multipleStatements: true });
  await connection.query(
    "CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE=InnoDB",
  );
  for (const migration of await loadMigrations(
    new URL("../../src/store/mysql/migrations/", import.meta.url),
  )) {
    if (migration.version > version) continue;
    for (const statement of splitStatements(migration.sql)) await connection.query(statement);
    await connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", [
      migration.version,
    ]);
  }
  return connection;
}
