import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { childNodesPerTest, runRefusedNode } from "../helpers/aviso-node.ts";

/**
 * Issue 9, item 1: a second node on a port or data directory another node
 * holds refuses to start (exit non-zero, one plain line saying what to do)
 * instead of silently sharing it; a lock left by a dead node is taken over.
 */

const nodes = childNodesPerTest();
const tempDir = () => nodes.tempDir();
const start = (dataDir: string) => nodes.spawn({ dataDir });

/** The lines of stderr that are not JSON log lines: what a person reads. */
function plainLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("{"));
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.on("exit", resolve));
  return child.pid as number;
}

describe("one node per port and per data directory", () => {
  it("refuses a second node on a port a running node holds, with one line saying what to do", async () => {
    const first = await start(await tempDir());
    const port = new URL(first.url).port;

    const second = await runRefusedNode({ dataDir: await tempDir(), env: { AVISO_PORT: port } });

    expect(second.signal).toBeNull();
    expect(second.code).not.toBe(0);
    const lines = plainLines(second.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`:${port}`);
    expect(lines[0]).toContain("port is in use");
    expect(lines[0]).toContain("--port");
    // The first node still serves every request: nothing alternates between two brokers.
    for (let i = 0; i < 5; i++) expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
  });

  it("refuses a second node on a data directory a running node holds, and leaves its lock alone", async () => {
    const dataDir = await tempDir();
    const first = await start(dataDir);

    const second = await runRefusedNode({ dataDir });

    expect(second.signal).toBeNull();
    expect(second.code).not.toBe(0);
    const lines = plainLines(second.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(dataDir);
    expect(lines[0]).toContain(`pid ${first.pid}`);
    expect(lines[0]).toContain("--data-dir");
    expect((await readFile(join(dataDir, "aviso.lock"), "utf8")).trim()).toBe(String(first.pid));
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
  });

  it("takes over a lock left by a node that died", async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, "aviso.lock"), `${await deadPid()}\n`);

    const node = await start(dataDir);

    expect((await readFile(join(dataDir, "aviso.lock"), "utf8")).trim()).toBe(String(node.pid));
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
  });
});
