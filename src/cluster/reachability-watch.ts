import type { Clock, Timer } from "../shared/clock.ts";
import type { Member } from "./coordinator.ts";
import type { ProbeVerdict } from "./peer/peer-probe.ts";

export interface ReachabilityWatchDeps {
  self: () => string;
  members: () => readonly Member[];
  probe: (peerUrl: string) => Promise<ProbeVerdict>;
  /** Tells the coordinator: `refused` again and again while the port refuses, once `false` when it answers. */
  report: (memberId: string, refused: boolean) => Promise<void>;
  clock: Clock;
  intervalMs: number;
  onError: (error: unknown) => void;
}

/**
 * Probes every other member's peer port each `intervalMs` and reports the
 * ones that refuse (docs/architecture.md, "Failing over before the session
 * expires"). A refusal is reported every round while it lasts, so a count
 * that missed a concurrent report is made again; a member that answers again,
 * or leaves, has its report withdrawn. A silent port is neither: it proves
 * nothing.
 */
export class ReachabilityWatch {
  private timer: Timer | undefined;
  private running = false;
  private readonly reported = new Set<string>();

  constructor(private readonly deps: ReachabilityWatchDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** One round: probes every other member at once and reports; resolves when every report is made. */
  async round(): Promise<void> {
    const self = this.deps.self();
    const others = this.deps.members().filter((member) => member.id !== self);
    const live = new Set(others.map((member) => member.id));
    const left = [...this.reported].filter((id) => !live.has(id));
    for (const id of left) this.reported.delete(id);
    await Promise.all([
      ...left.map((id) => this.deps.report(id, false)),
      ...others.map(async (member) => {
        const verdict = await this.deps.probe(member.peerUrl);
        if (verdict === "refused") {
          this.reported.add(member.id);
          await this.deps.report(member.id, true);
        } else if (verdict === "answered" && this.reported.delete(member.id)) {
          await this.deps.report(member.id, false);
        }
      }),
    ]);
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimer(this.deps.intervalMs, () => {
      this.timer = undefined;
      if (!this.running) return;
      this.round()
        .catch(this.deps.onError)
        .finally(() => {
          if (this.running) this.schedule();
        });
    });
  }
}
