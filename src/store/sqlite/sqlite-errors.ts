import { SqliteError } from "better-sqlite3";
import { AvisoError } from "../../errors/aviso-error.ts";

/*
 * SQLite failures classified by their extended result code (never by message):
 * https://www.sqlite.org/rescode.html
 */

/** A PRIMARY KEY or UNIQUE constraint rejected the row. */
export function isDuplicateKey(error: unknown): boolean {
  return (
    error instanceof SqliteError &&
    (error.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || error.code === "SQLITE_CONSTRAINT_UNIQUE")
  );
}

// Busy/locked (another process holds the file past busy_timeout), I/O errors,
// a full disk or an unopenable file: nothing was committed and a retry may work.
const unavailablePrefixes = [
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_IOERR",
  "SQLITE_FULL",
  "SQLITE_CANTOPEN",
  "SQLITE_READONLY",
];

export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof SqliteError)) return false;
  const code = error.code;
  return unavailablePrefixes.some((prefix) => code === prefix || code.startsWith(`${prefix}_`));
}

/** Normalises a failure of `action` into the AvisoError the Store contract promises. */
export function toStoreError(error: unknown, action: string): AvisoError {
  if (error instanceof AvisoError) return error;
  if (isUnavailable(error)) {
    return new AvisoError("STORE_UNAVAILABLE", `SQLite store unavailable during ${action}`, { cause: error });
  }
  return new AvisoError("INTERNAL", `SQLite store failed during ${action}`, { cause: error });
}
