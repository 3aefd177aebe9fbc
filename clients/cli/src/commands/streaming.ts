import type { Subscription } from "@aviso/client";
import type { Output } from "../output.ts";

/**
 * Prints a subscription's messages until Ctrl-C (or SIGTERM), or until
 * `count` messages were handled; then unsubscribes cleanly so un-acked
 * queue messages go back to the queue at once.
 */
export async function streamUntilStopped<M>(
  subscription: Subscription<M>,
  output: Output,
  what: string,
  handle: (message: M) => Promise<void>,
  count: number | undefined,
): Promise<void> {
  let stopSignal: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stopSignal = resolve;
  });
  process.once("SIGINT", stopSignal);
  process.once("SIGTERM", stopSignal);
  try {
    await subscription.ready();
    output.note(
      `Subscribed to ${what}${count === undefined ? "" : ` for ${count} ${count === 1 ? "message" : "messages"}`}. Ctrl-C to stop.`,
    );
    let handled = 0;
    const reading = (async () => {
      if (count === 0) return;
      for await (const message of subscription) {
        await handle(message);
        if (count !== undefined && ++handled >= count) return;
      }
    })();
    await Promise.race([reading, stopped]);
  } finally {
    process.off("SIGINT", stopSignal);
    process.off("SIGTERM", stopSignal);
    await subscription.close();
  }
}
