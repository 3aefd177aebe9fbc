/**
 * A subscriber process for topic-fanout.ts (--procs K): holds one
 * SubscriberGroup and talks to the parent over IPC. Exits when the parent
 * goes away or after MAX_LIFETIME_MS, whichever comes first.
 */
import type { FromWorker, ToWorker } from "./messages.ts";
import { SubscriberGroup } from "./subscribers.ts";

const PROGRESS_EVERY_MS = 10;
const MAX_LIFETIME_MS = 60 * 60_000;

let group: SubscriberGroup | null = null;
let progress: NodeJS.Timeout | undefined;

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

let exiting = false;

function exit(code: number): void {
  if (exiting) return;
  exiting = true;
  clearInterval(progress);
  group?.close();
  if (process.connected) process.disconnect();
  setTimeout(() => process.exit(code), 100).unref();
}

setTimeout(() => exit(3), MAX_LIFETIME_MS).unref();
process.on("disconnect", () => exit(0));

process.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "start": {
      const created = new SubscriberGroup(message.settings);
      group = created;
      created.connect().then(
        () => {
          send({ type: "ready" });
          progress = setInterval(() => {
            send({ type: "progress", slowestOffset: created.slowestOffset(), closed: created.closedCount() });
          }, PROGRESS_EVERY_MS);
        },
        (error: unknown) => {
          send({ type: "failed", error: String(error) });
          exit(1);
        },
      );
      return;
    }
    case "window":
      group?.setWindow(message.startEpochMs, message.endEpochMs);
      return;
    case "finish":
      if (group !== null)
        send({ type: "result", result: group.result(message.firstOffset, message.lastOffset) });
      exit(0);
      return;
  }
});
