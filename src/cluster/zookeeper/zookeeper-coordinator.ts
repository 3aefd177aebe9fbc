import { performance } from "node:perf_hooks";
import type { ResourceKind } from "../../broker/types.ts";
import { logEvents } from "../../log/events.ts";
import type { Logger } from "../../log/logger.ts";
import { ChangeSignal } from "../change-signal.ts";
import {
  type Coordinator,
  CoordinatorClosedError,
  type CoordinatorStatus,
  type Lease,
  type Member,
} from "../coordinator.ts";
import { enoughToEvict } from "../eviction.ts";
import { rendezvousServingNode } from "../rendezvous.ts";
import { StatusHub } from "../status-hub.ts";
import { tryOwnEphemeral } from "./ephemeral-node.ts";
import { MemberWatch } from "./member-watch.ts";
import { UnreachableReports } from "./unreachable-reports.ts";
import { type ZooKeeperAccess, zooKeeperAccess } from "./zk-access.ts";
import { type ConnectTarget, parseConnectString, type ZooKeeperLayout, zooKeeperLayout } from "./zk-paths.ts";
import { ZooKeeperSession } from "./zk-session.ts";
import { isTransient, isZooKeeperError } from "./zookeeper-error.ts";
import { ZooKeeperLease } from "./zookeeper-lease.ts";

export interface ZooKeeperCoordinatorOptions {
  /** "host:port,host:port[/chroot]"; the chroot and its parents are created if missing. */
  connectString: string;
  /** Requested session timeout; the server clamps it to [2, 20] × its tickTime. */
  sessionTimeoutMs: number;
  self: Member;
  logger?: Logger;
  /**
   * zkAuth digest credentials ("user:password"): the session authenticates
   * with each and every node below the chroot is theirs alone (zk-access.ts).
   * Empty or absent: nodes are open to anyone.
   */
  auth?: readonly string[];
  /** How long start() may take to connect and register; default max(10 s, 3 × sessionTimeoutMs). */
  startTimeoutMs?: number;
}

/**
 * Phases: "up" = connected and registered, leases valid; "down" = link lost
 * but the session may survive: leases are kept until the session could have
 * expired (silent for a whole session timeout); "renewing" = session expired,
 * building a new one. Leases are only ever handed out in "up".
 */
type Phase = "new" | "starting" | "up" | "down" | "renewing" | "closed";

/** A lease node whose lease was lost while its session lived on: deleted on reconnect unless re-acquired. */
interface Orphan {
  path: string;
  sessionId: string;
}

const closeDeadlineMs = 2_000;
/** Pause before retrying after a failed renewal or a claim cut short by the link. */
const retryBackoffMs = 200;

export function createZooKeeperCoordinator(options: ZooKeeperCoordinatorOptions): Coordinator {
  const problems: string[] = [];
  if (!Number.isInteger(options.sessionTimeoutMs) || options.sessionTimeoutMs <= 0) {
    problems.push(`sessionTimeoutMs must be a positive integer, got ${options.sessionTimeoutMs}`);
  }
  if (options.self.id === "") problems.push("self.id must not be empty");
  let target: ConnectTarget | undefined;
  try {
    target = parseConnectString(options.connectString);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  if (problems.length > 0 || target === undefined) {
    throw new Error(`invalid ZooKeeper coordinator options: ${problems.join("; ")}`);
  }
  return new ZooKeeperCoordinator(options, target);
}

class ZooKeeperCoordinator implements Coordinator {
  readonly self: Member;
  private readonly layout: ZooKeeperLayout;
  private readonly access: ZooKeeperAccess;
  private readonly hub: StatusHub<CoordinatorStatus>;
  private readonly memberWatch: MemberWatch;
  private readonly reports: UnreachableReports;
  private phase: Phase = "new";
  private session: ZooKeeperSession | undefined;
  /** Sessions of ours that expired: nodes they still own are dead and may be deleted. */
  private readonly deadSessionIds = new Set<string>();
  private readonly leases = new Map<string, ZooKeeperLease>();
  private readonly orphans = new Map<string, Orphan>();
  private readonly pendingAcquires = new Map<string, number>();
  private readonly changes = new ChangeSignal();
  /** While "down" with leases kept: gives them up once the session could have expired. */
  private lostTimer: NodeJS.Timeout | undefined;
  /** Set while registering again after an eviction, so one eviction is handled once. */
  private reRegistering: Promise<void> | undefined;
  /** When the link went down (performance.now()), for the log line at reconnect. */
  private downSinceMs = 0;

  constructor(
    private readonly options: ZooKeeperCoordinatorOptions,
    private readonly target: ConnectTarget,
  ) {
    this.self = Object.freeze({ ...options.self });
    this.layout = zooKeeperLayout(target.chroot);
    this.access = zooKeeperAccess(options.auth ?? [], this.layout.root);
    this.reports = new UnreachableReports(this.layout);
    this.hub = new StatusHub((error) => this.reportError(error, "status listener"));
    this.memberWatch = new MemberWatch(
      this.layout.membersPath,
      (members, previous) => this.membersChanged(members, previous),
      (error) => this.reportError(error, "reading members"),
    );
  }

  async start(): Promise<void> {
    if (this.phase !== "new") throw new Error(`coordinator cannot start: it is ${this.phase}`);
    this.phase = "starting";
    const startTimeoutMs = this.options.startTimeoutMs ?? Math.max(10_000, 3 * this.options.sessionTimeoutMs);
    const deadlineAtMs = Date.now() + startTimeoutMs;
    const session = this.newSession();
    try {
      await session.open(startTimeoutMs);
      await this.prepare(session, deadlineAtMs);
    } catch (error) {
      session.retire("CONNECTION_LOSS");
      const closedMeanwhile = this.isClosed();
      this.phase = "closed";
      this.hub.end();
      throw closedMeanwhile ? new CoordinatorClosedError() : error;
    }
    if (this.isClosed()) return;
    this.phase = session.isLinkUp ? "up" : "down";
    this.announceConnected("connected");
  }

  members(): readonly Member[] {
    return this.memberWatch.current();
  }

  servingNodeOf(kind: ResourceKind, name: string): Member {
    const members = this.members();
    return rendezvousServingNode(members.length > 0 ? members : [this.self], kind, name) ?? this.self;
  }

  async acquire(kind: ResourceKind, name: string, signal?: AbortSignal): Promise<Lease> {
    const key = `${kind}/${name}`;
    const path = this.layout.leasePath(kind, name);
    this.pendingAcquires.set(key, (this.pendingAcquires.get(key) ?? 0) + 1);
    try {
      for (;;) {
        this.assertUsable(signal);
        const held = this.leases.get(key);
        if (held?.held) return held;
        const session = this.session;
        if (this.phase !== "up" || session === undefined) {
          await this.changes.wait(signal);
          continue;
        }
        try {
          const lease = await this.tryClaim(session, kind, name, path, signal);
          if (lease !== undefined) return lease;
        } catch (error) {
          if (!isTransient(error)) throw error;
          // The link dropped or the session ended mid-claim: go round once it settles.
          await this.changes.wait(signal, retryBackoffMs);
        }
      }
    } finally {
      const count = (this.pendingAcquires.get(key) ?? 1) - 1;
      if (count > 0) this.pendingAcquires.set(key, count);
      else {
        this.pendingAcquires.delete(key);
        // A lost lease kept for this acquire to adopt, and nobody adopted it.
        if (this.orphans.has(key) && this.phase === "up") this.deleteOrphan(key);
      }
    }
  }

  leasesTrusted(): boolean {
    const session = this.session;
    if (session === undefined) return false;
    if (session.silentMs < session.timeoutMs) return true;
    // Woken from a pause before the timers that notice the silence ran: run
    // what they would have, now. Up: the session's check reports the link
    // down, and a link found down after a whole session timeout of silence
    // gives every lease up (linkChanged). Down: the lost timer is overdue.
    if (this.phase === "up") session.checkNow();
    else if (this.phase === "down" && this.lostTimer !== undefined && this.session === session) {
      this.cancelLostTimer();
      this.loseAllLeases(true);
      this.announceLost(session);
    }
    return false;
  }

  async release(lease: Lease): Promise<void> {
    if (!(lease instanceof ZooKeeperLease)) throw new Error("release: not a lease of this coordinator");
    const key = `${lease.kind}/${lease.name}`;
    const wasHeld = lease.held;
    lease.markReleased();
    if (this.leases.get(key) !== lease) return; // lost earlier: its node is an orphan, cleaned on reconnect
    this.leases.delete(key);
    const session = this.session;
    if (!wasHeld || session === undefined || session.id !== lease.sessionId) return;
    try {
      const stat = await session.exists(lease.path);
      if (stat?.ownerSessionId === lease.sessionId) await session.remove(lease.path, stat.version);
    } catch (error) {
      if (isZooKeeperError(error, "NO_NODE")) return;
      if (isTransient(error)) {
        // The link dropped mid-release: delete the node once it is back.
        if (this.phase !== "closed") this.orphans.set(key, { path: lease.path, sessionId: lease.sessionId });
        return;
      }
      throw error;
    }
  }

  async reportUnreachable(memberId: string, refused: boolean): Promise<void> {
    const session = this.session;
    if (this.phase !== "up" || session === undefined || memberId === this.self.id) return;
    try {
      if (!refused) return await this.reports.withdraw(session, memberId, this.self.id);
      const suspectSession = this.memberWatch.sessionOf(memberId);
      if (suspectSession === undefined) return;
      const reports = await this.reports.file(session, memberId, suspectSession, this.self.id);
      const reporters = reports
        .filter((report) => report.sessionId === suspectSession)
        .map((report) => report.reporterId);
      if (!enoughToEvict(this.members(), memberId, reporters)) return;
      if (await this.reports.evict(session, memberId, suspectSession))
        this.log((log) => logEvents.memberEvicted(log, { nodeId: memberId, reporters }));
    } catch (error) {
      if (!isTransient(error)) throw error;
    }
  }

  async holderOf(kind: ResourceKind, name: string): Promise<string | undefined> {
    this.assertUsable(undefined);
    const session = this.session;
    if (session === undefined) throw new Error("holderOf: coordinator not started");
    try {
      return (await session.getData(this.layout.leasePath(kind, name))).data;
    } catch (error) {
      if (isZooKeeperError(error, "NO_NODE")) return undefined;
      throw error;
    }
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
    this.changes.wakeAll();
    // Closing the session deletes its ephemeral nodes (member and leases) in
    // one step, so the leases are only marked here, not deleted one by one.
    for (const lease of this.leases.values()) lease.markReleased();
    this.leases.clear();
    this.orphans.clear();
    this.memberWatch.detach();
    await this.session?.close(closeDeadlineMs);
    this.hub.end();
  }

  // --- claiming ---

  /** One attempt: the lease, or undefined after waiting for something that may change the outcome. */
  private async tryClaim(
    session: ZooKeeperSession,
    kind: ResourceKind,
    name: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<Lease | undefined> {
    const parentPath = this.layout.leaseKindPath(kind);
    const attempt = await tryOwnEphemeral(
      session,
      path,
      this.self.id,
      parentPath,
      (holderSessionId, holderId) => this.leaseHolderGone(session, holderSessionId, holderId),
    );
    if (attempt === "mine") return this.grant(session, kind, name, path);
    if (attempt !== "retry") await this.changes.wait(signal, undefined, attempt.gone);
    return undefined;
  }

  private grant(
    session: ZooKeeperSession,
    kind: ResourceKind,
    name: string,
    path: string,
  ): Lease | undefined {
    const key = `${kind}/${name}`;
    // The link may have dropped while the reply was on its way; the node is
    // then an orphan that the next attempt adopts once the link is back.
    if (this.phase !== "up" || this.session !== session || !session.isLinkUp) return undefined;
    const existing = this.leases.get(key);
    if (existing?.held) return existing;
    this.orphans.delete(key);
    const lease = new ZooKeeperLease(kind, name, path, session.id);
    this.leases.set(key, lease);
    this.watchLeaseNode(session, lease);
    return lease;
  }

  /** Catches a lease node deleted behind our back (an operator, a bug): the lease is then lost. */
  private watchLeaseNode(session: ZooKeeperSession, lease: ZooKeeperLease): void {
    const check = async () => {
      if (!lease.held || this.session !== session) return;
      try {
        const stat = await session.exists(lease.path, () => void check());
        if (stat?.ownerSessionId !== lease.sessionId && lease.held && this.session === session) {
          this.leases.delete(`${lease.kind}/${lease.name}`);
          lease.markLost((error) => this.reportError(error, "lease listener"));
        }
      } catch (error) {
        if (!isTransient(error)) this.reportError(error, "watching a lease");
      }
    };
    void check();
  }

  // --- eviction (docs/architecture.md, "Failing over before the session expires") ---

  /**
   * A lease whose holder's session no longer holds the holder's member node
   * was left by an evicted member (a session that ends deletes all its
   * nodes in one step, so only an eviction parts them). Read from the same
   * server that showed us the lease, which has applied every earlier write.
   */
  private async leaseHolderGone(
    session: ZooKeeperSession,
    ownerSessionId: string,
    holderId: string,
  ): Promise<boolean> {
    if (this.deadSessionIds.has(ownerSessionId)) return true;
    if (holderId === "") return false;
    const member = await session.exists(this.layout.memberPath(holderId));
    return member?.ownerSessionId !== ownerSessionId;
  }

  /**
   * Our member node is gone while our session lives: the others evicted us
   * (our peer port refused them) and may be claiming what we hold. Stop
   * owning at once, delete our lease nodes, and register again.
   */
  private async evicted(session: ZooKeeperSession): Promise<void> {
    this.log((log) => logEvents.evictedByPeers(log, { leasesLost: this.leases.size }));
    this.loseAllLeases(true);
    for (const key of [...this.orphans.keys()]) this.deleteOrphan(key);
    try {
      await this.register(session, Date.now() + Math.max(10_000, 3 * this.options.sessionTimeoutMs));
      await this.memberWatch.refresh();
    } catch (error) {
      if (!isTransient(error) && !(error instanceof CoordinatorClosedError))
        this.reportError(error, "registering again after eviction");
    }
  }

  // --- sessions ---

  private newSession(): ZooKeeperSession {
    const session: ZooKeeperSession = new ZooKeeperSession(
      this.target.hosts,
      this.options.sessionTimeoutMs,
      {
        link: (up) => {
          if (session === this.session) this.linkChanged(session, up);
        },
        expired: () => {
          if (session === this.session) this.sessionExpired(session);
        },
      },
      this.access,
    );
    this.session = session;
    return session;
  }

  /** Parents, own member node, member list: everything a fresh session needs before it is "up". */
  private async prepare(session: ZooKeeperSession, deadlineAtMs: number): Promise<void> {
    for (const parent of this.layout.parents) await session.mkdirp(parent);
    // Parents someone else made first (open, or with a credential being rotated out) become ours.
    for (const path of this.layout.persistent) await session.protect(path);
    await this.register(session, deadlineAtMs);
    await this.memberWatch.attach(session);
  }

  /** Creates our member node, first waiting out a node with our id left by an earlier session. */
  private async register(session: ZooKeeperSession, deadlineAtMs: number): Promise<void> {
    const path = this.layout.memberPath(this.self.id);
    const data = JSON.stringify(this.self);
    for (;;) {
      if (this.isClosed()) throw new CoordinatorClosedError();
      if (session !== this.session) throw new Error("ZooKeeper session replaced during registration");
      const attempt = await tryOwnEphemeral(session, path, data, this.layout.membersPath, (holderSessionId) =>
        this.deadSessionIds.has(holderSessionId),
      );
      if (attempt === "mine") return;
      if (attempt === "retry") continue;
      // Another live session has our id: a previous run of this node whose
      // session has not timed out yet, or a second node misconfigured with
      // the same id. Wait for it, but not forever.
      const remainingMs = deadlineAtMs - Date.now();
      if (remainingMs <= 0) {
        throw new Error(
          `member id "${this.self.id}" is still registered by another ZooKeeper session (${attempt.ownerSessionId}); is another node running with the same id?`,
        );
      }
      await this.changes.wait(undefined, remainingMs, attempt.gone);
    }
  }

  /**
   * A lost link is not a lost session: leases are kept while the client
   * reconnects (to any server of the ensemble) and are given up only when
   * the session expires or has been silent for a whole session timeout.
   * Another node can claim only after the server expired the session, and
   * the store's epoch fences any write of ours after that
   * (docs/architecture.md, "Fencing").
   */
  private linkChanged(session: ZooKeeperSession, up: boolean): void {
    if (!up && this.phase === "up") {
      this.phase = "down";
      this.downSinceMs = performance.now();
      const remainingMs = session.timeoutMs - session.silentMs;
      // Woken from a pause longer than the session: nothing owned here can be
      // trusted any more, and nothing may be served before the leases go.
      const silentTooLong = remainingMs <= 0;
      if (silentTooLong) this.loseAllLeases(true);
      else {
        this.lostTimer = setTimeout(() => {
          this.lostTimer = undefined;
          if (this.phase !== "down" || this.session !== session) return;
          this.loseAllLeases(true);
          this.announceLost(session);
        }, remainingMs);
        this.lostTimer.unref();
      }
      this.hub.emit({ type: "disconnected" });
      this.log((log) =>
        logEvents.coordinatorDisconnected(log, {
          leasesKept: this.leases.size,
          remainingMs: Math.round(remainingMs),
        }),
      );
      if (silentTooLong) this.announceLost(session);
      this.changes.wakeAll();
    } else if (up && this.phase === "down") {
      this.cancelLostTimer();
      this.phase = "up";
      // Deletes are queued before any waiter's create (one session's requests
      // run in order), so a claim after this sees the cleaned-up state.
      for (const [key, orphan] of this.orphans) {
        if (orphan.sessionId !== session.id) this.orphans.delete(key);
        else if (!this.pendingAcquires.has(key)) this.deleteOrphan(key);
      }
      void this.memberWatch.refresh();
      const disconnectedMs = Math.round(performance.now() - this.downSinceMs);
      this.log((log) => logEvents.coordinatorResumed(log, { disconnectedMs, leasesKept: this.leases.size }));
      this.announceConnected("connected");
    }
  }

  /** Silent for a whole session timeout while disconnected: the session may be gone, and the leases went with it. */
  private announceLost(session: ZooKeeperSession): void {
    this.hub.emit({ type: "lost" });
    this.log((log) =>
      logEvents.coordinatorSessionLost(log, {
        err: new Error(`no word from ZooKeeper for ${Math.round(session.silentMs)} ms`),
      }),
    );
    this.changes.wakeAll();
  }

  private cancelLostTimer(): void {
    if (this.lostTimer !== undefined) clearTimeout(this.lostTimer);
    this.lostTimer = undefined;
  }

  private sessionExpired(session: ZooKeeperSession): void {
    if (this.phase === "closed" || this.phase === "new") return;
    if (this.phase === "up") this.linkChanged(session, false);
    this.cancelLostTimer();
    this.deadSessionIds.add(session.id);
    this.loseAllLeases(false);
    this.orphans.clear(); // the server deletes a dead session's nodes itself
    session.retire("SESSION_EXPIRED");
    // While starting, start() fails on its own; while renewing, the running
    // renew() loop sees its calls fail and opens another session.
    if (this.phase === "starting" || this.phase === "renewing") return;
    this.phase = "renewing";
    this.hub.emit({ type: "expired" });
    this.log((log) => logEvents.coordinatorSessionLost(log, {}));
    this.changes.wakeAll();
    void this.renew();
  }

  /** Opens new sessions until one is registered again (or the coordinator closes). */
  private async renew(): Promise<void> {
    while (this.phase === "renewing") {
      const session = this.newSession();
      const timeoutMs = Math.max(10_000, 3 * this.options.sessionTimeoutMs);
      try {
        await session.open(timeoutMs);
        await this.prepare(session, Date.now() + timeoutMs);
      } catch (error) {
        session.retire("CONNECTION_LOSS");
        if (this.phase !== "renewing") return;
        this.reportError(error, "renewing the ZooKeeper session");
        await this.changes.wait(undefined, retryBackoffMs);
        continue;
      }
      if (this.phase !== "renewing" || session !== this.session) return;
      this.phase = session.isLinkUp ? "up" : "down";
      this.announceConnected("reconnected");
    }
  }

  /** Deletes the node of a lease lost while its session lived on, so another node can claim it. */
  private deleteOrphan(key: string): void {
    const orphan = this.orphans.get(key);
    const session = this.session;
    this.orphans.delete(key);
    if (orphan === undefined || session === undefined || orphan.sessionId !== session.id) return;
    session.remove(orphan.path).catch((error: unknown) => {
      if (!isZooKeeperError(error, "NO_NODE") && !isTransient(error)) {
        this.reportError(error, "deleting a lost lease");
      }
    });
  }

  private loseAllLeases(keepNodes: boolean): void {
    for (const [key, lease] of this.leases) {
      if (keepNodes) this.orphans.set(key, { path: lease.path, sessionId: lease.sessionId });
      lease.markLost((error) => this.reportError(error, "lease listener"));
    }
    this.leases.clear();
  }

  private announceConnected(type: "connected" | "reconnected"): void {
    this.hub.emit({ type });
    this.hub.emit({ type: "members", members: this.members() });
    this.log((log) => logEvents.coordinatorConnected(log, { zk: this.options.connectString }));
    this.changes.wakeAll();
  }

  private membersChanged(members: readonly Member[], previous: readonly Member[]): void {
    if (this.phase === "closed") return;
    const before = new Set(previous.map((member) => member.id));
    const after = new Set(members.map((member) => member.id));
    for (const id of after)
      if (!before.has(id)) this.log((log) => logEvents.memberJoined(log, { nodeId: id }));
    for (const id of before) if (!after.has(id)) this.log((log) => logEvents.memberLeft(log, { nodeId: id }));
    // start() and renew() announce the first list themselves, after "connected".
    if (this.phase === "up" || this.phase === "down") this.hub.emit({ type: "members", members });
    const session = this.session;
    if (this.phase === "up" && session !== undefined && !after.has(this.self.id))
      this.reRegistering ??= this.evicted(session).finally(() => {
        this.reRegistering = undefined;
      });
  }

  /** A method, not a comparison, so TypeScript does not narrow `phase` across awaits. */
  private isClosed(): boolean {
    return this.phase === "closed";
  }

  private assertUsable(signal: AbortSignal | undefined): void {
    if (this.phase === "closed") throw new CoordinatorClosedError();
    if (this.phase === "new") throw new Error("coordinator not started");
    signal?.throwIfAborted();
  }

  private reportError(error: unknown, context: string): void {
    this.log((log) => logEvents.unexpectedError(log, { err: error, context }));
  }

  private log(write: (log: Logger) => void): void {
    if (this.options.logger !== undefined) write(this.options.logger);
  }
}
