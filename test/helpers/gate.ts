/** Holds a fake's answers back while shut: a test shuts it, lets calls pile up, then opens it. */
export class Gate {
  private waiting: Array<() => void> | null = null;

  shut(): void {
    this.waiting = [];
  }

  get waitingCount(): number {
    return this.waiting?.length ?? 0;
  }

  /** While shut, a promise resolved when the gate opens; while open, undefined (no extra tick). */
  pass(): Promise<void> | undefined {
    const waiting = this.waiting;
    if (waiting === null) return undefined;
    return new Promise<void>((resolve) => waiting.push(resolve));
  }

  open(): void {
    const waiting = this.waiting ?? [];
    this.waiting = null;
    for (const resolve of waiting) resolve();
  }
}
