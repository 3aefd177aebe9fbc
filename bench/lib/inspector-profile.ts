/**
 * CPU-profiles the node over exactly the measured window through its
 * inspector (the node runs with NODE_OPTIONS=--inspect=127.0.0.1:0; Node 20
 * refuses --cpu-prof in NODE_OPTIONS): Profiler.start at the window's start,
 * Profiler.stop at its end, the profile written as a .cpuprofile file for
 * Chrome DevTools or bench/profile-top.ts. The same connection forces a full
 * garbage collection for the soak (what is retained vs not yet collected).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import WebSocket from "ws";
import { waitUntil, withTimeout } from "./bounded.ts";

const INSPECTOR_URL = /Debugger listening on (ws:\/\/\S+)/;

export interface WindowProfiler {
  start(): Promise<void>;
  /** Stops sampling and writes `<dir>/<name>.cpuprofile`; returns its path. */
  stopAndSave(dir: string, name: string): Promise<string>;
  close(): void;
}

/** A connection to the node's inspector: one method call at a time, each bounded in time. */
export interface Inspector {
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

export async function connectInspector(nodeOutput: () => string): Promise<Inspector> {
  await waitUntil("the node's inspector URL", () => INSPECTOR_URL.test(nodeOutput()), { timeoutMs: 10_000 });
  const url = (INSPECTOR_URL.exec(nodeOutput()) as RegExpExecArray)[1] as string;
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024 * 1024 });
  await withTimeout(
    "inspector connect",
    new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    }),
    10_000,
  );
  let nextId = 1;
  const calls = new Map<number, (reply: { result?: unknown; error?: unknown }) => void>();
  ws.on("message", (data: Buffer) => {
    const reply = JSON.parse(data.toString("utf8")) as { id?: number; result?: unknown; error?: unknown };
    if (reply.id !== undefined) calls.get(reply.id)?.(reply);
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> => {
    const id = nextId++;
    return withTimeout(
      `inspector ${method}`,
      new Promise((resolve, reject) => {
        calls.set(id, (reply) => {
          calls.delete(id);
          if (reply.error !== undefined) reject(new Error(`${method}: ${JSON.stringify(reply.error)}`));
          else resolve(reply.result);
        });
        ws.send(JSON.stringify({ id, method, params }));
      }),
      60_000,
    );
  };
  return { call, close: () => ws.terminate() };
}

/**
 * What to profile: "cpu" (a .cpuprofile) or "alloc", every allocation
 * sampled about once per 16 KB, including objects the collector has freed
 * by the end (a .heapprofile for DevTools or bench/alloc-top.ts): garbage is
 * what the collector's share of the CPU pays for.
 */
export type ProfileKind = "cpu" | "alloc";

export async function attachProfiler(
  nodeOutput: () => string,
  kind: ProfileKind = "cpu",
  samplingIntervalUs = 500,
): Promise<WindowProfiler> {
  if (kind === "alloc") return attachAllocationProfiler(nodeOutput);
  const { call, close } = await connectInspector(nodeOutput);
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
  return {
    start: async () => {
      await call("Profiler.start");
    },
    async stopAndSave(dir, name) {
      const result = (await call("Profiler.stop")) as { profile: unknown };
      const path = join(dir, `${name}.cpuprofile`);
      await writeFile(path, JSON.stringify(result.profile));
      return path;
    },
    close,
  };
}

async function attachAllocationProfiler(nodeOutput: () => string): Promise<WindowProfiler> {
  const { call, close } = await connectInspector(nodeOutput);
  await call("HeapProfiler.enable");
  return {
    start: async () => {
      await call("HeapProfiler.startSampling", {
        samplingInterval: 16_384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    },
    async stopAndSave(dir, name) {
      const result = (await call("HeapProfiler.stopSampling")) as { profile: unknown };
      const path = join(dir, `${name}.heapprofile`);
      await writeFile(path, JSON.stringify(result.profile));
      return path;
    },
    close,
  };
}
