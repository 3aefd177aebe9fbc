import type { Member } from "../coordinator.ts";
import type { ZooKeeperSession } from "./zk-session.ts";
import { isTransient, isZooKeeperError } from "./zookeeper-error.ts";

/**
 * The cached member list: the children of the members node, re-read and the
 * watch re-armed every time it fires. A ZooKeeper watch fires once, so a
 * change that lands while we re-read is caught by the next read.
 */
export class MemberWatch {
  private list: readonly Member[] = [];
  /** The session holding each member's node, as of the last read. */
  private sessions = new Map<string, string>();
  private session: ZooKeeperSession | undefined;
  private inFlight: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly membersPath: string,
    private readonly onChange: (members: readonly Member[], previous: readonly Member[]) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  current(): readonly Member[] {
    return this.list;
  }

  /** The session that held `memberId`'s node at the last read (what a report about it names). */
  sessionOf(memberId: string): string | undefined {
    return this.sessions.get(memberId);
  }

  /** Reads the members through `session` and keeps watching there (a new session has no watches). */
  attach(session: ZooKeeperSession): Promise<void> {
    this.session = session;
    this.dirty = true;
    return this.refresh();
  }

  /** Stops reacting to watches (the coordinator is closing). */
  detach(): void {
    this.session = undefined;
  }

  /** Re-reads the list; concurrent calls share one read loop. Failures go to onError, never throw. */
  refresh(): Promise<void> {
    this.dirty = true;
    this.inFlight ??= this.readLoop().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async readLoop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const session = this.session;
      if (session === undefined) return;
      try {
        const read = await this.read(session);
        if (session !== this.session) continue;
        const members = read.map((entry) => entry.member);
        this.sessions = new Map(read.map((entry) => [entry.member.id, entry.sessionId]));
        if (!sameMembers(members, this.list)) {
          const previous = this.list;
          this.list = members;
          this.onChange(members, previous);
        }
      } catch (error) {
        // A lost link is retried when it comes back (the coordinator refreshes then).
        if (!isTransient(error)) this.onError(error);
        return;
      }
    }
  }

  private async read(session: ZooKeeperSession): Promise<Array<{ member: Member; sessionId: string }>> {
    const watcher = () => {
      if (this.session === session) void this.refresh();
    };
    let names: string[];
    try {
      names = await session.getChildren(this.membersPath, watcher);
    } catch (error) {
      // Someone deleted the members node: a watch cannot be set on a missing
      // node, so recreate it and read again.
      if (!isZooKeeperError(error, "NO_NODE")) throw error;
      await session.mkdirp(this.membersPath);
      names = await session.getChildren(this.membersPath, watcher);
    }
    const members = await Promise.all(
      names.map(async (name) => {
        try {
          const { data, stat } = await session.getData(`${this.membersPath}/${name}`);
          const member = parseMember(data);
          return member === undefined ? undefined : { member, sessionId: stat.ownerSessionId };
        } catch (error) {
          if (isZooKeeperError(error, "NO_NODE")) return undefined; // left while we read
          throw error;
        }
      }),
    );
    return members
      .filter((entry) => entry !== undefined)
      .sort((a, b) => (a.member.id < b.member.id ? -1 : a.member.id > b.member.id ? 1 : 0));
  }
}

function parseMember(data: string): Member | undefined {
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value !== "object" || value === null) return undefined;
    const { id, httpUrl, peerUrl } = value as Record<string, unknown>;
    if (typeof id !== "string" || typeof httpUrl !== "string" || typeof peerUrl !== "string")
      return undefined;
    return Object.freeze({ id, httpUrl, peerUrl });
  } catch {
    // A node some other tool wrote under /members: not one of ours, skip it.
    return undefined;
  }
}

function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  return (
    a.length === b.length &&
    a.every((member, index) => {
      const other = b[index];
      return (
        other !== undefined &&
        member.id === other.id &&
        member.httpUrl === other.httpUrl &&
        member.peerUrl === other.peerUrl
      );
    })
  );
}
