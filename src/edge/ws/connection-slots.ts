import type { Config } from "../../config/schema.ts";
import { AvisoError } from "../../errors/aviso-error.ts";

/** What a session holds against the node's connection limits; released once, at close. */
export interface ConnectionSlot {
  /** The socket authenticated as `username` (first auth frame, or a refresh). Throws QUOTA_EXCEEDED. */
  authenticated(username: string): void;
  release(): void;
}

/**
 * The node's WebSocket capacity, split so anonymous sockets cannot take the
 * slots of users (S10): all sockets ≤ maxConnections, sockets that have not
 * authenticated yet ≤ maxUnauthenticatedConnections, one user's sockets ≤
 * maxConnectionsPerUser. Counted on this node only.
 */
export class ConnectionSlots {
  private total = 0;
  private anonymous = 0;
  private readonly perUser = new Map<string, number>();

  constructor(
    private readonly config: Pick<
      Config,
      "maxConnections" | "maxUnauthenticatedConnections" | "maxConnectionsPerUser"
    >,
  ) {}

  /**
   * Why a new socket for `username` may not open now, if it may not. null: anonymous;
   * undefined: not known yet (its token is being checked), so only the node's total applies.
   */
  problem(username: string | null | undefined): AvisoError | undefined {
    const { maxConnections, maxUnauthenticatedConnections } = this.config;
    if (this.total >= maxConnections) {
      return new AvisoError(
        "TOO_MANY_CONNECTIONS",
        `This node accepts at most ${maxConnections} WebSockets.`,
      );
    }
    if (username === null && this.anonymous >= maxUnauthenticatedConnections) {
      return new AvisoError(
        "TOO_MANY_UNAUTHENTICATED_CONNECTIONS",
        `This node holds at most ${maxUnauthenticatedConnections} WebSockets that have not authenticated; send a token in the Authorization header.`,
      );
    }
    return typeof username === "string" ? this.userProblem(username) : undefined;
  }

  /** Takes a slot; call only after problem() answered undefined in the same tick. */
  take(username: string | null): ConnectionSlot {
    this.total += 1;
    let holder: string | null = username;
    if (holder === null) this.anonymous += 1;
    else this.countUser(holder, 1);
    let released = false;
    return {
      authenticated: (name) => {
        if (released || holder === name) return;
        const problem = this.userProblem(name);
        if (problem !== undefined) throw problem;
        if (holder === null) this.anonymous -= 1;
        else this.countUser(holder, -1);
        holder = name;
        this.countUser(name, 1);
      },
      release: () => {
        if (released) return;
        released = true;
        this.total -= 1;
        if (holder === null) this.anonymous -= 1;
        else this.countUser(holder, -1);
      },
    };
  }

  private userProblem(username: string): AvisoError | undefined {
    const limit = this.config.maxConnectionsPerUser;
    if ((this.perUser.get(username) ?? 0) < limit) return undefined;
    return new AvisoError("QUOTA_EXCEEDED", `A user holds at most ${limit} WebSockets on this node.`, {
      details: { quota: "maxConnectionsPerUser", limit },
    });
  }

  private countUser(username: string, delta: number): void {
    const count = (this.perUser.get(username) ?? 0) + delta;
    if (count <= 0) this.perUser.delete(username);
    else this.perUser.set(username, count);
  }
}
