import { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { type ACL, type Client, CreateMode, createClient, type Stat } from "node-zookeeper-client";
import { sameAcl, type ZooKeeperAccess, zooKeeperAccess } from "./zk-access.ts";
import { isZooKeeperError, toZooKeeperError, ZooKeeperError } from "./zookeeper-error.ts";

/**
 * One ZooKeeper session (one node-zookeeper-client Client), with every call
 * turned into a promise and three gaps of the library filled:
 *
 * - It never notices a server that stops answering (no read timeout; issue
 *   alexguan/node-zookeeper-client#13, PR #38 never merged): the TCP socket
 *   stays open and the state stays "connected" while the server is gone. So
 *   a probe asks the server something every ~1/10 of the session timeout, and
 *   when nothing has been answered for 2/3 of it — as the Java client's read
 *   timeout does — the link is reported down and the socket dropped so the
 *   library reconnects (to another server of the ensemble). That is before
 *   the server can expire the session, so the session can usually be resumed
 *   on another server; the coordinator keeps its leases meanwhile and judges
 *   by `silentMs` when the session could have expired.
 * - While reconnecting, once TCP connects it waits for the handshake reply
 *   without any timeout. A server that is starting up can accept the
 *   connection and never answer (seen with ZooKeeper 3.8 killed and
 *   restarted), leaving the client stuck for good. A socket that has not
 *   completed the handshake within the Java client's connect timeout
 *   (session timeout / number of servers) is dropped, so it tries again.
 * - Requests queued while disconnected are never called back once the
 *   session expires or the client closes. Every call is tracked here and
 *   rejected when the session is retired, so no promise hangs forever.
 *
 * Once expired, a session is dead for good: the coordinator retires it and
 * opens a new one.
 */

/** An ephemeral node's owning session ("0000000000000000" for persistent nodes) and version. */
export interface NodeStat {
  ownerSessionId: string;
  version: number;
}

export interface SessionListener {
  /** The link to the ensemble went down or came back within the same session. */
  link(up: boolean): void;
  /** The ensemble says the session is gone: its ephemeral nodes are (being) deleted. */
  expired(): void;
}

export type Watcher = () => void;

/** Share of the session timeout after which an unanswered link is considered down (Java: 2/3). */
const readTimeoutShare = 2 / 3;
/** Probes per session timeout; keeps detection within ~1/10 of it past the read timeout. */
const probesPerTimeout = 10;

export class ZooKeeperSession {
  private readonly client: Client;
  private readonly pending = new Set<(code: string) => void>();
  private retired = false;
  private closeRequested = false;
  private libConnected = false;
  private linkUp = false;
  private expiredSeen = false;
  private lastAnsweredSentAtMs = 0;
  private probeInFlight = false;
  private watchdog: NodeJS.Timeout | undefined;
  /** The socket the library is trying to connect with, and since when we have seen it. */
  private pendingSocket: { socket: Socket; sinceMs: number } | undefined;
  private opened: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(
    private readonly hosts: string,
    private readonly requestedTimeoutMs: number,
    private readonly listener: SessionListener,
    /** Credentials and the ACL of what this session creates (default: open, no credentials). */
    private readonly access: ZooKeeperAccess = zooKeeperAccess([], "/"),
  ) {
    this.client = createClient(hosts, {
      sessionTimeout: requestedTimeoutMs,
      // The library pauses up to spinDelay before re-trying the server list;
      // its 1 s default is most of a short session timeout.
      spinDelay: Math.min(1000, Math.max(50, Math.floor(requestedTimeoutMs / 10))),
      retries: 0,
    });
    // Added before connect(): the library sends them right after every handshake,
    // so no request of this session ever runs unauthenticated.
    for (const credential of access.credentials) this.client.addAuthInfo("digest", Buffer.from(credential));
    this.client.on("connected", () => this.onConnected());
    this.client.on("disconnected", () => this.onDisconnected());
    this.client.on("expired", () => this.onExpired());
  }

  /** Session id as 16 hex digits; meaningful once open() has resolved. */
  get id(): string {
    return this.client.getSessionId().toString("hex");
  }

  /** The session timeout the server granted (it clamps the request to [2, 20] × tickTime). */
  get timeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  /**
   * Milliseconds since the server last answered (measured from when that
   * request was sent). The server expires the session no earlier than a
   * session timeout after it last heard from us, which is no earlier than this.
   */
  get silentMs(): number {
    return performance.now() - this.lastAnsweredSentAtMs;
  }

  /**
   * Runs the liveness check now rather than at the watchdog's next tick: a
   * process woken from a pause may do other work before that tick, and a
   * link silent for too long must be reported down first.
   */
  checkNow(): void {
    this.checkLiveness();
  }

  get isLinkUp(): boolean {
    return this.linkUp && !this.retired;
  }

  /** Connects; resolves once the session is established, rejects (and retires) after `deadlineMs`. */
  open(deadlineMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.opened = undefined;
        this.retire("CONNECTION_LOSS");
        reject(
          new ZooKeeperError("CONNECTION_LOSS", "connect", undefined, {
            detail: `no server of ${this.hosts} answered within ${deadlineMs} ms`,
          }),
        );
      }, deadlineMs);
      this.opened = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.startWatchdog();
      this.client.connect();
    });
  }

  create(path: string, data: string, mode: "ephemeral" | "persistent"): Promise<void> {
    const createMode = mode === "ephemeral" ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT;
    return this.call<void>("create", path, (done) =>
      this.client.create(path, Buffer.from(data), this.access.aclFor(path), createMode, (error) =>
        done(error, () => undefined),
      ),
    );
  }

  /** Deletes `path` if its version is still `version` (-1: any version). */
  remove(path: string, version = -1): Promise<void> {
    return this.call<void>("remove", path, (done) =>
      this.client.remove(path, version, (error) => done(error, () => undefined)),
    );
  }

  /** Creates `path` and its missing parents as persistent nodes, each with the ACL its place calls for. */
  async mkdirp(path: string): Promise<void> {
    let prefix = "";
    for (const segment of path.split("/").slice(1)) {
      prefix = `${prefix}/${segment}`;
      await this.create(prefix, "", "persistent").catch((error: unknown) => {
        if (!isZooKeeperError(error, "NODE_EXISTS")) throw error;
      });
    }
  }

  /**
   * Gives an existing node at a protected place the ACL it should carry, when
   * it carries another (created open by someone else, or by a node before a
   * credential was added or retired). Needs ADMIN on it: a node taken by other
   * credentials stays theirs, and this rejects with NO_AUTH.
   */
  async protect(path: string): Promise<void> {
    if (!this.access.protects(path)) return;
    const wanted = this.access.aclFor(path);
    const current = await this.call<ACL[]>("getACL", path, (done) =>
      this.client.getACL(path, (error, acls) => done(error, () => acls ?? [])),
    );
    if (sameAcl(current, wanted)) return;
    await this.call<void>("setACL", path, (done) =>
      this.client.setACL(path, wanted, -1, (error) => done(error, () => undefined)),
    );
  }

  /** Data and stat of `path`; `watcher` fires once when it changes or is deleted. Rejects NO_NODE. */
  getData(path: string, watcher?: Watcher): Promise<{ data: string; stat: NodeStat }> {
    return this.call("getData", path, (done) =>
      this.client.getData(path, wrapWatcher(watcher), (error, data, stat) =>
        done(error, () => ({ data: data?.toString("utf8") ?? "", stat: nodeStat(stat) })),
      ),
    );
  }

  /** Stat of `path`, or undefined; `watcher` fires once when it is created, changed or deleted. */
  exists(path: string, watcher?: Watcher): Promise<NodeStat | undefined> {
    return this.call("exists", path, (done) =>
      this.client.exists(path, wrapWatcher(watcher), (error, stat) =>
        done(error, () => (stat === null ? undefined : nodeStat(stat))),
      ),
    );
  }

  /** Child names of `path`; `watcher` fires once when a child comes or goes. Rejects NO_NODE. */
  getChildren(path: string, watcher?: Watcher): Promise<string[]> {
    return this.call("getChildren", path, (done) =>
      this.client.getChildren(path, wrapWatcher(watcher), (error, children) => done(error, () => children)),
    );
  }

  /**
   * Ends the session on the server, which deletes its ephemeral nodes at once
   * (~20 ms), instead of leaving them to the session timeout. Bounded by
   * `deadlineMs`; afterwards the session is retired either way.
   */
  async close(deadlineMs: number): Promise<void> {
    if (this.retired) return;
    this.stopWatchdog();
    if (this.libConnected && this.linkUp) {
      const closed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        this.client.on("disconnected", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.closeClient();
      await closed;
    }
    this.retire("CONNECTION_LOSS");
  }

  /**
   * Abandons the session without waiting: rejects every pending call with
   * `code`, stops the library from reconnecting and drops the socket.
   */
  retire(code: string): void {
    if (this.retired) return;
    this.retired = true;
    this.linkUp = false;
    this.stopWatchdog();
    const opened = this.opened;
    this.opened = undefined;
    opened?.reject(new ZooKeeperError(code, "connect", undefined));
    for (const reject of [...this.pending]) reject(code);
    this.pending.clear();
    this.closeClient();
    this.dropConnection();
  }

  private call<T>(
    operation: string,
    path: string,
    /** Starts the request; the library's callback calls done, with a value built only on success. */
    start: (done: (error: Error | null | undefined, value: () => T) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const abandon = (code: string) => reject(new ZooKeeperError(code, operation, path));
      if (this.retired) {
        abandon(this.expiredSeen ? "SESSION_EXPIRED" : "CONNECTION_LOSS");
        return;
      }
      this.pending.add(abandon);
      try {
        start((error, value) => {
          if (!this.pending.delete(abandon)) return; // already rejected by retire()
          if (error) {
            reject(toZooKeeperError(error, operation, path));
            return;
          }
          try {
            resolve(value());
          } catch (unexpected) {
            // Never let a surprise in a reply throw inside the library's socket handler.
            reject(toZooKeeperError(unexpected, operation, path));
          }
        });
      } catch (error) {
        // The library asserts on malformed paths synchronously.
        this.pending.delete(abandon);
        reject(toZooKeeperError(error, operation, path));
      }
    });
  }

  private onConnected(): void {
    if (this.retired) return;
    this.libConnected = true;
    this.pendingSocket = undefined;
    this.lastAnsweredSentAtMs = performance.now();
    this.startWatchdog(); // again, now with the negotiated timeout
    if (this.opened !== undefined) {
      const opened = this.opened;
      this.opened = undefined;
      this.linkUp = true;
      opened.resolve();
      return;
    }
    this.setLink(true);
  }

  private onDisconnected(): void {
    if (this.retired) return;
    this.libConnected = false;
    this.setLink(false);
  }

  private onExpired(): void {
    if (this.retired || this.expiredSeen) return;
    this.expiredSeen = true;
    this.libConnected = false;
    this.linkUp = false;
    this.stopWatchdog();
    if (this.opened !== undefined) {
      const opened = this.opened;
      this.opened = undefined;
      this.retire("SESSION_EXPIRED");
      opened.reject(new ZooKeeperError("SESSION_EXPIRED", "connect", undefined));
      return;
    }
    this.listener.expired();
  }

  private setLink(up: boolean): void {
    if (this.linkUp === up) return;
    this.linkUp = up;
    this.listener.link(up);
  }

  private startWatchdog(): void {
    this.stopWatchdog();
    const timeoutMs = this.libConnected ? this.timeoutMs : this.requestedTimeoutMs;
    const periodMs = Math.max(20, Math.floor(timeoutMs / probesPerTimeout));
    this.watchdog = setInterval(() => this.checkLiveness(), periodMs);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  private checkLiveness(): void {
    if (this.retired) return;
    const nowMs = performance.now();
    if (!this.libConnected) {
      this.checkHandshake(nowMs);
      return;
    }
    if (this.linkUp && nowMs - this.lastAnsweredSentAtMs > this.timeoutMs * readTimeoutShare) {
      this.setLink(false);
      this.dropConnection();
      return;
    }
    if (this.probeInFlight) return;
    this.probeInFlight = true;
    this.exists("/").then(
      () => this.probeAnswered(nowMs),
      (error: unknown) => {
        // Any answer from the server proves the link; a lost connection does not.
        if (isZooKeeperError(error, "CONNECTION_LOSS", "SESSION_EXPIRED")) this.probeInFlight = false;
        else this.probeAnswered(nowMs);
      },
    );
  }

  private checkHandshake(nowMs: number): void {
    const socket = this.currentSocket();
    if (socket === undefined) return;
    if (this.pendingSocket?.socket !== socket) {
      this.pendingSocket = { socket, sinceMs: nowMs };
      return;
    }
    const hostCount = this.hosts.split(",").length;
    const connectTimeoutMs = Math.max(100, Math.floor(this.timeoutMs / hostCount));
    if (nowMs - this.pendingSocket.sinceMs > connectTimeoutMs) {
      this.pendingSocket = undefined;
      socket.destroy();
    }
  }

  private probeAnswered(sentAtMs: number): void {
    this.probeInFlight = false;
    this.lastAnsweredSentAtMs = Math.max(this.lastAnsweredSentAtMs, sentAtMs);
    // A late answer to an old probe does not bring a link back that is still silent.
    const fresh = performance.now() - this.lastAnsweredSentAtMs <= this.timeoutMs * readTimeoutShare;
    if (!this.retired && this.libConnected && fresh) this.setLink(true);
  }

  /**
   * Destroys the library's socket so it notices the loss (and reconnects,
   * unless closing). Reaches into an undocumented field — the same fix PR #38
   * proposes — and does nothing if a future version moves it.
   */
  private dropConnection(): void {
    this.currentSocket()?.destroy();
  }

  /** The library's current socket: an undocumented field, read defensively. */
  private currentSocket(): Socket | undefined {
    const manager: unknown = this.client.connectionManager;
    if (typeof manager !== "object" || manager === null || !("socket" in manager)) return undefined;
    const socket: unknown = manager.socket;
    return socket instanceof Socket && !socket.destroyed ? socket : undefined;
  }

  /** Tells the library to end the session and stop reconnecting (once). */
  private closeClient(): void {
    if (this.closeRequested) return;
    this.closeRequested = true;
    try {
      this.client.close();
    } catch {
      // close() before the library has a socket throws inside it; the
      // session is being abandoned either way.
    }
  }
}

function wrapWatcher(watcher: Watcher | undefined): ((event: unknown) => void) | undefined {
  // A fresh function per call: the library drops a watcher already registered
  // on the same path if it is the same function object.
  return watcher === undefined ? undefined : () => watcher();
}

function nodeStat(stat: Stat): NodeStat {
  return { ownerSessionId: stat.ephemeralOwner.toString("hex"), version: stat.version };
}
