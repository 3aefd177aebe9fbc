import { createHash } from "node:crypto";
import { ACL, Id, Permission } from "node-zookeeper-client";

/**
 * Who may touch the znodes Aviso creates (config `zkAuth`, docs/security.md S12).
 *
 * Without credentials every node is open to anyone, ZooKeeper's default.
 * With them, each node at or below Aviso's root (the chroot) carries
 * digest(user:password) with every permission for each credential, and
 * nothing for anyone else — not even READ: member records name the nodes'
 * addresses and lease nodes name queues and topics, private ones included.
 * Aviso needs no world access itself (the liveness probe is `exists`, which
 * ZooKeeper never checks). Parents above the chroot are shared namespace and
 * are created open.
 *
 * More than one credential exists for rotation: a node given "new,old"
 * authenticates as both and makes nodes both may use, so it works beside
 * nodes that know only one of them.
 */
export interface ZooKeeperAccess {
  /** "user:password" pairs the session authenticates with (scheme "digest"). */
  readonly credentials: readonly string[];
  /** True when `path` must carry the credentials' ACL (and does not stay open). */
  protects(path: string): boolean;
  /** The ACL a node created at `path` gets. */
  aclFor(path: string): ACL[];
}

/** Access for nodes below `root` ("/" or the chroot) from the `zkAuth` credentials; none = open. */
export function zooKeeperAccess(credentials: readonly string[], root: string): ZooKeeperAccess {
  const owned = credentials.map(
    (credential) => new ACL(Permission.ALL, new Id("digest", digestId(credential))),
  );
  const protects = (path: string) =>
    owned.length > 0 && (root === "/" || path === root || path.startsWith(`${root}/`));
  return {
    credentials: [...credentials],
    protects,
    aclFor: (path) => (protects(path) ? owned : ACL.OPEN_ACL_UNSAFE),
  };
}

/** Splits the `zkAuth` setting ("user:password[,user:password…]"); undefined or "" = none. */
export function parseZkAuth(setting: string | undefined): string[] {
  return (setting ?? "").split(",").filter((credential) => credential !== "");
}

/**
 * ZooKeeper's digest identity for "user:password": user:base64(sha1(user:password)),
 * as DigestAuthenticationProvider.generateDigest computes it.
 */
export function digestId(credential: string): string {
  const colon = credential.indexOf(":");
  if (colon < 1) throw new Error("a zkAuth credential must look like user:password");
  const user = credential.slice(0, colon);
  return `${user}:${createHash("sha1").update(credential).digest("base64")}`;
}

/** True when two ACL lists grant the same identities the same permissions, in any order. */
export function sameAcl(left: readonly ACL[], right: readonly ACL[]): boolean {
  const text = (acls: readonly ACL[]) =>
    acls
      .map((acl) => `${acl.id.scheme}:${acl.id.id}=${acl.permission}`)
      .sort()
      .join("\n");
  return text(left) === text(right);
}
