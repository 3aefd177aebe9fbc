import { readdir, readFile } from "node:fs/promises";
import { AvisoError } from "../errors/aviso-error.ts";

/** One numbered schema change, read from `NNN_description.sql`. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const fileNamePattern = /^(\d+)_[\w-]+\.sql$/;

/** Reads a backend's migrations directory, ordered by version; versions must be unique. */
export async function loadMigrations(directory: URL): Promise<Migration[]> {
  const names = await readdir(directory);
  const migrations: Migration[] = [];
  for (const name of names) {
    const match = fileNamePattern.exec(name);
    if (match?.[1] === undefined) continue;
    const sql = await readFile(new URL(name, directory), "utf8");
    migrations.push({ version: Number(match[1]), name, sql });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]?.version === migrations[i - 1]?.version) {
      throw new Error(`Two migrations share version ${migrations[i]?.version} in ${directory.pathname}`);
    }
  }
  if (migrations.length === 0) throw new Error(`No migrations found in ${directory.pathname}`);
  return migrations;
}

/** The newest schema version this code knows. */
export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((latest, m) => Math.max(latest, m.version), 0);
}

/** Thrown when the database was migrated by a newer Aviso: running old code against it could corrupt it. */
export function schemaTooNewError(databaseVersion: number, knownVersion: number, where: string): AvisoError {
  return new AvisoError(
    "INTERNAL",
    `The ${where} schema is at version ${databaseVersion}, newer than version ${knownVersion}, the newest this Aviso knows. ` +
      "Upgrade Aviso (or point it at another database); refusing to start.",
  );
}

/**
 * Splits a migration into statements for drivers that run one at a time.
 * Our migrations keep to a simple dialect: `--` line comments and a `;` that
 * ends a line ends a statement (no semicolons inside string literals).
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  for (const rawLine of sql.split("\n")) {
    // No `$`: `.` stops at a CR, so `--.*$` would not match on a CRLF line
    // and a comment after a statement's `;` would join it to the next one.
    const line = rawLine.replace(/--.*/, "").trimEnd();
    if (line.trim() === "") continue;
    if (line.endsWith(";")) {
      current.push(line.slice(0, -1));
      statements.push(current.join("\n").trim());
      current = [];
    } else {
      current.push(line);
    }
  }
  const rest = current.join("\n").trim();
  if (rest !== "") statements.push(rest);
  return statements;
}
