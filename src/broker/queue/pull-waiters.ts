import type { AvisoError } from "../../errors/aviso-error.ts";
import type { Clock } from "../../shared/clock.ts";
import { Fifo } from "../fifo.ts";
import type { Delivery } from "./queue-ports.ts";

/** What one pull asks for: at most `max` messages, and past the first, at most `maxBytes` of them. */
export interface PullLimits {
  max: number;
  maxBytes: number;
  ackTimeoutMs: number;
}

interface Waiter {
  limits: PullLimits;
  /** Set once answered (messages, timeout, abort or close); a done waiter is skipped. */
  done: boolean;
  finish(deliveries: Delivery[]): void;
  fail(error: AvisoError): void;
}

/**
 * Long-polling receives waiting for messages, served first come first served.
 * A waiter is answered once: with messages, empty at its deadline or when its
 * caller went away (abort), or with the error that closed the queue.
 */
export class PullWaiters {
  private readonly waiters = new Fifo<Waiter>();

  constructor(private readonly clock: Clock) {}

  get isEmpty(): boolean {
    this.dropAnswered();
    return this.waiters.size === 0;
  }

  wait(limits: PullLimits, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    return new Promise<Delivery[]>((resolve, reject) => {
      const onAbort = (): void => waiter.finish([]);
      const settle = (): void => {
        waiter.done = true;
        timer.cancel();
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        limits,
        done: false,
        finish(deliveries) {
          if (waiter.done) return;
          settle();
          resolve(deliveries);
        },
        fail(error) {
          if (waiter.done) return;
          settle();
          reject(error);
        },
      };
      const timer = this.clock.setTimer(waitMs, () => waiter.finish([]));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Answers waiters in order while `take` finds messages for them. */
  serve(take: (limits: PullLimits) => Delivery[]): void {
    this.dropAnswered();
    for (let waiter = this.waiters.peek(); waiter !== undefined; waiter = this.waiters.peek()) {
      const deliveries = take(waiter.limits);
      if (deliveries.length === 0) return;
      this.waiters.shift();
      waiter.finish(deliveries);
      this.dropAnswered();
    }
  }

  failAll(reason: AvisoError): void {
    for (let waiter = this.waiters.shift(); waiter !== undefined; waiter = this.waiters.shift())
      waiter.fail(reason);
  }

  private dropAnswered(): void {
    while (this.waiters.peek()?.done === true) this.waiters.shift();
  }
}
