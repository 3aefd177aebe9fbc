import type { ZooKeeperLayout } from "./zk-paths.ts";
import type { ZooKeeperSession } from "./zk-session.ts";
import { isTransient, isZooKeeperError } from "./zookeeper-error.ts";

/** One member's report that another's peer port refused it, as stored under the unreachable node. */
export interface UnreachableReport {
  suspectId: string;
  /** The suspect's session the report is about: a report never outlives the incarnation it named. */
  sessionId: string;
  reporterId: string;
  name: string;
}

/**
 * The reports behind an eviction (docs/architecture.md, "Failing over before
 * the session expires"): ephemeral nodes, one per reporter and suspect
 * session, so a report vanishes with its reporter and never counts against
 * a later session of the suspect.
 */
export class UnreachableReports {
  constructor(private readonly layout: ZooKeeperLayout) {}

  /** Files (or keeps) `reporterId`'s report about `suspectId`'s session; returns every report about the suspect. */
  async file(
    session: ZooKeeperSession,
    suspectId: string,
    suspectSession: string,
    reporterId: string,
  ): Promise<UnreachableReport[]> {
    const name = this.layout.reportName(suspectId, suspectSession, reporterId);
    await session
      .create(`${this.layout.unreachablePath}/${name}`, "", "ephemeral")
      .catch((error: unknown) => {
        if (!isZooKeeperError(error, "NODE_EXISTS")) throw error;
      });
    return this.about(session, suspectId);
  }

  /** `reporterId`'s reports about `suspectId`, whichever of its sessions they named: its port answers again. */
  async withdraw(session: ZooKeeperSession, suspectId: string, reporterId: string): Promise<void> {
    const ours = (await this.about(session, suspectId)).filter((report) => report.reporterId === reporterId);
    await Promise.all(ours.map((report) => this.remove(session, report.name)));
  }

  /**
   * Deletes `suspectId`'s member node if `suspectSession` still holds it,
   * then every report about the suspect; false when it was not there (gone,
   * re-registered, or another reporter evicted it first).
   */
  async evict(session: ZooKeeperSession, suspectId: string, suspectSession: string): Promise<boolean> {
    const path = this.layout.memberPath(suspectId);
    const stat = await session.exists(path);
    if (stat?.ownerSessionId !== suspectSession) return false;
    try {
      await session.remove(path, stat.version);
    } catch (error) {
      if (isZooKeeperError(error, "NO_NODE", "BAD_VERSION")) return false;
      throw error;
    }
    const reports = await this.about(session, suspectId);
    await Promise.all(reports.map((report) => this.remove(session, report.name)));
    return true;
  }

  private async about(session: ZooKeeperSession, suspectId: string): Promise<UnreachableReport[]> {
    const names = await session.getChildren(this.layout.unreachablePath);
    return names.flatMap((name) => {
      const report = this.layout.parseReport(name);
      return report?.suspectId === suspectId ? [{ ...report, name }] : [];
    });
  }

  private remove(session: ZooKeeperSession, name: string): Promise<void> {
    return session.remove(`${this.layout.unreachablePath}/${name}`).catch((error: unknown) => {
      if (!isZooKeeperError(error, "NO_NODE") && !isTransient(error)) throw error;
    });
  }
}
