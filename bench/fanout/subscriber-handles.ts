/**
 * Subscriber groups as the fan-out harness drives them, whether held in this
 * process or in child processes (one process holds at most ~20k sockets — the
 * open-files cap — and one event loop about a core's worth of frames).
 */
import { type ChildProcess, fork } from "node:child_process";
import { withTimeout } from "../lib/bounded.ts";
import type { FromWorker, ToWorker } from "./messages.ts";
import { type GroupResult, type GroupSettings, SubscriberGroup } from "./subscribers.ts";

export interface SubscriberHandle {
  /** The process holding the sockets (for its CPU). */
  readonly pid: number;
  connect(): Promise<void>;
  setWindow(startEpochMs: number, endEpochMs: number): void;
  slowestOffset(): number;
  closedCount(): number;
  result(firstOffset: number, lastOffset: number): Promise<GroupResult>;
  close(): void;
}

export function inProcessGroup(settings: GroupSettings): SubscriberHandle {
  const group = new SubscriberGroup(settings);
  return {
    pid: process.pid,
    connect: () => group.connect(),
    setWindow: (start, end) => group.setWindow(start, end),
    slowestOffset: () => group.slowestOffset(),
    closedCount: () => group.closedCount(),
    result: async (first, last) => group.result(first, last),
    close: () => group.close(),
  };
}

const WORKER_TIMEOUT_MS = 120_000;

export function childProcessGroup(settings: GroupSettings): SubscriberHandle {
  const child: ChildProcess = fork(new URL("./worker.ts", import.meta.url).pathname, [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let slowest = -1;
  let closed = 0;
  const replies: Array<(message: FromWorker) => void> = [];
  child.on("message", (message: FromWorker) => {
    if (message.type === "progress") {
      slowest = message.slowestOffset;
      closed = message.closed;
      return;
    }
    for (const reply of replies.splice(0)) reply(message);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const post = (message: ToWorker) => child.send(message);
  const next = (what: string) =>
    withTimeout(
      what,
      new Promise<FromWorker>((resolve, reject) => {
        replies.push(resolve);
        void exited.then(() => reject(new Error(`subscriber process ${child.pid} exited during ${what}`)));
      }),
      WORKER_TIMEOUT_MS,
    );
  return {
    pid: child.pid ?? 0,
    async connect() {
      const answer = next("connect");
      post({ type: "start", settings });
      const message = await answer;
      if (message.type !== "ready") throw new Error(`subscriber process: ${JSON.stringify(message)}`);
    },
    setWindow: (startEpochMs, endEpochMs) => post({ type: "window", startEpochMs, endEpochMs }),
    slowestOffset: () => slowest,
    closedCount: () => closed,
    async result(firstOffset, lastOffset) {
      const answer = next("result");
      post({ type: "finish", firstOffset, lastOffset });
      const message = await answer;
      if (message.type !== "result") throw new Error(`subscriber process: ${JSON.stringify(message)}`);
      return message.result;
    },
    close() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
        child.kill("SIGTERM");
    },
  };
}
