import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { newUser, uniqueName } from "../../../test/helpers/api.ts";
import { eventually, useNode } from "./helpers/clients.ts";

const { node } = useNode();
const worker = new URL("../examples/node-worker.ts", import.meta.url).pathname;
const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("examples/node-worker", () => {
  it("consumes a queue with acks, nacks what fails, and stops cleanly on SIGTERM", async () => {
    const { username, password, api } = await newUser(node().url, "worker");
    const queue = uniqueName("jobs");
    await api.post("/v1/queues", { name: queue, maxDeliveries: 2 });
    // Run from source (the aviso-source condition), as the example's header shows.
    const child = spawn(process.execPath, ["--import", "tsx", "--conditions=aviso-source", worker], {
      env: {
        ...process.env,
        AVISO_URLS: node().url,
        AVISO_USERNAME: username,
        AVISO_PASSWORD: password,
        AVISO_QUEUE: queue,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    started.push(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await eventually(() => expect(stderr).toContain(`connected to ${node().url} as ${username}`), {
      timeoutMs: 15_000,
    });
    await api.post(`/v1/queues/${queue}/messages`, {
      messages: [{ payload: { resize: 1 } }, { payload: { fail: true } }, { payload: { resize: 2 } }],
    });
    await eventually(
      () => {
        expect(stdout).toContain('done 1 {"resize":1}');
        expect(stdout).toContain('done 3 {"resize":2}');
        expect(stdout).toContain("failed 2 (delivery 2): this job always fails");
      },
      { timeoutMs: 10_000 },
    );
    // Both failures nacked; after maxDeliveries the message is dropped (no dead-letter queue): nothing is left.
    await eventually(async () =>
      expect((await api.get(`/v1/queues/${queue}`)).body).toMatchObject({ depth: 0, inFlight: 0 }),
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toContain("stopped");
  });
});
