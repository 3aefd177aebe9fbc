import type { MessagePort } from "node:worker_threads";
import { AvisoError } from "../errors/aviso-error.ts";
import type { CommitAnswer, CommitRequest, ThreadError } from "./commit-thread.ts";
import { unpackOps } from "./commit-wire.ts";
import type { WriteOp, WriteOutcome } from "./store.ts";

/**
 * The thread's side of CommitThread: runs `commit` for each batch the node
 * sends, in arrival order (a synchronous commit finishes before the next
 * starts; an asynchronous one may overlap the next, as the store allows),
 * and answers each; `close` ends the thread's connection.
 */
export function serveCommits(
  port: MessagePort,
  commit: (ops: WriteOp[]) => WriteOutcome[] | Promise<WriteOutcome[]>,
  close: () => void | Promise<void>,
): void {
  port.on("message", (request: CommitRequest) => {
    if ("close" in request) {
      void Promise.resolve(close()).finally(() => port.close());
      return;
    }
    const { text } = request.ops;
    const answer = (outcome: { outcomes: WriteOutcome[] } | { error: ThreadError }) =>
      port.postMessage({ id: request.id, text, ...outcome } satisfies CommitAnswer, [text]);
    try {
      Promise.resolve(commit(unpackOps(request.ops))).then(
        (outcomes) => answer({ outcomes }),
        (error: unknown) => answer({ error: threadError(error) }),
      );
    } catch (error) {
      answer({ error: threadError(error) });
    }
  });
}

function threadError(error: unknown): ThreadError {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    code: typeof code === "string" ? code : undefined,
    reason: error instanceof AvisoError ? error.reason : undefined,
    message: String((error as Error | null)?.message ?? error),
  };
}
