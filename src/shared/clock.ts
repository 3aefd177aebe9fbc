/** Time as the broker core sees it; injected so engines run under a manual clock in tests. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `delayMs`; the returned timer cancels it. */
  setTimer(delayMs: number, fn: () => void): Timer;
}

/** Node fires a longer setTimeout at once (with a warning); longer delays are chained. */
const maxTimeoutMs = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, fn) {
    let handle: NodeJS.Timeout;
    const arm = (remainingMs: number) => {
      const stepMs = Math.min(Math.max(0, remainingMs), maxTimeoutMs);
      handle = setTimeout(() => (remainingMs > stepMs ? arm(remainingMs - stepMs) : fn()), stepMs);
      // Broker timers (ack deadlines, delays, retention) must not keep a closing process alive.
      handle.unref();
    };
    arm(delayMs);
    return { cancel: () => clearTimeout(handle) };
  },
};
