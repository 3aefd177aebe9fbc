import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  latestVersion,
  loadMigrations,
  type Migration,
  schemaTooNewError,
  splitStatements,
} from "../../src/store/migration-files.ts";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A migrations directory holding `files` (name → SQL), as the `file:` URL loadMigrations takes. */
function migrationsDirectory(files: Record<string, string>): URL {
  const directory = mkdtempSync(join(tmpdir(), "aviso-migrations-"));
  directories.push(directory);
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(directory, name), sql);
  return pathToFileURL(`${directory}/`);
}

describe("loadMigrations", () => {
  it("reads every NNN_name.sql file with its version and SQL, ordered by version as a number", async () => {
    const directory = migrationsDirectory({
      "100_late.sql": "-- 100",
      "010_ten.sql": "-- 10",
      "2_two.sql": "-- 2",
      "011_eleven.sql": "-- 11",
      "9_nine.sql": "-- 9",
      "001_first-one.sql": "CREATE TABLE a (id INT);",
      "003_three.sql": "-- 3",
    });
    const migrations = await loadMigrations(directory);
    expect(migrations.map((m) => m.version)).toEqual([1, 2, 3, 9, 10, 11, 100]);
    expect(migrations[0]).toEqual({ version: 1, name: "001_first-one.sql", sql: "CREATE TABLE a (id INT);" });
    expect(migrations[4]).toEqual({ version: 10, name: "010_ten.sql", sql: "-- 10" });
  });

  it("skips files that are not named NNN_name.sql", async () => {
    const directory = migrationsDirectory({
      "001_init.sql": "-- 1",
      "README.md": "not a migration",
      "x002_prefixed.sql": "-- no",
      "003_suffixed.sql.bak": "-- no",
      "004_.sql": "-- no name",
      "005_two words.sql": "-- a space",
      "abc_letters.sql": "-- no number",
      "_006_leading.sql": "-- no",
      "007-dash.sql": "-- no underscore",
    });
    const migrations = await loadMigrations(directory);
    expect(migrations.map((m) => m.name)).toEqual(["001_init.sql"]);
  });

  it("refuses two migrations with the same version, naming it and the directory", async () => {
    const directory = migrationsDirectory({ "001_a.sql": "", "1_b.sql": "", "002_c.sql": "" });
    await expect(loadMigrations(directory)).rejects.toThrow(
      `Two migrations share version 1 in ${directory.pathname}`,
    );
  });

  it("refuses a directory with no migrations, naming the directory", async () => {
    const directory = migrationsDirectory({ "README.md": "" });
    await expect(loadMigrations(directory)).rejects.toThrow(`No migrations found in ${directory.pathname}`);
  });

  it("reads the SQLite backend's own migrations as versions 1, 2, 3, … without a gap", async () => {
    const migrations = await loadMigrations(new URL("../../src/store/sqlite/migrations/", import.meta.url));
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
  });
});

describe("latestVersion", () => {
  const at = (version: number): Migration => ({ version, name: `${version}_x.sql`, sql: "" });

  it("is the highest version, wherever it stands in the list", () => {
    expect(latestVersion([at(3), at(7), at(5)])).toBe(7);
    expect(latestVersion([at(1)])).toBe(1);
  });

  it("is 0 for no migrations", () => {
    expect(latestVersion([])).toBe(0);
  });
});

describe("schemaTooNewError", () => {
  it("refuses to start as INTERNAL, naming the database's version, the newest known one and where", () => {
    const error = schemaTooNewError(9, 6, "SQLite database /data/aviso.db");
    expect(error.reason).toBe("INTERNAL");
    expect(error.message).toBe(
      "The SQLite database /data/aviso.db schema is at version 9, newer than version 6, the newest this Aviso knows. " +
        "Upgrade Aviso (or point it at another database); refusing to start.",
    );
  });
});

describe("splitStatements", () => {
  it("ends a statement at a line ending with `;`, joining its lines and dropping the `;`", () => {
    expect(splitStatements("CREATE TABLE a (\n  id INT\n);\nCREATE INDEX i ON a (id);\n")).toEqual([
      "CREATE TABLE a (\n  id INT\n)",
      "CREATE INDEX i ON a (id)",
    ]);
  });

  it("drops `--` comments, whole lines or after code, and blank lines", () => {
    const sql = "-- a header\n\nCREATE TABLE a (id INT); -- why\n   \n-- between\nDROP TABLE b; --done\n";
    expect(splitStatements(sql)).toEqual(["CREATE TABLE a (id INT)", "DROP TABLE b"]);
  });

  it("splits a file with CRLF line ends the same way, a comment after a `;` included", () => {
    const sql = "-- a header\r\nCREATE TABLE a (id INT); -- why\r\nDROP TABLE b;\r\n";
    expect(splitStatements(sql)).toEqual(["CREATE TABLE a (id INT)", "DROP TABLE b"]);
  });

  it("ends a statement at a `;` followed by spaces, trimmed", () => {
    expect(splitStatements("  SELECT 1;   \nSELECT 2 ;\n")).toEqual(["SELECT 1", "SELECT 2"]);
  });

  it("does not end a statement at a `;` inside a line", () => {
    expect(splitStatements("SELECT ';' AS a, 1\nFROM t;")).toEqual(["SELECT ';' AS a, 1\nFROM t"]);
  });

  it("keeps a last statement that has no `;`, trimmed", () => {
    expect(splitStatements("SELECT 1;\n  SELECT 2\n  FROM t  \n")).toEqual([
      "SELECT 1",
      "SELECT 2\n  FROM t",
    ]);
  });

  it("gives no statements for only comments and blank lines", () => {
    expect(splitStatements("-- nothing\n\n   \n")).toEqual([]);
    expect(splitStatements("")).toEqual([]);
  });
});
