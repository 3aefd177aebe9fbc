import type { Clock, Timer } from "../../shared/clock.ts";
import type { Entry } from "./queue-entry.ts";

/**
 * Delivery counts are written this long after a delivery, and not at all when
 * the ack came first (the usual case), so counting costs no write per message;
 * after a crash only a delivery made in the last moment before it counts once less.
 */
const SAVE_AFTER_MS = 250;

/** Keeps the `deliveries` of in-flight messages in the store, lazily (see SAVE_AFTER_MS). */
export class DeliveryCounts {
  private readonly unsaved = new Set<Entry>();
  private timer: Timer | null = null;

  constructor(
    private readonly clock: Clock,
    /** Writes the counts (and availableAt) of these entries; failures are the writer's to report. */
    private readonly save: (entries: readonly Entry[]) => void,
    /** Whether an entry is still the queue's current, in-flight one. */
    private readonly stillInFlight: (entry: Entry) => boolean,
  ) {}

  delivered(entry: Entry): void {
    this.unsaved.add(entry);
    this.timer ??= this.clock.setTimer(SAVE_AFTER_MS, () => this.saveInFlight());
  }

  /** Its count no longer needs saving (acked, or saved with another change). */
  forget(entry: Entry): void {
    this.unsaved.delete(entry);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private saveInFlight(): void {
    this.timer = null;
    const inFlight = [...this.unsaved].filter(this.stillInFlight);
    this.unsaved.clear();
    if (inFlight.length > 0) this.save(inFlight);
  }
}
