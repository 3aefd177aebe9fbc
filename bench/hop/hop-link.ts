/**
 * The client side of the hop-cost bench: starting and stopping the server
 * child (bench/hop-cost.ts re-run with --serve), and HopLink, the client's end
 * of one long-lived connection per transport (tcp, h2, grpc-js).
 */
import { type ChildProcess, spawn } from "node:child_process";
import http2 from "node:http2";
import net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { withTimeout } from "../lib/bounded.ts";
import { onCleanup } from "../lib/cleanup.ts";
import { batchOf, FrameCounter, HOP_PATH, hopMethod, type LinkTransport } from "./framing.ts";

/** The bench's entry point, which serves one transport when given --serve (see hop-server.ts). */
const BENCH_ENTRY = fileURLToPath(new URL("../hop-cost.ts", import.meta.url));

export interface HopServer {
  port: number;
  /** The server's own process.cpuUsage(), asked over its stdin. */
  cpuUsage(): Promise<NodeJS.CpuUsage>;
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

export async function startServer(transport: LinkTransport): Promise<HopServer> {
  const child = spawn(process.execPath, ["--import", "tsx", BENCH_ENTRY, "--serve", transport], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  onCleanup(`stop ${transport} server (pid ${child.pid})`, () => stopChild(child));
  const waiting: Array<{ resolve(line: string): void; reject(error: Error): void }> = [];
  let exited: Error | undefined;
  child.once("exit", (code, signal) => {
    exited = new Error(`${transport} server (pid ${child.pid}) exited: ${signal ?? code}`);
    for (const waiter of waiting.splice(0)) waiter.reject(exited);
  });
  child.stdin.on("error", () => {}); // a write after the exit; the exit is reported
  createInterface({ input: child.stdout }).on("line", (line) => waiting.shift()?.resolve(line));
  const nextLine = (what: string, timeoutMs: number): Promise<string> =>
    withTimeout(
      `${transport} server: ${what}`,
      new Promise((resolve, reject) =>
        exited === undefined ? waiting.push({ resolve, reject }) : reject(exited),
      ),
      timeoutMs,
    );
  const port = Number(await nextLine("listening", 15_000));
  return {
    port,
    cpuUsage: async () => {
      const answer = nextLine("cpu usage", 5_000);
      child.stdin.write("cpu\n");
      return JSON.parse(await answer) as NodeJS.CpuUsage;
    },
    stop: () => withTimeout(`stop ${transport} server`, stopChild(child), 5_000),
  };
}

/** One end of a connection as the client drives it. */
interface LinkEnd {
  send(count: number): void;
  destroy(): void;
}

/** The client's end of one long-lived connection: counts answers (one per batch), keeps the first error. */
export class HopLink {
  answers = 0;
  failure: Error | undefined;
  private closed = false;
  private end: LinkEnd | undefined;
  private readonly frames = new FrameCounter();

  /** Errors after close() are the expected end of the connection. */
  readonly failed = (error: Error): void => {
    if (!this.closed) this.failure ??= error;
  };
  /** A chunk of framed answers (tcp, h2). */
  readonly answeredBytes = (chunk: Buffer): void => {
    this.answers += this.frames.push(chunk);
  };
  /** One answer message (grpc-js frames them itself). */
  readonly answered = (): void => {
    this.answers++;
  };

  attach(end: LinkEnd): this {
    this.end = end;
    return this;
  }

  /** Sends `count` payloads as one frame in one write. */
  sendBatch(count: number): void {
    this.end?.send(count);
  }

  close(): void {
    this.closed = true;
    this.end?.destroy();
  }
}

async function connectTcp(port: number, payload: Buffer, link: HopLink): Promise<LinkEnd> {
  const socket = net.connect(port, "127.0.0.1").setNoDelay(true);
  socket.on("error", link.failed).on("data", link.answeredBytes);
  await withTimeout("tcp connect", new Promise((resolve) => socket.once("connect", resolve)), 5_000);
  return { send: (count) => socket.write(batchOf(payload, count, 5)), destroy: () => socket.destroy() };
}

async function connectH2(port: number, payload: Buffer, link: HopLink): Promise<LinkEnd> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", link.failed);
  await withTimeout("h2 connect", new Promise((resolve) => session.once("connect", resolve)), 5_000);
  const stream = session.request(
    { ":method": "POST", ":path": HOP_PATH, "content-type": "application/grpc", te: "trailers" },
    { endStream: false },
  );
  stream.on("error", link.failed).on("data", link.answeredBytes);
  return { send: (count) => stream.write(batchOf(payload, count, 5)), destroy: () => session.destroy() };
}

async function connectGrpc(port: number, payload: Buffer, link: HopLink): Promise<LinkEnd> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 5_000, (error) => (error ? reject(error) : resolve())),
  );
  const { path, requestSerialize, responseDeserialize } = hopMethod;
  const call = client.makeBidiStreamRequest(path, requestSerialize, responseDeserialize);
  call.on("error", link.failed).on("data", link.answered);
  return {
    send: (count) => call.write(batchOf(payload, count, 0)),
    destroy: () => {
      call.cancel();
      client.close();
    },
  };
}

/** Connects to a server over `transport`; every batch sent repeats a `payloadBytes` payload. */
export async function openLink(
  transport: LinkTransport,
  port: number,
  payloadBytes: number,
): Promise<HopLink> {
  const connect = { tcp: connectTcp, h2: connectH2, "grpc-js": connectGrpc }[transport];
  const link = new HopLink();
  return link.attach(await connect(port, Buffer.alloc(payloadBytes, "x"), link));
}
