import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { eventually } from "../helpers/eventually.ts";
import { TestSocket } from "../helpers/ws-client.ts";

/** ZooKeeper's JVM, MariaDB's first initialisation and three tsx node starts on two busy cores. */
const readyTimeoutMs = 240_000;
/** Nodes hand over (≤ 2 × shutdownTimeoutMs), then ZooKeeper and MariaDB stop. */
const stopTimeoutMs = 60_000;
const repoRoot = new URL("../..", import.meta.url).pathname;

interface Printed {
  nodes: Array<{ id: string; url: string }>;
  pids: Map<string, number>;
}

let dataDir: string;
let launcher: ChildProcess;
let output = "";
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
let printed: Printed;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "aviso-launcher-test-"));
  const basePort = await freeBasePort();
  launcher = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/cluster.ts",
      "--nodes",
      "3",
      "--base-port",
      String(basePort),
      "--data-dir",
      dataDir,
      "--fresh",
      "--session-timeout-ms",
      "2000",
    ],
    { cwd: repoRoot, env: { ...process.env, AVISO_BCRYPT_COST: "4" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  launcher.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  launcher.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  exited = new Promise((resolve) => launcher.once("exit", (code, signal) => resolve({ code, signal })));
  await waitForReadyLine();
  printed = parsePrinted(output);
}, readyTimeoutMs + 10_000);

afterAll(async () => {
  // Only when a test failed before the SIGINT test: leave nothing behind.
  if (launcher !== undefined && launcher.exitCode === null && launcher.signalCode === null) {
    launcher.kill("SIGINT");
    const stopped = await Promise.race([exited, delay(stopTimeoutMs)]);
    if (stopped === undefined) {
      launcher.kill("SIGKILL");
      for (const pid of parsePrinted(output).pids.values()) killQuietly(pid);
    }
  }
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}, stopTimeoutMs + 10_000);

describe("npm run cluster (scripts/cluster.ts)", () => {
  it("prints each node's URL, ZooKeeper and MySQL URLs, every pid and the log files", () => {
    expect(printed.nodes.map((node) => node.id)).toEqual(["node-1", "node-2", "node-3"]);
    expect([...printed.pids.keys()].sort()).toEqual(["mariadb", "node-1", "node-2", "node-3", "zookeeper"]);
    expect(output).toMatch(/^zookeeper\s+127\.0\.0\.1:\d+\/aviso\s/m);
    expect(output).toMatch(/^mariadb\s+mysql:\/\/aviso:\w+@127\.0\.0\.1:\d+\/aviso\s/m);
    expect(output).toContain("/v1/auth/register");
    for (const name of printed.pids.keys()) {
      expect(existsSync(join(dataDir, "logs", `${name}.log`))).toBe(true);
    }
    for (const pid of printed.pids.values()) expect(isRunning(pid)).toBe(true);
  });

  it("has every node list the three members in GET /v1/cluster", async () => {
    const { api } = await newUser(printed.nodes[0]?.url as string, "launcher");
    for (const node of printed.nodes) {
      const view = await new Api(node.url, api.token).get<{
        mode: string;
        self: { id: string };
        members: Array<{ id: string; httpUrl: string }>;
      }>("/v1/cluster");
      expect(view.status).toBe(200);
      expect(view.body.mode).toBe("cluster");
      expect(view.body.self.id).toBe(node.id);
      expect(view.body.members.map((member) => member.id).sort()).toEqual(["node-1", "node-2", "node-3"]);
      expect(view.body.members.map((member) => member.httpUrl).sort()).toEqual(
        printed.nodes.map((printedNode) => printedNode.url).sort(),
      );
    }
  });

  it("publishes through one node and delivers through others (REST queue and WebSocket topic)", async () => {
    const [one, two, three] = printed.nodes.map((node) => node.url) as [string, string, string];
    const { api } = await newUser(one, "launcher");
    const onTwo = new Api(two, api.token);
    const queue = uniqueName("q");
    expect((await api.post("/v1/queues", { name: queue })).status).toBe(201);
    const published = await api.post(`/v1/queues/${queue}/messages`, {
      messages: [{ payload: "a" }, { payload: "b" }],
    });
    expect(published.status).toBe(201);
    const received = await onTwo.post<{ messages: Array<{ payload: string; receipt: string }> }>(
      `/v1/queues/${queue}/receive`,
      { max: 10, waitMs: 5000 },
    );
    expect(received.body.messages.map((message) => message.payload)).toEqual(["a", "b"]);
    const acked = await onTwo.post(`/v1/queues/${queue}/ack`, {
      receipts: received.body.messages.map((message) => message.receipt),
    });
    expect(acked.body).toEqual({ acked: 2, stale: [] });

    const topic = uniqueName("t");
    expect((await api.post("/v1/topics", { name: topic })).status).toBe(201);
    const socket = await TestSocket.connect(`${three.replace(/^http/, "ws")}/v1/ws`, api.token as string);
    try {
      expect((await socket.request({ op: "subscribe", id: 1, topic })).op).toBe("ok");
      for (const payload of [1, 2, 3]) {
        expect((await onTwo.post(`/v1/topics/${topic}/messages`, { payload, key: "k" })).status).toBe(201);
      }
      const frames = await socket.collect((frame) => frame.op === "message", 3);
      expect(frames.map((frame) => frame.payload)).toEqual([1, 2, 3]);
    } finally {
      await socket.close();
    }
  });

  it("stops every process it started on SIGINT and exits 0", async () => {
    launcher.kill("SIGINT");
    const result = await Promise.race([exited, delay(stopTimeoutMs)]);
    expect(result, `launcher did not exit in time:\n${output}`).toEqual({ code: 0, signal: null });
    expect(output).toMatch(/^stopped\.$/m);
    // Orphans are reaped by init a moment after the launcher exits.
    await eventually(
      () => {
        for (const [name, pid] of printed.pids) expect(isRunning(pid), `${name} (pid ${pid})`).toBe(false);
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  });
});

/** Resolves on the launcher's `ready:` line; rejects with its output if it exits first or the deadline passes. */
function waitForReadyLine(): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`launcher not ready in time:\n${output}`)),
      readyTimeoutMs,
    );
    const onData = () => {
      if (!/^ready: 3 nodes/m.test(output)) return;
      clearTimeout(timer);
      resolve();
    };
    launcher.stdout?.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`launcher exited (${code ?? signal}) before ready:\n${output}`));
    });
  });
}

function parsePrinted(text: string): Printed {
  const nodes = [...text.matchAll(/^(node-\d+)\s+(http:\/\/127\.0\.0\.1:\d+)\s/gm)].map((match) => ({
    id: match[1] as string,
    url: match[2] as string,
  }));
  const pids = new Map<string, number>();
  for (const match of text.matchAll(/^(\S+)\s+.*\spid (\d+)\s+log /gm)) {
    pids.set(match[1] as string, Number(match[2]));
  }
  return { nodes, pids };
}

/** True while the pid exists and is not a zombie. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** A base port whose three HTTP ports and three peer ports (base + 1000) are free, below the ephemeral range. */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 15_000 + Math.floor(Math.random() * 15_000);
    const ports = [0, 1, 2, 1000, 1001, 1002].map((offset) => base + offset);
    const free = await Promise.all(ports.map(isFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error("no free base port found");
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}
