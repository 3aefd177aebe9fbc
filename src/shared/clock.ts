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

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, fn) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    // Broker timers (ack deadlines, delays, retention) must not keep a closing process alive.
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};
