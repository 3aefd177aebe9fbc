import type { ResourceKind } from "../../broker/types.ts";

/**
 * Where Aviso keeps its state in ZooKeeper, below an optional chroot:
 *
 *   <chroot>/members/<member id>        ephemeral, data = JSON Member
 *   <chroot>/owners/<kind>/<name>       ephemeral lease, data = member id
 *   <chroot>/unreachable/<suspect id>@<suspect's session>@<reporter id>
 *                                       ephemeral report: the reporter found the
 *                                       suspect's peer port refusing (eviction.ts)
 *
 * The chroot is applied here rather than by node-zookeeper-client, so one
 * session can create the chroot itself on first use.
 */

export interface ConnectTarget {
  /** "host:port,host:port" as node-zookeeper-client expects it. */
  hosts: string;
  /** "" or "/a/b": every Aviso path starts with it. */
  chroot: string;
}

/** Splits "host:port,host:port/chroot" and checks both halves; throws a plain Error naming the problem. */
export function parseConnectString(connectString: string): ConnectTarget {
  const slash = connectString.indexOf("/");
  const hosts = slash === -1 ? connectString : connectString.slice(0, slash);
  const chrootText = slash === -1 ? "" : connectString.slice(slash);
  const hostList = hosts.split(",").filter((host) => host !== "");
  if (hostList.length === 0) {
    throw new Error(
      `ZooKeeper connect string "${connectString}" names no server (want "host:port,…[/chroot]")`,
    );
  }
  for (const host of hostList) {
    const port = host.includes(":") ? Number(host.slice(host.lastIndexOf(":") + 1)) : 2181;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`ZooKeeper connect string "${connectString}" has a bad port in "${host}"`);
    }
  }
  const chroot = chrootText.replace(/\/+$/, "");
  if (chroot !== "") {
    for (const segment of chroot.slice(1).split("/")) {
      if (segment === "" || segment === "." || segment === "..") {
        throw new Error(`ZooKeeper chroot "${chrootText}" has an empty or relative segment`);
      }
    }
  }
  return { hosts: hostList.join(","), chroot };
}

/**
 * Makes any non-empty string one legal znode name, reversibly: percent-encoding
 * removes "/", control and non-ASCII characters, and the two names ZooKeeper
 * refuses outright, "." and "..", become "%2E" and "%2E%2E" (queue and topic
 * names may be exactly that).
 */
export function encodeSegment(text: string): string {
  if (text === "") throw new Error("a ZooKeeper path segment cannot be empty");
  const encoded = encodeURIComponent(text);
  return encoded === "." || encoded === ".." ? encoded.replaceAll(".", "%2E") : encoded;
}

export function decodeSegment(segment: string): string {
  return decodeURIComponent(segment);
}

export interface ZooKeeperLayout {
  readonly root: string;
  readonly membersPath: string;
  readonly leasesPath: string;
  memberPath(memberId: string): string;
  leaseKindPath(kind: ResourceKind): string;
  leasePath(kind: ResourceKind, name: string): string;
  readonly unreachablePath: string;
  /** Name (below unreachablePath) of `reporterId`'s report about `suspectId`'s session `sessionId`. */
  reportName(suspectId: string, sessionId: string, reporterId: string): string;
  /** Reads a report name back; undefined for a node that is not one. */
  parseReport(name: string): { suspectId: string; sessionId: string; reporterId: string } | undefined;
  /** Persistent parents created at start (and again if someone deletes them). */
  readonly parents: readonly string[];
  /** Every persistent node of Aviso's own (the chroot, if any, and the parents): their ACL is checked at start. */
  readonly persistent: readonly string[];
}

export function zooKeeperLayout(chroot: string): ZooKeeperLayout {
  const membersPath = `${chroot}/members`;
  const leasesPath = `${chroot}/owners`;
  const leaseKindPath = (kind: ResourceKind) => `${leasesPath}/${kind}`;
  const unreachablePath = `${chroot}/unreachable`;
  return {
    root: chroot === "" ? "/" : chroot,
    membersPath,
    leasesPath,
    memberPath: (memberId) => `${membersPath}/${encodeSegment(memberId)}`,
    leaseKindPath,
    leasePath: (kind, name) => `${leaseKindPath(kind)}/${encodeSegment(name)}`,
    unreachablePath,
    // "@" is percent-encoded inside a segment, so it can only be a separator here.
    reportName: (suspectId, sessionId, reporterId) =>
      `${encodeSegment(suspectId)}@${sessionId}@${encodeSegment(reporterId)}`,
    parseReport: (name) => {
      const [suspect, sessionId, reporter, extra] = name.split("@");
      if (suspect === undefined || sessionId === undefined || reporter === undefined || extra !== undefined)
        return undefined;
      try {
        return { suspectId: decodeSegment(suspect), sessionId, reporterId: decodeSegment(reporter) };
      } catch {
        return undefined;
      }
    },
    parents: [membersPath, leaseKindPath("queue"), leaseKindPath("topic"), unreachablePath],
    persistent: [
      ...(chroot === "" ? [] : [chroot]),
      membersPath,
      leasesPath,
      leaseKindPath("queue"),
      leaseKindPath("topic"),
      unreachablePath,
    ],
  };
}
