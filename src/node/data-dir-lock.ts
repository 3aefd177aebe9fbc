import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Held while a node runs; released on close. */
export interface DataDirLock {
  release(): void;
}

/**
 * One live node per data directory: two nodes on one directory would share
 * one SQLite file and one token secret. The lock is `<dataDir>/aviso.lock`
 * holding the holder's pid, created exclusively; a lock whose process is gone
 * (the node was killed) is taken over.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, "aviso.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return { release: () => releaseIfOurs(path) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readHolder(path);
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new Error(
          `Data directory ${dataDir} is in use by another Aviso node (pid ${holder}). ` +
            "Stop that node, or give this one its own directory: --data-dir <dir> (AVISO_DATA_DIR).",
        );
      }
      // Left by a node that died without releasing it (or by this very process): take it over.
      rmSync(path, { force: true });
    }
  }
  throw new Error(`Could not lock data directory ${dataDir}: ${path} keeps reappearing.`);
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else — alive all the same.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function releaseIfOurs(path: string): void {
  if (readHolder(path) === process.pid) rmSync(path, { force: true });
}
