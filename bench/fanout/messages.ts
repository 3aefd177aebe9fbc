import type { GroupResult, GroupSettings } from "./subscribers.ts";

/** Parent → subscriber process. */
export type ToWorker =
  | { type: "start"; settings: GroupSettings }
  | { type: "window"; startEpochMs: number; endEpochMs: number }
  | { type: "finish"; firstOffset: number; lastOffset: number };

/** Subscriber process → parent. */
export type FromWorker =
  | { type: "ready" }
  | { type: "progress"; slowestOffset: number; closed: number }
  | { type: "result"; result: GroupResult }
  | { type: "failed"; error: string };
