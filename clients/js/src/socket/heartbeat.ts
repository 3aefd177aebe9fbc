import { backgroundTimer, type TimerHandle } from "../util/runtime.ts";

/**
 * Notices a socket that went silent without closing (a node that froze, a
 * network that dropped packets): after `intervalMs` without a frame it pings,
 * after twice that it declares the socket dead. Browsers cannot see the
 * node's WebSocket pings, so the check has to be in the protocol (`ping` op).
 */
export class Heartbeat {
  private lastHeardAt = Date.now();
  private timer: TimerHandle | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly ping: () => void,
    private readonly dead: () => void,
  ) {
    if (intervalMs > 0) this.schedule();
  }

  /** A frame arrived. */
  heard(): void {
    this.lastHeardAt = Date.now();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private schedule(): void {
    this.timer = backgroundTimer(this.intervalMs / 2, () => {
      const silentMs = Date.now() - this.lastHeardAt;
      if (silentMs >= 2 * this.intervalMs) {
        this.timer = null;
        this.dead();
        return;
      }
      if (silentMs >= this.intervalMs) this.ping();
      this.schedule();
    });
  }
}
