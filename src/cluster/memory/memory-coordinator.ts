import type { ResourceKind } from "../../broker/types.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import { ChangeSignal } from "../change-signal.ts";
import {
  type Coordinator,
  CoordinatorClosedError,
  type CoordinatorStatus,
  type Lease,
  type Member,
} from "../coordinator.ts";
import { enoughToEvict } from "../eviction.ts";
import { HeldLease } from "../held-lease.ts";
import { rendezvousServingNode } from "../rendezvous.ts";
import { StatusHub } from "../status-hub.ts";

/**
 * An in-process twin of the ZooKeeper coordinator (as centrifuge's
 * broker_memory.go is of its Redis broker): one `MemoryEnsemble` stands for
 * the ZooKeeper ensemble, and every coordinator made from it is a member. It
 * keeps the same rules — ephemeral member and lease records that vanish with
 * their session, leases granted only while the link is up, acquire() waiting
 * until the holder releases or its session ends, leases kept through a lost
 * link until the session expires or the link has been down for the whole
 * session timeout on the member's clock, a member evicted once a quorum of
 * the others report its peer port refused, and its leases free to claim
 * from then on — so ownership and routing can be unit-tested with several
 * members, session expiry, eviction and handover, without sockets, under
 * the manual clock. Faults are the test's to cause: disconnect(), expire(),
 * reconnect(); members report each other with reportUnreachable().
 */
export class MemoryEnsemble {
  private nextSession = 1;
  /** Member records by member id (the /members ephemerals) and the session that holds each. */
  private readonly sessions = new Map<string, { member: Member; sessionId: number }>();
  /** Reports of refused peer ports: suspect id → reporter id → the suspect's session it was about. */
  private readonly reports = new Map<string, Map<string, number>>();
  /** Lease holders by "kind/name" (the /owners ephemerals). */
  private readonly leases = new Map<string, { memberId: string; sessionId: number }>();
  private readonly coordinators = new Set<MemoryCoordinator>();
  /** Wakes every acquire waiting on the ensemble's state. */
  readonly changes = new ChangeSignal();

  constructor(
    /** The members' clock: it times how long a link has been down. */
    readonly clock: Clock,
    /** How long a member rides out a lost link before giving its leases up (the session timeout). */
    readonly sessionTimeoutMs = 3_000,
  ) {}

  /** A coordinator for `self` on this ensemble; it joins at start(). */
  coordinator(self: Member): Coordinator {
    const coordinator = new MemoryCoordinator(self, this);
    this.coordinators.add(coordinator);
    return coordinator;
  }

  /** Live members sorted by id, as the ensemble sees them. */
  members(): Member[] {
    return [...this.sessions.values()].map((entry) => entry.member).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Who holds which lease right now: "kind/name" → member id. */
  holders(): Record<string, string> {
    return Object.fromEntries([...this.leases].map(([key, holder]) => [key, holder.memberId]));
  }

  /**
   * The member's link to the ensemble drops; its session lives on (and holds
   * its records) until expire(). The member keeps its leases until then, or
   * until `sessionTimeoutMs` has passed on the clock.
   */
  disconnect(memberId: string): void {
    this.find(memberId).linkDown();
  }

  /** The ensemble ends the member's session: its member record and leases vanish and the others are told. */
  expire(memberId: string): void {
    const coordinator = this.find(memberId);
    const sessionId = coordinator.sessionId;
    coordinator.sessionEnded(() => {
      if (sessionId !== undefined) this.endSession(memberId, sessionId);
    });
  }

  /** The member's link is back: it learns what happened meanwhile (a new session if the old one expired). */
  reconnect(memberId: string): void {
    this.find(memberId).linkUp();
  }

  // --- what coordinators ask of the ensemble ---

  /** @internal */ openSession(member: Member): number {
    const live = this.sessions.get(member.id);
    if (live !== undefined)
      throw new Error(`member id "${member.id}" is already registered by a live session`);
    const sessionId = this.nextSession++;
    this.sessions.set(member.id, { member, sessionId });
    this.membersChanged();
    return sessionId;
  }

  /** @internal An evicted member whose session lives registers again under that session. */
  register(member: Member, sessionId: number): void {
    if (this.sessions.has(member.id)) return;
    this.sessions.set(member.id, { member, sessionId });
    this.membersChanged();
  }

  /**
   * @internal `reporterId` found `suspectId`'s peer port refusing (or answering
   * again). Once a quorum of the other members report its current session,
   * its member record is deleted; its lease records stay until a claim finds
   * them held by a session without a member record.
   */
  report(reporterId: string, suspectId: string, refused: boolean): void {
    const suspect = this.sessions.get(suspectId);
    const reporters = this.reports.get(suspectId) ?? new Map<string, number>();
    if (!refused || suspect === undefined) reporters.delete(reporterId);
    else reporters.set(reporterId, suspect.sessionId);
    this.reports.set(suspectId, reporters);
    if (suspect === undefined || !refused) return;
    const agreeing = [...reporters].filter(([, sessionId]) => sessionId === suspect.sessionId);
    if (
      !enoughToEvict(
        this.members(),
        suspectId,
        agreeing.map(([id]) => id),
      )
    )
      return;
    this.reports.delete(suspectId);
    this.sessions.delete(suspectId);
    this.membersChanged();
  }

  /** @internal Deletes every lease record of `sessionId` (an evicted member letting go of what it held). */
  dropAll(sessionId: number): void {
    for (const [key, holder] of this.leases) if (holder.sessionId === sessionId) this.leases.delete(key);
    this.changes.wakeAll();
  }

  /** @internal The session holding `memberId`'s member record, if any. */
  recordedSession(memberId: string): number | undefined {
    return this.sessions.get(memberId)?.sessionId;
  }

  /** @internal */ endSession(memberId: string, sessionId: number): void {
    if (this.sessions.get(memberId)?.sessionId !== sessionId) return;
    this.sessions.delete(memberId);
    for (const [key, holder] of this.leases) if (holder.sessionId === sessionId) this.leases.delete(key);
    this.membersChanged();
  }

  /** @internal Creates the lease record unless another session has it; true when it is this session's. */
  claim(key: string, memberId: string, sessionId: number): boolean {
    const holder = this.leases.get(key);
    // Held by a session that no longer holds its member record: the holder was evicted.
    if (holder !== undefined && this.sessions.get(holder.memberId)?.sessionId !== holder.sessionId)
      this.leases.delete(key);
    if (!this.leases.has(key)) this.leases.set(key, { memberId, sessionId });
    return this.leases.get(key)?.sessionId === sessionId;
  }

  /** @internal */ drop(key: string, sessionId: number): void {
    if (this.leases.get(key)?.sessionId !== sessionId) return;
    this.leases.delete(key);
    this.changes.wakeAll();
  }

  /** @internal */ holderOf(key: string): string | undefined {
    return this.leases.get(key)?.memberId;
  }

  /** @internal */ forget(coordinator: MemoryCoordinator): void {
    this.coordinators.delete(coordinator);
  }

  private membersChanged(): void {
    const members = this.members();
    for (const coordinator of this.coordinators) coordinator.membersChanged(members);
    this.changes.wakeAll();
  }

  private find(memberId: string): MemoryCoordinator {
    for (const coordinator of this.coordinators) if (coordinator.self.id === memberId) return coordinator;
    throw new Error(`no coordinator for member "${memberId}" on this ensemble`);
  }
}

/** Phases as in the ZooKeeper coordinator: leases are handed out only while "up". */
type Phase = "new" | "up" | "down" | "closed";

/** A lease of one session of the ensemble. */
class MemoryLease extends HeldLease {
  constructor(
    kind: ResourceKind,
    name: string,
    readonly sessionId: number,
  ) {
    super(kind, name);
  }
}

class MemoryCoordinator implements Coordinator {
  readonly self: Member;
  private phase: Phase = "new";
  private session: number | undefined;
  /** The session ended while the link was down: found out at reconnect. */
  private expiredUnseen = false;
  /** While the link is down and leases are kept: gives them up once the session timeout has passed. */
  private lostTimer: Timer | undefined;
  /** When the member last heard from the ensemble (clock ms): kept fresh by `heartbeat` while the link is up. */
  private lastHeardAt = 0;
  /** Stands for the ZooKeeper client's pings: runs every tenth of the session timeout while started. */
  private heartbeat: Timer | undefined;
  /** The member list as last seen; kept (stale) while the link is down, as a ZooKeeper watch would. */
  private view: readonly Member[] = [];
  private readonly leases = new Map<string, MemoryLease>();
  /** Lease records of a lost link's session, deleted at reconnect unless an acquire adopts them. */
  private readonly orphans = new Set<string>();
  private readonly hub = new StatusHub<CoordinatorStatus>(rethrowLater);

  constructor(
    self: Member,
    private readonly ensemble: MemoryEnsemble,
  ) {
    this.self = Object.freeze({ ...self });
  }

  get sessionId(): number | undefined {
    return this.session;
  }

  async start(): Promise<void> {
    if (this.phase !== "new") throw new Error(`coordinator cannot start: it is ${this.phase}`);
    this.session = this.ensemble.openSession(this.self);
    this.phase = "up";
    this.lastHeardAt = this.ensemble.clock.now();
    this.beat();
    this.announce("connected");
  }

  members(): readonly Member[] {
    return this.view;
  }

  servingNodeOf(kind: ResourceKind, name: string): Member {
    const members = this.members();
    return rendezvousServingNode(members.length > 0 ? members : [this.self], kind, name) ?? this.self;
  }

  async acquire(kind: ResourceKind, name: string, signal?: AbortSignal): Promise<Lease> {
    const key = `${kind}/${name}`;
    for (;;) {
      if (this.phase === "closed") throw new CoordinatorClosedError();
      if (this.phase === "new") throw new Error("coordinator not started");
      signal?.throwIfAborted();
      const held = this.leases.get(key);
      if (held?.held) return held;
      const session = this.session;
      if (this.phase === "up" && session !== undefined && this.ensemble.claim(key, this.self.id, session)) {
        this.orphans.delete(key);
        const lease = new MemoryLease(kind, name, session);
        this.leases.set(key, lease);
        return lease;
      }
      await this.ensemble.changes.wait(signal);
    }
  }

  leasesTrusted(): boolean {
    if (this.ensemble.clock.now() - this.lastHeardAt < this.ensemble.sessionTimeoutMs) return true;
    this.silentTooLong();
    return false;
  }

  async release(lease: Lease): Promise<void> {
    if (!(lease instanceof MemoryLease)) throw new Error("release: not a lease of this coordinator");
    const key = `${lease.kind}/${lease.name}`;
    const wasHeld = lease.held;
    lease.markReleased();
    if (this.leases.get(key) !== lease) return; // lost earlier: an orphan, cleaned at reconnect
    this.leases.delete(key);
    if (wasHeld) this.ensemble.drop(key, lease.sessionId);
  }

  async reportUnreachable(memberId: string, refused: boolean): Promise<void> {
    if (this.phase !== "up" || memberId === this.self.id) return;
    this.ensemble.report(this.self.id, memberId, refused);
  }

  async holderOf(kind: ResourceKind, name: string): Promise<string | undefined> {
    if (this.phase === "closed") throw new CoordinatorClosedError();
    return this.ensemble.holderOf(`${kind}/${name}`);
  }

  status(): AsyncIterable<CoordinatorStatus> {
    return this.hub.iterate();
  }

  onStatus(listener: (status: CoordinatorStatus) => void): () => void {
    return this.hub.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.cancelLostTimer();
    this.heartbeat?.cancel();
    for (const lease of this.leases.values()) lease.markReleased();
    this.leases.clear();
    this.orphans.clear();
    // Closing the session deletes its member record and leases in one step.
    if (this.session !== undefined) this.ensemble.endSession(this.self.id, this.session);
    this.ensemble.forget(this);
    this.ensemble.changes.wakeAll();
    this.hub.end();
  }

  // --- told by the ensemble ---

  membersChanged(members: readonly Member[]): void {
    if (this.phase !== "up") return;
    this.view = members;
    this.hub.emit({ type: "members", members });
    if (!members.some((member) => member.id === this.self.id)) this.evicted();
  }

  linkDown(): void {
    if (this.phase !== "up") return;
    this.phase = "down";
    // As with ZooKeeper: a lost link is not a lost session. Leases are kept
    // while the member reconnects, until the session could have expired.
    // The twin's ensemble is heard up to the moment the link drops.
    this.lastHeardAt = this.ensemble.clock.now();
    this.lostTimer = this.ensemble.clock.setTimer(this.ensemble.sessionTimeoutMs, () => {
      this.lostTimer = undefined;
      if (this.phase === "down") this.sessionMayBeGone();
    });
    this.hub.emit({ type: "disconnected" });
    this.ensemble.changes.wakeAll();
  }

  /** Silent for a whole session timeout while down: the session may have expired, and the leases go. */
  private sessionMayBeGone(): void {
    this.cancelLostTimer();
    // Their records stay until the session ends or we clean them at reconnect.
    for (const key of this.leases.keys()) this.orphans.add(key);
    this.loseAllLeases();
    this.hub.emit({ type: "lost" });
  }

  /**
   * Nothing heard for a session timeout (the process was paused): as the
   * ZooKeeper session's watchdog does, drop the link — the leases go as
   * "lost" — and reconnect, which finds out whether the session lived.
   */
  private silentTooLong(): void {
    if (this.phase === "up") {
      this.linkDown();
      this.sessionMayBeGone();
      this.linkUp();
    } else if (this.phase === "down" && this.lostTimer !== undefined) this.sessionMayBeGone();
  }

  /** The ping: a silence of a whole session timeout is noticed first, then the ensemble is heard again. */
  private beat(): void {
    this.heartbeat = this.ensemble.clock.setTimer(this.ensemble.sessionTimeoutMs / 10, () => {
      if (this.phase === "closed") return;
      this.leasesTrusted();
      if (this.phase === "up") this.lastHeardAt = this.ensemble.clock.now();
      this.beat();
    });
  }

  /** The ensemble ends our session (`endOnServer`); a connected member hears it at once and registers again. */
  sessionEnded(endOnServer: () => void): void {
    if (this.phase === "up") {
      this.hub.emit({ type: "disconnected" });
      this.loseAllLeases();
      // Our own member record going away is not news to us: the expiry is.
      this.phase = "down";
      endOnServer();
      this.renew();
      return;
    }
    endOnServer();
    // Cut off, the member cannot know yet: it keeps its leases until its clock or the reconnect says otherwise.
    if (this.phase === "down") this.expiredUnseen = true;
  }

  linkUp(): void {
    if (this.phase !== "down") return;
    if (this.expiredUnseen) {
      this.loseAllLeases();
      this.renew();
      return;
    }
    this.cancelLostTimer();
    this.phase = "up";
    this.lastHeardAt = this.ensemble.clock.now();
    const session = this.session;
    for (const key of this.orphans) if (session !== undefined) this.ensemble.drop(key, session);
    this.orphans.clear();
    // Evicted while cut off: what it held may be another's by now.
    if (session !== undefined && this.ensemble.recordedSession(this.self.id) !== session) this.evicted();
    this.announce("connected");
  }

  /**
   * Our member record was deleted while our session lives: the others
   * evicted us and may be claiming what we hold. Stop owning at once, let
   * go of the lease records, and register again under the same session.
   */
  private evicted(): void {
    const session = this.session;
    if (session === undefined) return;
    this.loseAllLeases();
    this.orphans.clear();
    this.ensemble.dropAll(session);
    queueMicrotask(() => {
      if (this.phase === "up" && this.session === session) this.ensemble.register(this.self, session);
    });
  }

  /** The session is gone: its records went with it; register again under a new one. */
  private renew(): void {
    this.cancelLostTimer();
    this.expiredUnseen = false;
    this.orphans.clear();
    this.hub.emit({ type: "expired" });
    this.session = this.ensemble.openSession(this.self);
    this.phase = "up";
    this.lastHeardAt = this.ensemble.clock.now();
    this.announce("reconnected");
  }

  private cancelLostTimer(): void {
    this.lostTimer?.cancel();
    this.lostTimer = undefined;
  }

  private loseAllLeases(): void {
    const lost = [...this.leases.values()];
    this.leases.clear();
    for (const lease of lost) lease.markLost(rethrowLater);
  }

  private announce(type: "connected" | "reconnected"): void {
    this.view = this.ensemble.members();
    this.hub.emit({ type });
    this.hub.emit({ type: "members", members: this.view });
    this.ensemble.changes.wakeAll();
  }
}

/** A listener that throws fails the test run (uncaught) instead of keeping the others from hearing. */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
